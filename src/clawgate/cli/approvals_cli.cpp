#include "clawgate/cli/approvals_cli.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace clawgate::cli {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;
using nlohmann::json;

constexpr std::string_view kApprovalsUsage =
    R"(usage: clawgate approvals list [--state pending|approved|denied|expired|used]
       clawgate approvals show ID
       clawgate approvals approve ID [--note TEXT]
       clawgate approvals deny ID [--note TEXT]
options (required unless marked; any order after the subcommand):
  --admin-url URL   the admin listener, e.g. http://127.0.0.1:18791 (http only)
  --token-env VAR   the environment variable holding an admin token
  --json            (optional) print the admin API's JSON answer as is
)";

// Each phase (connect, write, read) gets this budget; tcp_stream's timer bounds it.
constexpr auto kIoTimeout = std::chrono::seconds{10};
constexpr std::string_view kIoTimeoutText = "10 s";
constexpr std::uint64_t kMaxResponseBytes = 8 * 1024 * 1024;
constexpr std::size_t kSummaryWidth = 50;
constexpr std::size_t kErrorBodyWidth = 200;

constexpr std::array<std::string_view, 5> kStates = {"pending", "approved", "denied", "expired",
                                                     "used"};
// The SPEC §6 approval object, in the order `show` prints it.
constexpr std::array<std::string_view, 18> kApprovalKeys = {
    "id",         "state",      "trace_id",   "identity", "route",          "agent",
    "session",    "tool",       "action",     "summary",  "request_sha256", "policy_sha256",
    "created_at", "expires_at", "decided_at", "reviewer", "note",           "used_at"};

int usage(const std::string& message) {
  std::cerr << "clawgate: approvals: " << message << "\n\n" << kApprovalsUsage;
  return 2;
}

// ---------------------------------------------------------------------------------------------
// Text for a terminal. What the admin API returns includes text an agent chose (the summary is
// what it asked for). Control characters (escape sequences could rewrite the screen or hide
// lines) and bidirectional overrides (they could make "deny" read as something else) must not
// reach the reviewer's terminal as they are: they become '?' (tab, CR and LF a space). Bytes
// that are not UTF-8 become '?' as well.

bool is_hidden_format_char(std::uint32_t cp) {
  return cp == 0x061C || cp == 0x200E || cp == 0x200F || (cp >= 0x202A && cp <= 0x202E) ||
         (cp >= 0x2066 && cp <= 0x2069);
}

// Decodes the UTF-8 sequence at s[i]; returns its length, or 0 when it is not valid UTF-8.
std::size_t decode_utf8(std::string_view s, std::size_t i, std::uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xE0U) == 0xC0U) {
    len = 2;
    cp = b0 & 0x1FU;
    min = 0x80;
  } else if ((b0 & 0xF0U) == 0xE0U) {
    len = 3;
    cp = b0 & 0x0FU;
    min = 0x800;
  } else if ((b0 & 0xF8U) == 0xF0U) {
    len = 4;
    cp = b0 & 0x07U;
    min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0U) != 0x80U) return 0;
    cp = (cp << 6U) | (b & 0x3FU);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

bool is_valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::uint32_t cp = 0;
    const std::size_t n = decode_utf8(s, i, cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

// Code points (a column count that holds for the scripts a table here will mostly show).
std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0U) != 0x80U; }));
}

// Code points in `s`, an invalid byte counting as one.
std::size_t code_points(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++count) {
    std::uint32_t cp = 0;
    i += std::max<std::size_t>(decode_utf8(s, i, cp), 1);
  }
  return count;
}

