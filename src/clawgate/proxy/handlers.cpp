#include "clawgate/proxy/handlers.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/empty_body.hpp>

#include "clawgate/approval/store.hpp"
#include "clawgate/audit/data_writer.hpp"
#include "clawgate/core/crypto.hpp"
#include "clawgate/decision/decide.hpp"
#include "clawgate/http/errors.hpp"
#include "clawgate/http/head.hpp"
#include "clawgate/http/routes.hpp"
#include "clawgate/json/canonical.hpp"
#include "clawgate/json/strict.hpp"
#include "clawgate/proxy/preview.hpp"
#include "clawgate/proxy/redaction.hpp"
#include "clawgate/request/target.hpp"
#include "clawgate/upstream/headers.hpp"

namespace clawgate::proxy {
namespace {

namespace http = beast::http;
using server::BodyResult;
using server::ClientConnection;
using server::HeadResult;
using server::RequestParser;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr std::string_view kTraceHeader = "X-Clawgate-Trace-Id";

std::int64_t micros_since(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
}

std::string new_trace_id() {
  if (auto id = core::random_hex(16)) return *id;
  spdlog::error("the CSPRNG failed; using an all-zero trace id");
  return std::string(32, '0');
}

// The request-target from the request line, for choosing an error shape even when the head is
// malformed.
std::string request_line_path(std::string_view head) {
  const auto sp1 = head.find(' ');
  if (sp1 == std::string_view::npos) return "";
  const auto sp2 = head.find(' ', sp1 + 1);
  const auto eol = head.find('\r');
  if (sp2 == std::string_view::npos || (eol != std::string_view::npos && sp2 > eol)) return "";
  return std::string(clawgate::http::target_path(head.substr(sp1 + 1, sp2 - sp1 - 1)));
}

// Per-request state shared by the stages of one request.
struct Ctx {
  std::string trace_id = new_trace_id();
  Clock::time_point start = Clock::now();
  std::string peer;
  std::string method;
  std::string path;
  clawgate::http::ErrorShape shape = clawgate::http::ErrorShape::openai;
  std::optional<std::string> identity;
  std::string route;
  bool keep_alive = false;
  bool received_logged = false;
  std::string risk;  // the tier word once classified: X-Clawgate-Risk on every later response
  std::string decision = "none";  // the policy decision once decided (for /metrics)
};

class HandlerBase : public server::RequestHandler {
 public:
  explicit HandlerBase(std::shared_ptr<Services> svc) : svc_(std::move(svc)) {}

  task<void> refuse_overloaded(ClientConnection& conn) override {
    Ctx ctx = begin(conn, "");
    co_await reply_error(conn, ctx, 503, "overloaded",
                         "clawgate is at limits.max_connections; retry shortly", nullptr, false);
  }

  task<void> refuse_head(ClientConnection& conn, HeadResult why, std::string_view partial) override {
    Ctx ctx = begin(conn, partial);
    if (why == HeadResult::timeout) {
      co_await reply_error(conn, ctx, 408, "request_timeout",
                           "the request head was not complete within limits.header_timeout_ms",
                           nullptr, false);
    } else {
      co_await reply_error(conn, ctx, 431, "headers_too_large",
                           "the request head exceeds limits.max_header_bytes; send fewer or "
                           "smaller headers",
                           nullptr, false);
    }
  }

 protected:
  Ctx begin(ClientConnection& conn, std::string_view head) const {
    Ctx ctx;
    ctx.peer = conn.peer();
    ctx.path = request_line_path(head);
    ctx.shape = ctx.path == "/tools/invoke" ? clawgate::http::ErrorShape::tools
                                            : clawgate::http::ErrorShape::openai;
    return ctx;
  }

  // Hands a record to the audit writer; never waits for the disk.
  void audit(const Ctx& ctx, std::string stage, json data) const {
    svc_->audit->enqueue({ctx.trace_id, std::move(stage), ctx.identity, ctx.route, std::move(data)});
  }
  // The same for data written by an audit::DataWriter (the per-request records).
  void audit(const Ctx& ctx, std::string stage, std::string canonical_data) const {
    audit::Record rec{ctx.trace_id, std::move(stage), ctx.identity, ctx.route};
    rec.data_canonical = std::move(canonical_data);
    svc_->audit->enqueue(std::move(rec));
  }

  // Resumes once the record is written (and, with fsync "always", on disk, in one fdatasync
  // shared with every record that queued meanwhile); false when it could not be.
  // (Not a coroutine itself: it returns the operation to await, saving a frame per request.)
  task<bool> audit_durable(audit::Record record) {
    return net::async_initiate<const net::use_awaitable_t<>, void(bool)>(
        [this](auto handler, audit::Record r) {
          svc_->audit->enqueue(std::move(r), audit::Done(std::move(handler)));
        },
        net::use_awaitable, std::move(record));
  }

  // `doc` is the parsed body when it is JSON: it is recorded as JSON, with the policy's
  // redact.arg_paths applied; any other body is recorded as (redacted) text. `pol` is the policy
  // the request is decided under (the current one when null).
  void log_received(Ctx& ctx, const std::string* body, const json* doc = nullptr,
                    const policy::Policy* pol = nullptr) const {
    if (ctx.received_logged) return;
    ctx.received_logged = true;
    // Per-request records are written as canonical JSON directly, members in key order.
    const audit::AuditLog& log = *svc_->audit;
    audit::DataWriter data(log);
    if (body != nullptr && !body->empty() && svc_->config->audit.include_bodies) {
      policy::PolicyPtr current;
      if (pol == nullptr) {
        current = svc_->policy.get();
        pol = current.get();
      }
      if (doc != nullptr) {
        data.canonical("body", redacted_canonical(
                                   *doc, *pol, [&log](std::string& s) { log.redact(s); }, *body,
                                   log.holds_secret(*body)));
      } else {
        data.string("body", redact_text(*body, *pol));
      }
    }
    const std::string_view bytes = body != nullptr ? std::string_view(*body) : std::string_view();
    data.string("body_sha256", core::sha256_hex(bytes))
        .integer("bytes", static_cast<std::int64_t>(bytes.size()))
        .string("client", ctx.peer)
        .string("method", ctx.method)
        .string("path", ctx.path);
    audit(ctx, "received", data.finish());
  }

