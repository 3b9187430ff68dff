#include "clawgate/request/target.hpp"

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

#include "clawgate/core/ascii.hpp"

namespace clawgate::request {
namespace {

using core::ascii_istarts_with;
using core::ascii_lower;
using nlohmann::json;

constexpr std::string_view kInvalidModel =
    "Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.";

// The gateway trims body strings with JavaScript's String.prototype.trim, which strips Unicode
// white space too. Trimming less than it would let " exec" or "bob\u00a0" slip past rules
// written for "exec" and "bob" while the gateway still runs exec / bob's session.
constexpr std::array<std::string_view, 25> kJsWhiteSpace{
    "\t",           "\n",           "\v",           "\f",           "\r",           " ",
    "\xC2\xA0",     "\xE1\x9A\x80", "\xE2\x80\x80", "\xE2\x80\x81", "\xE2\x80\x82", "\xE2\x80\x83",
    "\xE2\x80\x84", "\xE2\x80\x85", "\xE2\x80\x86", "\xE2\x80\x87", "\xE2\x80\x88", "\xE2\x80\x89",
    "\xE2\x80\x8A", "\xE2\x80\xA8", "\xE2\x80\xA9", "\xE2\x80\xAF", "\xE2\x81\x9F", "\xE3\x80\x80",
    "\xEF\xBB\xBF",
};

std::string_view js_trim(std::string_view s) {
  bool changed = true;
  while (changed && !s.empty()) {
    changed = false;
    for (std::string_view ws : kJsWhiteSpace) {
      if (s.size() >= ws.size() && s.substr(0, ws.size()) == ws) {
        s.remove_prefix(ws.size());
        changed = true;
      }
      if (s.size() >= ws.size() && s.substr(s.size() - ws.size()) == ws) {
        s.remove_suffix(ws.size());
        changed = true;
      }
    }
  }
  return s;
}

// Header values: Beast already strips SP/HTAB; the gateway (Node) also trims the rest of the
// ASCII white space. Non-ASCII bytes are refused where they matter (Node reads them as latin1).
std::string_view ascii_trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

// ^[a-z0-9][a-z0-9_-]{0,63}$, case-insensitive (the gateway's VALID_ID_RE).
bool is_agent_id(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (std::size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (i == 0 || (c != '_' && c != '-'))) return false;
  }
  return true;
}

// Error accumulator: the first type error wins.
struct Check {
  std::optional<std::string> error;

  void fail(std::string message) {
    if (!error) error = std::move(message);
  }
  // A present field (JSON null included) that is not a string.
  void string_field(const json& obj, const char* key, const std::string& label) {
    if (const auto it = obj.find(key); it != obj.end() && !it->is_string()) {
      fail("`" + label + "` must be a string");
    }
  }
  void string_field(const json& obj, const char* key) { string_field(obj, key, key); }