// `s` made safe to print; at most `max_width` code points, ending in "..." when cut.
std::string printable(std::string_view s, std::size_t max_width = std::string::npos) {
  std::size_t keep = std::string::npos;
  if (max_width != std::string::npos && code_points(s) > max_width) {
    keep = max_width > 3 ? max_width - 3 : 0;
  }
  std::string out;
  std::size_t kept = 0;
  for (std::size_t i = 0; i < s.size() && kept != keep; ++kept) {
    std::uint32_t cp = 0;
    std::size_t n = decode_utf8(s, i, cp);
    if (n == 0) {
      out += '?';
      n = 1;
    } else if (cp == '\t' || cp == '\n' || cp == '\r') {
      out += ' ';
    } else if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || is_hidden_format_char(cp)) {
      out += '?';
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  if (keep != std::string::npos) out += "...";
  return out;
}

// ---------------------------------------------------------------------------------------------
// Command line

struct Options {
  std::string sub;  // list, show, approve, deny
  std::optional<std::string> id;
  std::optional<std::string> state;
  std::optional<std::string> note;
  std::optional<std::string> admin_url;
  std::optional<std::string> token_env;
  bool json = false;
};

bool is_approval_id(std::string_view id) {
  constexpr std::string_view kPrefix = "apr_";
  if (id.size() != kPrefix.size() + 32 || id.substr(0, kPrefix.size()) != kPrefix) return false;
  return std::all_of(id.begin() + static_cast<std::ptrdiff_t>(kPrefix.size()), id.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// Fills `o` from the words after the subcommand; returns a usage message, "" when fine.
std::string parse_options(const std::vector<std::string>& args, Options& o) {
  const bool list = o.sub == "list";
  const bool decide = o.sub == "approve" || o.sub == "deny";
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::optional<std::string>* slot = nullptr;
    if (a == "--json") {
      o.json = true;
      continue;
    }
    if (a == "--admin-url") {
      slot = &o.admin_url;
    } else if (a == "--token-env") {
      slot = &o.token_env;
    } else if (a == "--state") {
      if (!list) return o.sub + ": --state is only for `approvals list`";
      slot = &o.state;
    } else if (a == "--note") {
      if (!decide) return o.sub + ": --note is only for `approvals approve|deny`";
      slot = &o.note;
    } else if (a.size() > 1 && a[0] == '-') {
      return o.sub + ": unknown option " + printable(a);
    } else {
      if (list) return "list: unexpected argument " + printable(a);
      if (o.id) return o.sub + ": one approval ID only (got a second: " + printable(a) + ")";
      o.id = a;
      continue;
    }
    if (i + 1 >= args.size()) return o.sub + ": " + a + " needs a value";
    if (slot->has_value()) return o.sub + ": " + a + " given twice";
    *slot = args[++i];
  }
  if (!list && !o.id) return o.sub + ": name the approval ID (apr_ + 32 hex digits)";
  if (o.id && !is_approval_id(*o.id)) {
    return o.sub + ": " + printable(*o.id, 60) +
           " is not an approval ID (apr_ + 32 lower-case hex digits)";
  }
  if (o.state && std::find(kStates.begin(), kStates.end(), *o.state) == kStates.end()) {
    return "list: --state is one of pending, approved, denied, expired, used";
  }
  if (o.note && !is_valid_utf8(*o.note)) return o.sub + ": --note is not valid UTF-8";
  if (!o.admin_url) return o.sub + ": --admin-url is required (e.g. http://127.0.0.1:18791)";
  if (!o.token_env) {
    return o.sub + ": --token-env is required (the environment variable holding an admin token)";
  }
  return {};
}

// Where the admin API is: from --admin-url.
struct AdminEndpoint {
  std::string host;         // for the resolver: a name, IPv4 or IPv6 address without brackets
  std::string port;         // digits
  std::string host_header;  // as in the URL's authority
  std::string prefix;       // the URL's path without a trailing '/', "" for none
};

std::string parse_admin_url(const std::string& text, AdminEndpoint& out) {
  const std::string shown = printable(text, 100);
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return "--admin-url " + shown + " is not a URL (e.g. http://127.0.0.1:18791)";
  const boost::urls::url_view u = *parsed;
  if (u.scheme_id() == boost::urls::scheme::https) {
    return "--admin-url " + shown +
           ": https is not supported, the admin listener has no TLS in this build; use "
           "http:// on a loopback or otherwise protected address";
  }
  if (u.scheme_id() != boost::urls::scheme::http) {
    return "--admin-url " + shown + " must be an http:// URL (e.g. http://127.0.0.1:18791)";
  }
  if (!u.has_authority() || u.host_type() == boost::urls::host_type::none ||
      u.encoded_host().empty()) {
    return "--admin-url " + shown + " has no host";
  }
  if (u.host_type() == boost::urls::host_type::ipvfuture) {
    return "--admin-url " + shown + ": unsupported host";
  }
  if (u.has_userinfo()) {
    return "--admin-url " + shown +
           " must not carry user information; the token comes from "
           "--token-env";
  }
  if (u.has_query() || u.has_fragment()) {
    return "--admin-url " + shown + " must not have a query or fragment";
  }
  out.host = u.host_address();
  out.port = "80";
  if (u.has_port() && !u.port().empty()) {
    const std::string_view p = u.port();
    unsigned int number = 0;
    const auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), number);
    if (ec != std::errc{} || end != p.data() + p.size() || number == 0 || number > 65535) {
      return "--admin-url " + shown + ": bad port";
    }
    out.port = std::to_string(number);
  }
  out.host_header = std::string(u.encoded_host_and_port());
  out.prefix = std::string(u.encoded_path());
  while (!out.prefix.empty() && out.prefix.back() == '/') out.prefix.pop_back();
  return {};
}