  template <class Body>
  void decorate(const Ctx& ctx, http::response<Body>& res) const {
    res.set(kTraceHeader, ctx.trace_id);
    if (!ctx.risk.empty()) res.set("X-Clawgate-Risk", ctx.risk);
    // Every response passes here exactly once: the one place that counts them.
    svc_->metrics.response(ctx.route.empty() ? "unknown" : ctx.route, ctx.decision,
                           res.result_int());
    res.keep_alive(ctx.keep_alive && !svc_->draining.load());
  }

  task<bool> reply_json(ClientConnection& conn, Ctx& ctx, unsigned status, json body) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    decorate(ctx, res);
    res.body() = clawgate::json::dump(body);
    res.prepare_payload();
    svc_->metrics.answered(micros_since(ctx.start));
    const bool ok = co_await conn.write(res);
    co_return ok && res.keep_alive();
  }

  // Every refusal goes through here: audited (received + rejected), shaped per route, traced.
  // Parameters are by value on purpose: a coroutine keeps its parameters in its own frame, so no
  // caller temporary has to outlive a suspension (GCC 12 frees such temporaries twice when they
  // come from `?:`; see docs/architecture.md).
  task<bool> reply_error(ClientConnection& conn, Ctx& ctx, unsigned status, std::string code,
                         std::string message, json extra, bool keep_alive,
                         std::string allow = {}) {
    log_received(ctx, nullptr);
    // (find() on a null `extra` finds nothing.)
    audit::DataWriter data(*svc_->audit);
    if (const auto it = extra.find("approval_id"); it != extra.end())
      data.value("approval_id", *it);
    if (const auto it = extra.find("approval_reason"); it != extra.end()) {
      data.value("approval_reason", *it);
      extra.erase(it);  // audit only; the body has it as `reason`
    }
    data.string("code", code).string("reason", message);
    if (const auto it = extra.find("rule"); it != extra.end()) data.value("rule", *it);
    data.integer("status", status);
    audit(ctx, "rejected", data.finish());
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    if (!allow.empty()) res.set(http::field::allow, allow);
    if (status == 401) res.set(http::field::www_authenticate, "Bearer");
    if (status == 429 || status == 503) {
      const auto retry = extra.is_object() ? extra.value("retry_after_s", std::int64_t{1}) : 1;
      res.set(http::field::retry_after, std::to_string(retry));
    }
    ctx.keep_alive = ctx.keep_alive && keep_alive;
    decorate(ctx, res);
    res.body() = clawgate::http::error_body(ctx.shape, status, code, message, ctx.trace_id, extra);
    res.prepare_payload();
    svc_->metrics.answered(micros_since(ctx.start));
    const bool ok = co_await conn.write(res);
    co_return ok && res.keep_alive();
  }

  // Steps shared by both listeners up to the route table: framing, head parse, Upgrade.
  // Returns false (and has answered) when the request was refused.
  task<bool> parse_head(ClientConnection& conn, Ctx& ctx, const std::string& head,
                        RequestParser& parser, bool& refused_keep) {
    refused_keep = false;
    const auto check = clawgate::http::check_request_head(head);
    if (!check.ok()) {
      std::string code = "invalid_request";
      std::string message = "malformed request: " + check.reason;
      if (check.status == 501) {
        code = "not_implemented";
        message = "only the chunked transfer coding is supported";
      }
      co_await reply_error(conn, ctx, static_cast<unsigned>(check.status), std::move(code),
                           std::move(message), nullptr, false);
      co_return false;
    }
    parser.header_limit(static_cast<std::uint32_t>(svc_->config->limits.max_header_bytes + 4));
    parser.body_limit(boost::none);
    error_code ec;
    parser.put(net::buffer(head), ec);
    if (ec || !parser.is_header_done()) {
      co_await reply_error(conn, ctx, 400, "invalid_request",
                           "malformed request head: " + ec.message(), nullptr, false);
      co_return false;
    }
    const auto& req = parser.get();
    ctx.method = std::string(req.method_string());
    ctx.keep_alive = req.keep_alive();
    const bool has_body = parser.chunked() || parser.content_length().value_or(0) > 0;
    // A refusal before the body is read can keep the connection only if there is no body.
    refused_keep = !has_body;
    if (req.find(http::field::upgrade) != req.end()) {
      co_await reply_error(conn, ctx, 400, "upgrade_refused",
                           "protocol upgrades (WebSocket, h2c) are never forwarded", nullptr, false);
      co_return false;
    }
    co_return true;
  }

  task<bool> route_refusal(ClientConnection& conn, Ctx& ctx, const clawgate::http::RouteMatch& m,
                           bool keep) {
    if (m.kind == clawgate::http::RouteMatch::Kind::not_found) {
      co_return co_await reply_error(conn, ctx, 404, "not_found",
                                     "no such route on clawgate: " + ctx.path, nullptr, keep);
    }
    co_return co_await reply_error(conn, ctx, 405, "method_not_allowed",
                                   ctx.method + " is not allowed on " + ctx.path + "; use " +
                                       m.allow,
                                   nullptr, keep, m.allow);
  }