  // Text content as chat messages and OpenResponses items carry it: a string or an array of part
  // objects whose `text` is a string. Absent or null content is fine (assistant tool calls).
  void content_field(const json& obj, const std::string& label) {
    const auto it = obj.find("content");
    if (it == obj.end() || it->is_null() || it->is_string()) return;
    if (!it->is_array()) {
      fail("`" + label + ".content` must be a string or an array of content parts");
      return;
    }
    for (std::size_t j = 0; j < it->size(); ++j) {
      const json& part = (*it)[j];
      const std::string part_label = label + ".content[" + std::to_string(j) + "]";
      if (!part.is_object()) {
        fail("`" + part_label + "` must be an object");
        return;
      }
      string_field(part, "text", part_label + ".text");
    }
  }
};

const json* member(const json& obj, const char* key) {
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

std::optional<std::string> header_value(const ForwardedHeader& header, std::string_view name) {
  if (!header) return std::nullopt;
  return header(name);
}

void check_chat_types(const json& body, Check& check) {
  check.string_field(body, "model");
  check.string_field(body, "user");
  if (const json* stream = member(body, "stream"); stream && !stream->is_boolean()) {
    check.fail("`stream` must be a boolean");
  }
  const json* messages = member(body, "messages");
  if (!messages) return;
  if (!messages->is_array()) {
    check.fail("`messages` must be an array");
    return;
  }
  for (std::size_t i = 0; i < messages->size() && !check.error; ++i) {
    const json& msg = (*messages)[i];
    const std::string label = "messages[" + std::to_string(i) + "]";
    if (!msg.is_object()) {
      check.fail("`" + label + "` must be an object");
      return;
    }
    check.string_field(msg, "role", label + ".role");
    check.content_field(msg, label);
  }
}

void check_responses_types(const json& body, Check& check) {
  check.string_field(body, "model");
  check.string_field(body, "user");
  check.string_field(body, "instructions");
  if (const json* stream = member(body, "stream"); stream && !stream->is_boolean()) {
    check.fail("`stream` must be a boolean");
  }
  const json* input = member(body, "input");
  if (!input || input->is_string()) return;
  if (!input->is_array()) {
    check.fail("`input` must be a string or an array");
    return;
  }
  for (std::size_t i = 0; i < input->size() && !check.error; ++i) {
    const json& item = (*input)[i];
    const std::string label = "input[" + std::to_string(i) + "]";
    if (item.is_string()) continue;
    if (!item.is_object()) {
      check.fail("`" + label + "` must be a string or an object");
      return;
    }
    check.string_field(item, "role", label + ".role");
    check.content_field(item, label);
  }
}

void check_tools_types(const json& body, Check& check) {
  for (const char* key : {"name", "tool", "action", "sessionKey", "agentId"}) {
    check.string_field(body, key);
  }
  if (const json* args = member(body, "args"); args && !args->is_object()) {
    check.fail("`args` must be an object");
  }
}

// Agent id from a header or body value that names one explicitly: invalid → refused, where the
// gateway would answer "Unknown agent" or mangle it into some other id.
std::variant<std::string, TargetError> explicit_agent(std::string_view value,
                                                      std::string_view field) {
  if (!is_agent_id(value)) {
    return TargetError{"`" + std::string(field) + "` is not a valid agent id"};
  }
  return ascii_lower(value);
}

// `model` for chat and responses (gateway resolveAgentIdFromModel / isOpenClawAgentModelId).
std::variant<std::string, TargetError> agent_from_model(const json& body) {
  const json* model = member(body, "model");
  if (!model) return std::string("main");
  const std::string_view raw = js_trim(model->get_ref<const std::string&>());
  if (raw.empty()) return std::string("main");
  const std::string lowered = ascii_lower(raw);
  if (lowered == "openclaw" || lowered == "openclaw/default") return std::string("main");
  std::string_view id;
  if (ascii_istarts_with(raw, "openclaw/") || ascii_istarts_with(raw, "openclaw:")) {
    id = raw.substr(9);
  } else if (ascii_istarts_with(raw, "agent:")) {
    id = raw.substr(6);
  } else {
    return TargetError{std::string(kInvalidModel)};
  }
  if (!is_agent_id(id)) return TargetError{std::string(kInvalidModel)};
  return ascii_lower(id);
}

std::variant<Target, TargetError> resolve_agent_route(const json& body,
                                                      const ForwardedHeader& header) {
  Target target;
  // The gateway rejects a bad model even when a header picks the agent, so check it first.
  auto from_model = agent_from_model(body);
  if (auto* err = std::get_if<TargetError>(&from_model)) return std::move(*err);
  target.agent = std::move(std::get<std::string>(from_model));

  std::string_view header_name = "x-openclaw-agent-id";
  std::optional<std::string> agent_header = header_value(header, header_name);
  if (!agent_header || ascii_trim(*agent_header).empty()) {
    header_name = "x-openclaw-agent";
    agent_header = header_value(header, header_name);
  }
  if (agent_header && !ascii_trim(*agent_header).empty()) {
    auto from_header = explicit_agent(ascii_trim(*agent_header), header_name);
    if (auto* err = std::get_if<TargetError>(&from_header)) return std::move(*err);
    target.agent = std::move(std::get<std::string>(from_header));
  }

  if (auto key = header_value(header, "x-openclaw-session-key")) {
    const std::string_view trimmed = ascii_trim(*key);
    for (char c : trimmed) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u > 0x7E) {
        return TargetError{"`x-openclaw-session-key` must be printable ASCII"};
      }
    }
    if (!trimmed.empty()) target.session = std::string(trimmed);
  }
  if (!target.session) {
    if (const json* user = member(body, "user")) {
      const std::string_view trimmed = js_trim(user->get_ref<const std::string&>());
      if (!trimmed.empty()) target.session = std::string(trimmed);
    }
  }
  if (const json* stream = member(body, "stream")) target.stream = stream->get<bool>();
  return target;
}