// ---------------------------------------------------------------------------------------------
// The HTTP exchange

struct Answer {
  std::string failure;  // non-empty: no answer (with why)
  int status = 0;
  std::string reason;
  std::string body;
};

// Runs one asynchronous operation to the end. tcp_stream's expires_after bounds asynchronous
// operations only, so the blocking client drives them itself on a private io_context.
template <class Start>
error_code run_op(net::io_context& ioc, Start&& start) {
  error_code result;
  std::forward<Start>(start)([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

std::string describe_io_error(const error_code& ec) {
  if (ec == beast::error::timeout) return "no answer within " + std::string(kIoTimeoutText);
  return ec.message();
}

Answer call_admin(const AdminEndpoint& endpoint, http::verb verb, const std::string& path,
                  const std::string& token, const std::optional<std::string>& body) {
  Answer answer;
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  error_code ec;
  const auto endpoints =
      resolver.resolve(endpoint.host, endpoint.port, tcp::resolver::numeric_service, ec);
  if (ec) {
    answer.failure = "cannot resolve " + printable(endpoint.host) + ": " + ec.message();
    return answer;
  }

  http::request<http::string_body> req{verb, endpoint.prefix + path, 11};
  req.set(http::field::host, endpoint.host_header);
  req.set(http::field::authorization, "Bearer " + token);
  req.set(http::field::accept, "application/json");
  req.set(http::field::user_agent, "clawgate/" CLAWGATE_VERSION);
  req.keep_alive(false);
  if (body) {
    req.set(http::field::content_type, "application/json");
    req.body() = *body;
  }
  req.prepare_payload();

  beast::tcp_stream stream(ioc);
  stream.expires_after(kIoTimeout);
  ec = run_op(ioc, [&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
  if (ec) {
    answer.failure = describe_io_error(ec);
    return answer;
  }
  stream.expires_after(kIoTimeout);
  ec = run_op(ioc, [&](auto handler) { http::async_write(stream, req, std::move(handler)); });
  if (ec) {
    answer.failure = "sending the request failed: " + describe_io_error(ec);
    return answer;
  }
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBytes);
  stream.expires_after(kIoTimeout);
  ec = run_op(ioc,
              [&](auto handler) { http::async_read(stream, buffer, parser, std::move(handler)); });
  if (ec) {
    answer.failure = "reading the answer failed: " + describe_io_error(ec);
    return answer;
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);

  auto res = parser.release();
  answer.status = static_cast<int>(res.result_int());
  answer.reason = std::string(res.reason());
  answer.body = std::move(res.body());
  return answer;
}

// ---------------------------------------------------------------------------------------------
// Output

// A value as text: "-" for null or missing, strings as they are, anything else as JSON.
std::string field_text(const json& obj, std::string_view key,
                       std::size_t max_width = std::string::npos) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "-";
  if (it->is_string()) return printable(it->get_ref<const std::string&>(), max_width);
  return printable(it->dump(-1, ' ', false, json::error_handler_t::replace), max_width);
}

// "2026-11-21T19:48:00.123456Z" → "2026-11-21 19:48:00Z"; anything else unchanged.
std::string short_time(std::string t) {
  if (t.size() >= 20 && t[4] == '-' && t[7] == '-' && t[10] == 'T' && t[13] == ':' &&
      t[16] == ':' && t.back() == 'Z') {
    t[10] = ' ';
    return t.substr(0, 19) + "Z";
  }
  return t;
}

std::string cell(const json& a, std::string_view key) {
  const std::string v = field_text(a, key);
  return v.empty() ? "-" : v;
}

void print_table(const json& approvals) {
  using Row = std::array<std::string, 8>;
  std::vector<Row> rows;
  rows.push_back(
      {"ID", "STATE", "IDENTITY", "ROUTE", "TOOL/AGENT", "CREATED", "EXPIRES", "SUMMARY"});
  for (const auto& a : approvals) {
    rows.push_back({cell(a, "id"), cell(a, "state"), cell(a, "identity"), cell(a, "route"),
                    cell(a, "tool") + "/" + cell(a, "agent"), short_time(cell(a, "created_at")),
                    short_time(cell(a, "expires_at")), field_text(a, "summary", kSummaryWidth)});
  }
  std::array<std::size_t, 8> widths{};
  for (const auto& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) widths[c] = std::max(widths[c], display_width(r[c]));
  }
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t c = 0; c < r.size(); ++c) {
      line += r[c];
      if (c + 1 < r.size()) line.append(widths[c] - display_width(r[c]) + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

void print_block(const json& a) {
  std::vector<std::pair<std::string, std::string>> lines;
  for (const auto key : kApprovalKeys) lines.emplace_back(key, field_text(a, key));
  for (const auto& [key, value] : a.items()) {  // keys a newer server adds are shown too
    if (std::find(kApprovalKeys.begin(), kApprovalKeys.end(), key) == kApprovalKeys.end()) {
      lines.emplace_back(printable(key), field_text(a, key));
    }
  }
  std::size_t width = 0;
  for (const auto& l : lines) width = std::max(width, display_width(l.first));
  for (const auto& [key, value] : lines) {
    std::string line = key + ":" + std::string(width - display_width(key) + 1, ' ') + value;
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::cout << line << "\n";
  }
}

// The admin API answered with a status that is not 2xx: `error: <status> <code>: <message>`.
int report_error_answer(const Options& o, const Answer& answer) {
  std::string code = "-";
  std::string message = printable(answer.reason);
  std::string trace;
  const json doc = json::parse(answer.body, nullptr, false);
  const auto err = doc.is_object() ? doc.find("error") : doc.end();
  if (doc.is_object() && err != doc.end() && err->is_object()) {
    if (err->contains("code")) code = field_text(*err, "code");
    if (err->contains("message")) message = field_text(*err, "message");
    if (err->contains("trace_id")) trace = field_text(*err, "trace_id");
  } else if (!answer.body.empty()) {
    message = printable(answer.body, kErrorBodyWidth);
  }
  std::cerr << "error: " << answer.status << " " << code << ": " << message;
  if (!trace.empty() && trace != "-") std::cerr << " (trace_id " << trace << ")";
  std::cerr << "\n";
  if (answer.status == 401) {
    std::cerr << "hint: check --token-env " << printable(*o.token_env)
              << ": the variable must hold the token of one of the config's `admins`; "
                 "client tokens are refused\n";
  } else if (answer.status == 409 && o.id) {
    std::cerr << "hint: the approval is no longer pending; `clawgate approvals show " << *o.id
              << "` shows its state\n";
  }
  return 1;
}

int unexpected_answer(const Answer& answer, const std::string& why) {
  std::cerr << "error: the admin API answered " << answer.status << " " << why << ": "
            << printable(answer.body, kErrorBodyWidth) << "\n";
  return 1;
}

}  // namespace

int approvals_command(const std::vector<std::string>& args) {
  if (args.size() == 1 && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
    std::cout << kApprovalsUsage;
    return 0;
  }
  if (args.empty()) return usage("expected `list`, `show ID`, `approve ID` or `deny ID`");
  Options o;
  o.sub = args[0];
  if (o.sub != "list" && o.sub != "show" && o.sub != "approve" && o.sub != "deny") {
    return usage("unknown subcommand `" + printable(o.sub, 40) +
                 "` (expected list, show, approve or deny)");
  }
  if (const std::string bad = parse_options(args, o); !bad.empty()) return usage(bad);

  AdminEndpoint endpoint;
  if (const std::string bad = parse_admin_url(*o.admin_url, endpoint); !bad.empty()) {
    return usage(o.sub + ": " + bad);
  }
  const char* token_value = std::getenv(o.token_env->c_str());
  if (token_value == nullptr || *token_value == '\0') {
    return usage(o.sub + ": the environment variable " + printable(*o.token_env) +
                 " (--token-env) is " + (token_value == nullptr ? "not set" : "empty"));
  }
  const std::string token = token_value;
  if (std::any_of(token.begin(), token.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u < 0x21 || u == 0x7F;
      })) {
    return usage(o.sub + ": the token in " + printable(*o.token_env) +
                 " contains white space or control characters");
  }

  http::verb verb = http::verb::get;
  std::string path = "/v1/approvals";
  std::optional<std::string> body;
  if (o.sub == "list") {
    if (o.state) path += "?state=" + *o.state;
  } else {
    path += "/" + *o.id;  // validated: apr_ + hex, nothing to escape
    if (o.sub != "show") {
      verb = http::verb::post;
      path += "/" + o.sub;
      body = o.note ? json{{"note", *o.note}}.dump() : std::string("{}");
    }
  }

  const Answer answer = call_admin(endpoint, verb, path, token, body);
  if (!answer.failure.empty()) {
    std::cerr << "error: cannot reach the admin API at " << printable(*o.admin_url) << ": "
              << answer.failure << "\n";
    return 1;
  }
  if (answer.status < 200 || answer.status > 299) return report_error_answer(o, answer);

  const json doc = json::parse(answer.body, nullptr, false);
  if (doc.is_discarded()) return unexpected_answer(answer, "with a body that is not JSON");
  if (o.json) {
    std::cout << answer.body;
    if (answer.body.empty() || answer.body.back() != '\n') std::cout << "\n";
    return 0;
  }
  if (o.sub == "list") {
    const auto list = doc.is_object() ? doc.find("approvals") : doc.end();
    if (list == doc.end() || !list->is_array() ||
        !std::all_of(list->begin(), list->end(), [](const json& a) { return a.is_object(); })) {
      return unexpected_answer(answer, "without an \"approvals\" list");
    }
    if (list->empty()) {
      std::cout << "no " << (o.state ? *o.state + " " : std::string()) << "approvals\n";
      return 0;
    }
    print_table(*list);
    return 0;
  }
  if (!doc.is_object() || !doc.contains("id"))
    return unexpected_answer(answer, "without an approval");
  print_block(doc);
  return 0;
}

}  // namespace clawgate::cli