  task<bool> read_body(ClientConnection& conn, Ctx& ctx, RequestParser& parser, bool& ok) {
    ok = false;
    const std::size_t limit = svc_->config->limits.max_body_bytes;
    if (parser.content_length().value_or(0) > limit) {
      co_return co_await reply_error(conn, ctx, 413, "payload_too_large",
                                     "the request body exceeds limits.max_body_bytes (" +
                                         std::to_string(limit) + " bytes)",
                                     nullptr, false);
    }
    parser.body_limit(limit);
    const auto& fields = parser.get();
    const auto expect = fields.find(http::field::expect);
    if (!parser.is_done() && expect != fields.end() &&
        beast::iequals(expect->value(), "100-continue")) {
      if (!co_await conn.write_continue()) co_return false;
    }
    switch (co_await conn.read_body(parser)) {
      case BodyResult::ok: ok = true; co_return true;
      case BodyResult::too_large:
        co_return co_await reply_error(conn, ctx, 413, "payload_too_large",
                                       "the request body exceeds limits.max_body_bytes (" +
                                           std::to_string(limit) + " bytes)",
                                       nullptr, false);
      case BodyResult::malformed:
        co_return co_await reply_error(conn, ctx, 400, "invalid_request",
                                       "malformed chunked request body", nullptr, false);
      case BodyResult::timeout:
        co_return co_await reply_error(conn, ctx, 408, "request_timeout",
                                       "the request body did not arrive within "
                                       "limits.idle_timeout_ms",
                                       nullptr, false);
      case BodyResult::closed: co_return false;
    }
    co_return false;
  }

  std::shared_ptr<Services> svc_;
};

// ---------------------------------------------------------------------------------------------
class ProxyHandler final : public HandlerBase {
 public:
  using HandlerBase::HandlerBase;

  // What the decision phase hands to the forwarding phase.
  struct Prepared {
    http::request<http::string_body> up;
    std::optional<std::string> lock_key;
    clawgate::http::RouteId route{};
    policy::PolicyPtr pol;
  };

  task<bool> handle(ClientConnection& conn, std::string head) override {
    Ctx ctx = begin(conn, head);
    // The decision phase runs in a coroutine of its own: its frame (request parser, parsed
    // body, classification, approval state) is freed before the answer is relayed, which for a
    // stream can take minutes.
    Prepared prep;
    const std::optional<bool> answered = co_await prepare(conn, ctx, std::move(head), prep);
    if (answered) co_return *answered;
    Relay relay;
    if (const auto chars = svc_->config->audit.preview_chars; chars > 0) {
      relay.preview.emplace(prep.route, chars + kPreviewMargin);
    }
    // While the upstream works, a hang-up cancels it through the session's cancellation slot
    // (see ClientConnection::start_watch): no coroutine of its own per request, which matters
    // for held streams.
    conn.start_watch();
    std::exception_ptr failed;
    try {
      // The session lock and the exchange live as long as the relay; open_upstream's frame
      // (the request, the connect state) does not.
      std::optional<SessionLocks::Guard> guard;
      Clock::time_point deadline;
      const upstream::ExchangePtr exchange = co_await open_upstream(
          conn, ctx, std::move(prep.up), std::move(prep.lock_key), relay, guard, deadline);
      if (!exchange) {
        // answered (or refused) already
      } else if (exchange->is_event_stream()) {
        co_await relay_stream(conn, ctx, *exchange, relay);
      } else {
        co_await relay_buffered(conn, ctx, *exchange, deadline, relay);
      }
    } catch (...) {
      // Once cancelled, any co_await of the upstream work throws; that is the client leaving.
      failed = std::current_exception();
    }
    // The session goes on (lingering close) after a hang-up: clear the cancelled state first,
    // or its next co_await would throw.
    if (conn.watch_saw_gone()) co_await net::this_coro::reset_cancellation_state();
    const bool gone = co_await conn.stop_watch();
    if (failed && !gone) std::rethrow_exception(failed);
    if (gone) {
      relay.client_gone = true;
      relay.keep = false;
      // Left before any answer: status 0, not the gateway's status that never reached them.
      if (!relay.answered) relay.status = 0;
    }
    complete(ctx, relay, *prep.pol);
    co_return relay.keep;
  }