// "agent:<id>:<rest>" as the gateway's parseAgentSessionKey splits it (empty segments dropped).
// nullopt id = not an agent key; an agent-looking key the gateway would read differently from
// its shape is refused.
std::variant<std::optional<std::string>, TargetError> agent_from_session_key(std::string_view key) {
  std::vector<std::string_view> parts;
  std::size_t pos = 0;
  while (pos <= key.size()) {
    std::size_t colon = key.find(':', pos);
    if (colon == std::string_view::npos) colon = key.size();
    if (colon > pos) parts.push_back(key.substr(pos, colon - pos));
    pos = colon + 1;
  }
  if (parts.empty() || ascii_lower(parts[0]) != "agent") return std::optional<std::string>{};
  if (parts[0] != "agent" || parts.size() < 3) {
    return TargetError{"`sessionKey` must have the form agent:<agentId>:<key>"};
  }
  const std::string_view id = js_trim(parts[1]);
  if (!is_agent_id(id)) return TargetError{"`sessionKey` names an invalid agent id"};
  return std::optional<std::string>{ascii_lower(id)};
}

std::string fold_tool_alias(std::string name) {
  if (name == "bash") return "exec";
  if (name == "cron") return "automations";
  return name;
}

std::variant<Target, TargetError> resolve_tools_route(const json& body) {
  Target target;

  // `name` wins whenever present, even when empty (the gateway then answers "requires name").
  const json* name = member(body, "name");
  if (!name) name = member(body, "tool");
  if (name) {
    const std::string_view trimmed = js_trim(name->get_ref<const std::string&>());
    if (!trimmed.empty()) target.tool = fold_tool_alias(ascii_lower(trimmed));
  }

  // The gateway passes args.action to the tool as is and merges `action` in only when args has
  // none; a body that names two different actions is refused rather than guessed.
  std::optional<std::string> top_action;
  if (const json* action = member(body, "action")) {
    top_action = std::string(js_trim(action->get_ref<const std::string&>()));
  }
  std::optional<std::string> args_action;
  if (const json* args = member(body, "args")) {
    if (const json* a = member(*args, "action")) {
      if (!a->is_string()) return TargetError{"`args.action` must be a string"};
      args_action = std::string(js_trim(a->get_ref<const std::string&>()));
    }
  }
  if (top_action && args_action && *top_action != *args_action) {
    return TargetError{"`action` and `args.action` disagree"};
  }
  std::optional<std::string>& action = args_action ? args_action : top_action;
  if (action && !action->empty()) target.action = std::move(*action);

  std::optional<std::string> requested_agent;
  if (const json* agent_id = member(body, "agentId")) {
    const std::string_view trimmed = js_trim(agent_id->get_ref<const std::string&>());
    if (!trimmed.empty()) {
      auto agent = explicit_agent(trimmed, "agentId");
      if (auto* err = std::get_if<TargetError>(&agent)) return std::move(*err);
      requested_agent = std::move(std::get<std::string>(agent));
    }
  }
  std::optional<std::string> session_agent;
  if (const json* session_key = member(body, "sessionKey")) {
    const std::string_view trimmed = js_trim(session_key->get_ref<const std::string&>());
    if (!trimmed.empty()) {
      target.session = std::string(trimmed);
      auto parsed = agent_from_session_key(trimmed);
      if (auto* err = std::get_if<TargetError>(&parsed)) return std::move(*err);
      session_agent = std::move(std::get<std::optional<std::string>>(parsed));
    }
  }
  if (requested_agent && session_agent && *requested_agent != *session_agent) {
    return TargetError{"`agentId` does not match the agent of `sessionKey`"};
  }
  if (requested_agent) {
    target.agent = std::move(*requested_agent);
  } else if (session_agent) {
    target.agent = std::move(*session_agent);
  }
  return target;
}

}  // namespace

std::variant<Target, TargetError> resolve_target(http::RouteId route, const json& body,
                                                 const ForwardedHeader& header) {
  if (route == http::RouteId::models) return Target{};
  if (route != http::RouteId::chat && route != http::RouteId::responses &&
      route != http::RouteId::tools) {
    return TargetError{"route has no target"};
  }
  if (!body.is_object()) return TargetError{"request body must be a JSON object"};

  Check check;
  if (route == http::RouteId::chat) {
    check_chat_types(body, check);
  } else if (route == http::RouteId::responses) {
    check_responses_types(body, check);
  } else {
    check_tools_types(body, check);
  }
  if (check.error) return TargetError{std::move(*check.error)};

  if (route == http::RouteId::tools) return resolve_tools_route(body);
  return resolve_agent_route(body, header);
}

std::optional<std::string> session_lock_key(const Target& target) {
  if (!target.session) return std::nullopt;
  return target.agent + "\n" + *target.session;
}

}  // namespace clawgate::request