  // Reads, checks, authenticates, classifies and decides. Returns whether to keep the
  // connection when it answered the request itself, or nothing when `out` is to be forwarded.
  task<std::optional<bool>> prepare(ClientConnection& conn, Ctx& ctx, std::string head,
                                    Prepared& out) {
    RequestParser parser;
    bool keep = false;
    if (!co_await parse_head(conn, ctx, head, parser, keep)) co_return false;
    auto& req = parser.get();
    const std::string_view target = req.target();
    const auto m = clawgate::http::match_proxy_route(ctx.method, target);
    if (m.kind != clawgate::http::RouteMatch::Kind::found) {
      co_return co_await route_refusal(conn, ctx, m, keep);
    }
    ctx.route = std::string(clawgate::http::route_word(m.id));
    if (clawgate::http::target_has_query(target)) {
      co_return co_await reply_error(conn, ctx, 400, "invalid_request",
                                     "query strings are not accepted on clawgate routes",
                                     nullptr, keep);
    }
    if (m.id == clawgate::http::RouteId::healthz) {
      const json live = {{"ok", true}, {"status", "live"}};
      co_return co_await reply_json(conn, ctx, 200, live);
    }
    if (m.id == clawgate::http::RouteId::readyz) co_return co_await readyz(conn, ctx);

    // Authentication.
    const auto auth_it = req.find(http::field::authorization);
    const auto identity = svc_->clients.authenticate(
        auth_it == req.end() ? std::string_view{} : std::string_view(auth_it->value()));
    if (!identity) {
      co_return co_await reply_error(conn, ctx, 401, "unauthorized",
                                     "missing or unknown bearer token; send Authorization: "
                                     "Bearer <your clawgate client token>",
                                     nullptr, keep);
    }
    ctx.identity = identity->id;

    bool body_ok = false;
    const bool after_body = co_await read_body(conn, ctx, parser, body_ok);
    if (!body_ok) co_return after_body;
    // From here on the whole request has been read: refusals keep the connection.
    std::string body = std::move(parser.get().body());
    // One policy for the whole request: redaction, decision and forwarding rules agree even when
    // a reload happens meanwhile.
    const policy::PolicyPtr pol = svc_->policy.get();
    json doc = json::object();
    std::string invalid_json;
    if (m.id != clawgate::http::RouteId::models) {
      auto parsed = clawgate::json::parse_strict(body);
      if (!parsed.value) {
        invalid_json = "the request body is not acceptable JSON: " + parsed.error;
      } else if (!parsed.value->is_object()) {
        invalid_json = "the request body must be a JSON object";
      } else {
        doc = std::move(*parsed.value);
      }
    }
    log_received(ctx, &body, invalid_json.empty() ? &doc : nullptr, pol.get());
    if (!invalid_json.empty()) {
      co_return co_await reply_error(conn, ctx, 400, "invalid_request", std::move(invalid_json),
                                     nullptr, true);
    }

    const auto& allowed = pol->forward_headers_allow;
    const request::ForwardedHeader header = [&req, &allowed](std::string_view name)
        -> std::optional<std::string> {
      if (!upstream::forwards_header(name, allowed)) return std::nullopt;
      const auto it = req.find(name);
      if (it == req.end()) return std::nullopt;
      return std::string(it->value());
    };
    // Resolve, classify, decide: the same code `clawgate policy test|explain` runs.
    const decision::Outcome o =
        decision::decide(*pol, {m.id, identity->id, identity->roles, &doc, header});
    if (o.invalid) {
      co_return co_await reply_error(conn, ctx, 400, "invalid_request", *o.invalid, nullptr, true);
    }
    const request::Target& tgt = o.target;
    const policy::Verdict& verdict = o.verdict;
    ctx.risk = std::string(classify::to_string(o.classification.risk));
    ctx.decision = std::string(policy::to_string(verdict.decision));
    audit(ctx, "classified",
          audit::DataWriter(*svc_->audit)
              .value("matches", o.classification.matches_json())
              .string("risk", ctx.risk)
              .finish());
    audit::DataWriter decided(*svc_->audit);
    decided.string("decision", policy::to_string(verdict.decision))
        .boolean("enforced", verdict.enforced)
        .string("policy_sha256", pol->sha256)
        .string("reason", verdict.reason)
        .strings("rules", verdict.rules);
    if (verdict.would) decided.string("would", policy::to_string(*verdict.would));
    // SPEC §7: no durable decision record, no forward. While the log is failing every decision
    // still tries (together with the records kept from the failure), so the first write that
    // works again ends the outage without waiting for the writer's own retry.
    audit::Record decided_record{ctx.trace_id, "decided", ctx.identity, ctx.route};
    decided_record.data_canonical = decided.finish();
    const bool durable = co_await audit_durable(std::move(decided_record));
    if (!durable) {
      co_return co_await reply_error(conn, ctx, 503, "audit_unavailable",
                                     "the audit log cannot be written; nothing was forwarded",
                                     nullptr, true);
    }
    // No rule decided a default decision: the refusal names none rather than "".
    json rule_extra = {{"reason", verdict.reason}};
    if (!verdict.deciding_rule.empty()) rule_extra["rule"] = verdict.deciding_rule;
    std::optional<std::string> presented;
    if (const auto it = req.find(kApprovalHeader); it != req.end()) {
      presented = std::string(it->value());
    }
    if (verdict.decision == policy::Decision::deny) {
      if (presented) {
        // SPEC §6: a policy that now says deny wins over an approval given earlier.
        const bool known = svc_->approvals->get(*presented).has_value();
        co_return co_await refuse_approval(conn, ctx, *presented,
                                           known ? "policy_changed" : "unknown");
      }
      co_return co_await reply_error(conn, ctx, 403, "policy_denied",
                                     "denied by policy: " + verdict.reason, rule_extra, true);
    }
    if (verdict.decision == policy::Decision::approve) {
      // The hash covers route, agent, session and the body as the client sent it (before any
      // system prompt is injected), so a changed argument needs a new approval.
      std::string request_hash = approval::request_sha256(ctx.route, tgt.agent, tgt.session, doc);
      const Gate gate = co_await approval_gate(conn, ctx, o, pol->sha256, std::move(presented),
                                               std::move(request_hash));
      if (!gate.pass) co_return gate.keep;
    }
    const auto limited = svc_->rate_limiter.take(verdict, o.input);
    if (!limited.allowed) {
      svc_->metrics.rate_limited();
      const json extra = {{"rule", limited.rule}, {"retry_after_s", limited.retry_after_s}};
      co_return co_await reply_error(conn, ctx, 429, "rate_limited",
                                     "rate limit of rule " + limited.rule +
                                         " exceeded; retry after " +
                                         std::to_string(limited.retry_after_s) + " s",
                                     extra, true);
    }
    if (pol->system_prompt) {
      body = with_system_prompt(std::move(body), doc, m.id, *pol->system_prompt, o);
    }

    // Forward.
    http::request<http::string_body> up;
    up.method(req.method());
    up.target(clawgate::http::target_path(target));
    up.version(11);
    upstream::rebuild_request_fields(req.base(), allowed, svc_->config->upstream.token,
                                     svc_->config->upstream.host_port(), up);
    if (m.id != clawgate::http::RouteId::models) up.body() = std::move(body);
    audit(ctx, "forwarded",
          audit::DataWriter(*svc_->audit)
              .string_or_null("action", tgt.action)
              .string("agent", tgt.agent)
              .string_or_null("session", tgt.session)
              .string_or_null("tool", tgt.tool)
              .string("upstream", svc_->config->upstream.host_port())
              .finish());
    out.up = std::move(up);
    out.lock_key = request::session_lock_key(tgt);
    out.route = m.id;
    out.pol = pol;
    co_return std::nullopt;
  }

 private:
  static constexpr std::string_view kApprovalHeader = "X-Clawgate-Approval";

  struct Gate {
    bool pass = false;  // forward the request
    bool keep = false;  // when answered here: keep the connection
  };

  static std::string approval_summary(const Ctx& ctx, const decision::Outcome& o) {
    const request::Target& t = o.target;
    std::string s = ctx.identity.value_or("?") + " asks to ";
    if (t.tool) {
      s += "run the tool " + *t.tool;
      if (t.action) s += " (action " + *t.action + ")";
      s += " on agent " + t.agent;
    } else {
      s += "send a " + ctx.route + " request to agent " + t.agent;
    }
    if (t.session) s += ", session " + *t.session;
    s += "; risk " + std::string(classify::to_string(o.classification.risk)) + ", rule " +
         o.verdict.deciding_rule;
    if (!o.verdict.reason.empty()) s += ": " + o.verdict.reason;
    return s;
  }

  // SPEC §6: the request needs a human decision. A presented approval is checked and used;
  // otherwise a new one is created and, in hold mode, awaited.
  task<Gate> approval_gate(ClientConnection& conn, Ctx& ctx, const decision::Outcome& o,
                           std::string policy_sha256, std::optional<std::string> presented,
                           std::string request_hash) {
    if (presented) co_return co_await use_approval(conn, ctx, *presented, request_hash);
    Gate g;
    approval::NewApproval fresh{ctx.trace_id,    ctx.identity.value_or(""),
                                ctx.route,       o.target.agent,
                                o.target.session, o.target.tool,
                                o.target.action, approval_summary(ctx, o),
                                request_hash,    std::move(policy_sha256)};
    auto created = svc_->approvals->create(std::move(fresh));
    if (auto* err = std::get_if<std::string>(&created)) {
      spdlog::error("approvals: {}", *err);
      g.keep = co_await reply_error(conn, ctx, 503, "approval_unavailable",
                                    "the approval store cannot be written; nothing was forwarded",
                                    nullptr, true);
      co_return g;
    }
    const approval::Approval a = std::get<approval::Approval>(std::move(created));
    audit_approval_transitions(*svc_);
    if (svc_->config->approvals.hold_s > 0) {
      // As for the upstream work: a hang-up cancels the hold (ClientConnection::start_watch).
      conn.start_watch();
      const std::optional<approval::Approval> now = co_await hold_for_decision(a.id);
      if (conn.watch_saw_gone()) co_await net::this_coro::reset_cancellation_state();
      if (co_await conn.stop_watch()) co_return g;  // the client left; the approval stays pending
      if (now && now->state == approval::State::approved) {
        co_return co_await use_approval(conn, ctx, a.id, request_hash);
      }
      if (now && now->state == approval::State::denied) {
        g.keep = co_await refuse_approval(conn, ctx, a.id, "denied");
        co_return g;
      }
    }
    json extra = {{"approval_id", a.id}, {"rule", o.verdict.deciding_rule},
                  {"reason", o.verdict.reason}};
    std::string message = "this request needs human approval (" + a.summary +
                          "); nothing was forwarded. Ask an approver to run: clawgate approvals "
                          "approve " + a.id + " — then send the same request again with the "
                          "header X-Clawgate-Approval: " + a.id;
    g.keep = co_await reply_error(conn, ctx, 403, "approval_required", std::move(message),
                                  std::move(extra), true);
    co_return g;
  }

  // Polls the store (cheap, in memory) until the approval is decided or the hold ends; a timer,
  // not a thread, waits in between. Cancelled (nullopt) when the client goes away.
  task<std::optional<approval::Approval>> hold_for_decision(std::string id) {
    net::steady_timer timer(co_await net::this_coro::executor);
    const auto until = Clock::now() + std::chrono::seconds(svc_->config->approvals.hold_s);
    for (;;) {
      std::optional<approval::Approval> a = svc_->approvals->get(id);
      if (!a || a->state != approval::State::pending || Clock::now() >= until) co_return a;
      const Clock::duration step = std::min<Clock::duration>(std::chrono::milliseconds(200),
                                                             until - Clock::now());
      // A hang-up that came while the timer's completion was already queued: stop here, as
      // awaiting anything more in a cancelled coroutine throws.
      if (client_left(co_await net::this_coro::cancellation_state)) co_return std::nullopt;
      timer.expires_after(step);
      const auto [ec] = co_await timer.async_wait(net::as_tuple(net::use_awaitable));
      if (ec) co_return std::nullopt;
    }
  }

  task<Gate> use_approval(ClientConnection& conn, Ctx& ctx, std::string id,
                          std::string request_hash) {
    Gate g;
    const auto used = svc_->approvals->use(id, ctx.identity.value_or(""), request_hash);
    if (used.io_error) {
      g.keep = co_await reply_error(conn, ctx, 503, "approval_unavailable",
                                    "the approval store cannot be written; nothing was forwarded",
                                    nullptr, true);
      co_return g;
    }
    if (used.check != approval::UseCheck::ok) {
      g.keep = co_await refuse_approval(conn, ctx, id, std::string(approval::to_string(used.check)));
      co_return g;
    }
    // `approval_used` completes the decision record: durable before anything is forwarded.
    bool durable = true;
    for (auto& rec : take_approval_records(*svc_, &ctx.trace_id)) {
      if (rec.stage == "approval_used" && rec.trace_id == ctx.trace_id) {
        durable = co_await audit_durable(std::move(rec)) && durable;
      } else {
        svc_->audit->enqueue(std::move(rec));
      }
    }
    if (!durable) {
      g.keep = co_await reply_error(conn, ctx, 503, "audit_unavailable",
                                    "the audit log cannot be written; nothing was forwarded",
                                    nullptr, true);
      co_return g;
    }
    g.pass = true;
    co_return g;
  }

  // 403 approval_denied, or approval_invalid naming the SPEC §6 reason. Nothing is used up.
  task<bool> refuse_approval(ClientConnection& conn, Ctx& ctx, std::string id, std::string reason) {
    std::string message;
    if (reason == "denied") message = "an approver denied this request (approval " + id + ")";
    else if (reason == "unknown") message = "there is no approval " + id;
    else if (reason == "not_approved") {
      message = "approval " + id + " is still pending; ask an approver to run: clawgate approvals "
                "approve " + id;
    } else if (reason == "expired") {
      message = "approval " + id + " has expired; send the request without X-Clawgate-Approval to "
                "ask for a new one";
    } else if (reason == "used") {
      message = "approval " + id + " was already used; one approval lets one request through";
    } else if (reason == "identity_mismatch") {
      message = "approval " + id + " was given for another identity";
    } else if (reason == "request_mismatch") {
      message = "this request differs from the approved one (route, agent, session or body); "
                "send exactly the approved request, or ask for a new approval";
    } else {
      message = "the current policy denies this request; approval " + id + " no longer applies";
    }
    json extra = {{"approval_id", id}, {"reason", reason}, {"approval_reason", reason}};
    std::string code = reason == "denied" ? "approval_denied" : "approval_invalid";
    co_return co_await reply_error(conn, ctx, 403, std::move(code), std::move(message),
                                   std::move(extra), true);
  }

  struct Relay {
    unsigned status = 0;
    std::size_t bytes = 0;
    std::int64_t upstream_us = 0;
    std::string sha256;
    bool stream = false;
    bool stream_complete = false;
    bool client_gone = false;
    bool answered = false;  // a response head went (or began to go) to the client
    bool keep = false;
    std::optional<PreviewCollector> preview;  // set when audit.preview_chars > 0
  };

  // Redaction runs on more text than the preview keeps, so a secret that straddles the cut is
  // still recognised whole before it is cut.
  static constexpr std::size_t kPreviewMargin = 512;

  void complete(const Ctx& ctx, const Relay& r, const policy::Policy& pol) const {
    const std::int64_t total = micros_since(ctx.start);
    if (!r.sha256.empty()) {
      svc_->metrics.forwarded(std::max<std::int64_t>(0, total - r.upstream_us), r.upstream_us);
    }
    std::optional<std::string> preview;
    if (r.preview) {
      if (auto text = r.preview->text()) {
        std::string redacted = redact_text(*text, pol);
        svc_->audit->redact(redacted);
        preview = utf8_prefix(redacted, svc_->config->audit.preview_chars);
      }
    }
    audit::DataWriter data(*svc_->audit);
    data.integer("bytes", static_cast<std::int64_t>(r.bytes));
    if (r.client_gone) data.boolean("client_gone", true);
    data.integer("duration_us", total)
        .string_or_null("preview", preview)
        .string("response_sha256", r.sha256)
        .integer("status", static_cast<std::int64_t>(r.status))
        .boolean("stream", r.stream)
        .boolean("stream_complete", r.stream_complete)
        .integer("upstream_us", r.upstream_us);
    audit(ctx, "completed", data.finish());
  }

  // The upstream work runs while the client connection watches for a hang-up: when the client
  // leaves first, the upstream operations are cancelled and fail with operation_aborted. That is
  // the client's doing, not the gateway's: no `error` record, no upstream error counted, nothing
  // answered. Ask with `co_await this_coro::cancellation_state` (which never suspends): awaiting
  // anything else in a cancelled coroutine throws instead.
  static bool client_left(const net::cancellation_state& cs) {
    return cs.cancelled() != net::cancellation_type::none;
  }

  // Takes the session's lock (into `guard`), sends the request and reads the response head by
  // `deadline`. Null when there is nothing to relay: a failure, already answered here, or the
  // client left.
  task<upstream::ExchangePtr> open_upstream(ClientConnection& conn, Ctx& ctx,
                                            http::request<http::string_body> up,
                                            std::optional<std::string> lock_key, Relay& relay,
                                            std::optional<SessionLocks::Guard>& guard,
                                            Clock::time_point& deadline) {
    if (lock_key && svc_->config->upstream.serialize_sessions) {
      guard.emplace(co_await svc_->sessions.acquire(*lock_key));
      if (!guard->held()) co_return nullptr;
    }
    const auto& ucfg = svc_->config->upstream;
    const auto up_start = Clock::now();
    deadline = up_start + ucfg.timeout;
    auto started = co_await svc_->upstream.start(std::move(up), deadline);
    if (auto* f = std::get_if<upstream::Failure>(&started)) {
      relay.upstream_us = micros_since(up_start);
      const net::cancellation_state cs = co_await net::this_coro::cancellation_state;
      if (client_left(cs)) co_return nullptr;
      relay.status = static_cast<unsigned>(upstream::status_for(*f));
      svc_->metrics.upstream_error(upstream::code_for(*f));
      audit(ctx, "error", {{"code", upstream::code_for(*f)}, {"message", upstream::describe(*f)}});
      std::string code(upstream::code_for(*f));
      std::string message(upstream::describe(*f));
      relay.answered = true;
      relay.keep = co_await reply_error(conn, ctx, relay.status, std::move(code),
                                        std::move(message), nullptr, true);
      co_return nullptr;
    }
    auto exchange = std::get<upstream::ExchangePtr>(std::move(started));
    relay.upstream_us = micros_since(up_start);
    relay.status = exchange->status();
    co_return exchange;
  }

  task<void> relay_buffered(ClientConnection& conn, Ctx& ctx, upstream::Exchange& exchange,
                            Clock::time_point deadline, Relay& relay) {
    const std::size_t limit = svc_->config->limits.max_response_bytes;
    std::string body;
    const upstream::Failure f = co_await exchange.read_all(body, deadline, limit);
    const net::cancellation_state cs = co_await net::this_coro::cancellation_state;
    if (f != upstream::Failure::none && client_left(cs)) co_return;
    if (f != upstream::Failure::none) {
      // A truncated or oversized body is never relayed as a success.
      std::string message(upstream::describe(f));
      std::string code(upstream::code_for(f));
      relay.status = static_cast<unsigned>(upstream::status_for(f));
      if (body.size() > limit) {
        message = "the gateway's response exceeds limits.max_response_bytes";
        code = "upstream_error";
        relay.status = 502;
      }
      svc_->metrics.upstream_error(code);
      audit(ctx, "error", {{"code", code}, {"message", message}});
      relay.answered = true;
      relay.keep = co_await reply_error(conn, ctx, relay.status, std::move(code),
                                        std::move(message), nullptr, true);
      co_return;
    }
    exchange.finish();
    http::response<http::string_body> res{static_cast<http::status>(exchange.status()), 11};
    upstream::filter_response_fields(exchange.fields(), res);
    decorate(ctx, res);
    relay.sha256 = core::sha256_hex(body);
    relay.bytes = body.size();
    if (relay.preview) relay.preview->feed_body(body);
    res.body() = std::move(body);
    res.prepare_payload();
    relay.answered = true;
    const bool ok = co_await conn.write(res);
    relay.keep = ok && res.keep_alive();
  }

  task<void> relay_stream(ClientConnection& conn, Ctx& ctx, upstream::Exchange& exchange,
                          Relay& relay) {
    relay.stream = true;
    http::response<http::empty_body> res{static_cast<http::status>(exchange.status()), 11};
    upstream::filter_response_fields(exchange.fields(), res);
    exchange.drop_fields();
    decorate(ctx, res);
    res.chunked(true);
    core::Sha256Stream hash;
    relay.answered = true;
    if (!co_await conn.write_stream_head(res)) {
      relay.client_gone = true;
      relay.sha256 = hash.hex();
      co_return;
    }
    // The head has gone: its header fields need not live as long as the stream.
    const bool head_keep_alive = res.keep_alive();
    res = {};
    const auto idle = svc_->config->upstream.stream_idle_timeout;
    for (;;) {
      std::string piece;  // per event: no buffer kept while the stream waits for the next one
      const upstream::Failure f = co_await exchange.read_some(piece, idle, /*lean=*/true);
      if (!piece.empty()) {
        hash.update(piece);
        relay.bytes += piece.size();
        if (relay.preview) relay.preview->feed_stream(piece);
        if (!co_await conn.write_chunk(piece)) {
          relay.client_gone = true;  // dropping `exchange` closes the upstream connection
          break;
        }
      }
      const net::cancellation_state cs = co_await net::this_coro::cancellation_state;
      if (f != upstream::Failure::none && client_left(cs)) break;
      if (f != upstream::Failure::none) {
        // The stream broke: say so in-band (the status line has gone), then end the
        // connection without the terminating chunk so no client mistakes it for complete.
        const json err = {{"error",
                           {{"message", "the gateway's stream ended early: " +
                                            std::string(upstream::describe(f))},
                            {"type", "api_error"},
                            {"code", upstream::code_for(f)},
                            {"trace_id", ctx.trace_id}}}};
        const std::string event = "\n\ndata: " + err.dump() + "\n\n";
        hash.update(event);
        relay.bytes += event.size();
        co_await conn.write_chunk(event);
        svc_->metrics.upstream_error(upstream::code_for(f));
        audit(ctx, "error", {{"code", upstream::code_for(f)}, {"message", upstream::describe(f)}});
        break;
      }
      if (exchange.done()) {
        relay.stream_complete = co_await conn.write_last_chunk();
        exchange.finish();
        break;
      }
    }
    relay.sha256 = hash.hex();
    relay.keep = relay.stream_complete && head_keep_alive;
  }

  task<bool> readyz(ClientConnection& conn, Ctx& ctx) {
    const bool policy_ok = svc_->policy.get() != nullptr;
    const bool audit_ok = svc_->audit->healthy();
    const bool upstream_ok = svc_->upstream_ready.load();
    json failing = json::array();
    if (!policy_ok) failing.push_back("policy");
    if (!audit_ok) failing.push_back("audit");
    if (!upstream_ok) failing.push_back("upstream");
    if (svc_->draining.load()) failing.push_back("draining");
    const bool ready = failing.empty();
    const json body = {{"ready", ready},
                       {"failing", failing},
                       {"checks",
                        {{"policy", policy_ok ? "ok" : "failing"},
                         {"audit", audit_ok ? "ok" : "failing"},
                         {"upstream", upstream_ok ? "ok" : "failing"}}}};
    const unsigned status = ready ? 200 : 503;
    co_return co_await reply_json(conn, ctx, status, body);
  }
};

// ---------------------------------------------------------------------------------------------
class AdminHandler final : public HandlerBase {
 public:
  using HandlerBase::HandlerBase;

  task<bool> handle(ClientConnection& conn, std::string head) override {
    Ctx ctx = begin(conn, head);
    ctx.shape = clawgate::http::ErrorShape::openai;
    RequestParser parser;
    bool keep = false;
    if (!co_await parse_head(conn, ctx, head, parser, keep)) co_return false;
    auto& req = parser.get();
    const auto m = clawgate::http::match_admin_route(ctx.method, req.target());
    ctx.route = "admin";
    if (m.kind != clawgate::http::RouteMatch::Kind::found) {
      co_return co_await route_refusal(conn, ctx, m, keep);
    }
    if (clawgate::http::target_has_query(req.target()) &&
        m.id != clawgate::http::RouteId::admin_approvals) {
      co_return co_await reply_error(conn, ctx, 400, "invalid_request",
                                     "query strings are not accepted on this route", nullptr, keep);
    }
    const auto auth_it = req.find(http::field::authorization);
    const auto identity = svc_->admins.authenticate(
        auth_it == req.end() ? std::string_view{} : std::string_view(auth_it->value()));
    if (!identity) {
      co_return co_await reply_error(conn, ctx, 401, "unauthorized",
                                     "the admin listener accepts admin tokens only", nullptr, keep);
    }
    ctx.identity = identity->id;
    bool body_ok = false;
    const bool after_body = co_await read_body(conn, ctx, parser, body_ok);
    if (!body_ok) co_return after_body;
    log_received(ctx, &parser.get().body());

    switch (m.id) {
      case clawgate::http::RouteId::admin_healthz: {
        const json live = {{"ok", true}, {"status", "live"}};
        co_return co_await reply_json(conn, ctx, 200, live);
      }
      case clawgate::http::RouteId::admin_policy_reload: {
        const std::string err = reload_policy(*svc_);
        if (!err.empty()) {
          co_return co_await reply_error(conn, ctx, 400, "policy_invalid",
                                         "the policy file is invalid; the previous policy stays "
                                         "in force: " + err,
                                         nullptr, true);
        }
        const auto p = svc_->policy.get();
        const json loaded = {{"policy_sha256", p->sha256}, {"name", p->name}};
        co_return co_await reply_json(conn, ctx, 200, loaded);
      }
      case clawgate::http::RouteId::admin_metrics:
        co_return co_await scrape(conn, ctx);
      case clawgate::http::RouteId::admin_approvals:
        co_return co_await list_approvals(conn, ctx, std::string(req.target()));
      case clawgate::http::RouteId::admin_approval: {
        const std::string id = approval_id_from_path(ctx.path);
        const auto a = svc_->approvals->get(id);
        audit_approval_transitions(*svc_);
        if (!a) co_return co_await no_such_approval(conn, ctx, id);
        co_return co_await reply_json(conn, ctx, 200, a->to_json());
      }
      case clawgate::http::RouteId::admin_approve:
      case clawgate::http::RouteId::admin_deny:
        co_return co_await decide_approval(conn, ctx, m.id == clawgate::http::RouteId::admin_approve,
                                           parser.get().body());
      default:
        co_return co_await reply_error(conn, ctx, 501, "not_implemented",
                                       "this admin route is not available in this build yet",
                                       nullptr, true);
    }
  }

 private:
  // "/v1/approvals/{id}" and "/v1/approvals/{id}/approve|deny" → id.
  static std::string approval_id_from_path(const std::string& path) {
    constexpr std::string_view prefix = "/v1/approvals/";
    if (path.rfind(prefix, 0) != 0) return "";
    const std::string rest = path.substr(prefix.size());
    return rest.substr(0, rest.find('/'));
  }

  // GET /metrics: the Prometheus text format.
  task<bool> scrape(ClientConnection& conn, Ctx& ctx) {
    metrics::Metrics::Gauges g;
    g.approvals_pending = svc_->approvals ? svc_->approvals->pending_count() : 0;
    if (svc_->open_connections) {
      const auto [proxy, admin] = svc_->open_connections();
      g.open_connections_proxy = proxy;
      g.open_connections_admin = admin;
    }
    const audit::Stats st = svc_->audit->stats();
    g.audit_records = st.records;
    g.audit_bytes = st.bytes;
    g.audit_syncs = st.syncs;
    g.audit_failures = st.failures;
    g.audit_sync_seconds = &svc_->audit->sync_seconds();
    g.audit_healthy = svc_->audit->healthy();
    g.upstream_ready = svc_->upstream_ready.load();
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    decorate(ctx, res);
    res.body() = svc_->metrics.render(g);
    res.prepare_payload();
    const bool ok = co_await conn.write(res);
    co_return ok && res.keep_alive();
  }

  task<bool> no_such_approval(ClientConnection& conn, Ctx& ctx, std::string id) {
    co_return co_await reply_error(conn, ctx, 404, "not_found", "there is no approval " + id,
                                   nullptr, true);
  }

  // GET /v1/approvals[?state=S]
  task<bool> list_approvals(ClientConnection& conn, Ctx& ctx, std::string target) {
    std::optional<approval::State> state;
    const auto q = target.find('?');
    if (q != std::string::npos) {
      const std::string query = target.substr(q + 1);
      constexpr std::string_view key = "state=";
      std::optional<approval::State> parsed;
      if (query.rfind(key, 0) == 0) parsed = approval::parse_state(query.substr(key.size()));
      if (!parsed) {
        co_return co_await reply_error(conn, ctx, 400, "invalid_request",
                                       "the only query is ?state=pending|approved|denied|expired|"
                                       "used",
                                       nullptr, true);
      }
      state = parsed;
    }
    json list = json::array();
    for (const auto& a : svc_->approvals->list(state)) list.push_back(a.to_json());
    audit_approval_transitions(*svc_);
    json body = json::object();
    body["approvals"] = std::move(list);
    co_return co_await reply_json(conn, ctx, 200, std::move(body));
  }

  // POST /v1/approvals/{id}/approve|deny with an optional {"note": "..."}.
  task<bool> decide_approval(ClientConnection& conn, Ctx& ctx, bool approve, std::string body) {
    const std::string id = approval_id_from_path(ctx.path);
    std::optional<std::string> note;
    if (!body.empty()) {
      auto parsed = clawgate::json::parse_strict(body);
      std::string problem;
      if (!parsed.value || !parsed.value->is_object()) {
        problem = "the body must be a JSON object like {\"note\": \"...\"}";
      } else if (parsed.value->contains("note")) {
        const json& n = (*parsed.value)["note"];
        if (n.is_string()) {
          note = n.get<std::string>();
        } else if (!n.is_null()) {
          problem = "`note` must be a string";
        }
      }
      if (!problem.empty()) {
        co_return co_await reply_error(conn, ctx, 400, "invalid_request", std::move(problem),
                                       nullptr, true);
      }
    }
    auto decided = svc_->approvals->decide(id, approve, ctx.identity.value_or(""), note);
    audit_approval_transitions(*svc_);
    if (auto* a = std::get_if<approval::Approval>(&decided)) {
      co_return co_await reply_json(conn, ctx, 200, a->to_json());
    }
    switch (std::get<approval::DecideError>(decided)) {
      case approval::DecideError::unknown: co_return co_await no_such_approval(conn, ctx, id);
      case approval::DecideError::conflict:
        co_return co_await reply_error(conn, ctx, 409, "approval_conflict",
                                       "approval " + id + " is no longer pending; it was decided "
                                       "already",
                                       nullptr, true);
      case approval::DecideError::expired:
        co_return co_await reply_error(conn, ctx, 409, "approval_conflict",
                                       "approval " + id + " has expired; the caller must ask again",
                                       nullptr, true);
      case approval::DecideError::io: break;
    }
    co_return co_await reply_error(conn, ctx, 503, "approval_unavailable",
                                   "the approval store cannot be written; nothing was decided",
                                   nullptr, true);
  }
};

}  // namespace

std::shared_ptr<server::RequestHandler> make_proxy_handler(std::shared_ptr<Services> svc) {
  return std::make_shared<ProxyHandler>(std::move(svc));
}

std::shared_ptr<server::RequestHandler> make_admin_handler(std::shared_ptr<Services> svc) {
  return std::make_shared<AdminHandler>(std::move(svc));
}

}  // namespace clawgate::proxy
