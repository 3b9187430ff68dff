#include "clawgate/request/target.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "clawgate/json/strict.hpp"

namespace clawgate::request {
namespace {

namespace cj = clawgate::json;
using http::RouteId;
using nlohmann::json;
using Headers = std::map<std::string, std::string>;

ForwardedHeader with(Headers h) {
  return [h = std::move(h)](std::string_view name) -> std::optional<std::string> {
    const auto it = h.find(std::string(name));
    if (it == h.end()) return std::nullopt;
    return it->second;
  };
}

std::variant<Target, TargetError> run(RouteId route, const std::string& body, Headers h = {}) {
  const cj::StrictParse parsed = cj::parse_strict(body);
  EXPECT_TRUE(parsed.value.has_value()) << parsed.error;
  return resolve_target(route, parsed.value.value_or(nlohmann::json::object()), with(std::move(h)));
}

Target ok(RouteId route, const std::string& body, Headers h = {}) {
  auto r = run(route, body, std::move(h));
  if (const auto* e = std::get_if<TargetError>(&r)) {
    ADD_FAILURE() << body << " -> " << e->message;
    return {};
  }
  return std::get<Target>(r);
}

std::string err(RouteId route, const std::string& body, Headers h = {}) {
  auto r = run(route, body, std::move(h));
  if (std::holds_alternative<Target>(r)) {
    ADD_FAILURE() << body << " was accepted";
    return {};
  }
  return std::get<TargetError>(r).message;
}

const std::string kInvalidModel = "Invalid `model`. Use `openclaw` or `openclaw/<agentId>`.";

// ---------------------------------------------------------------- chat / responses: agent

TEST(TargetChat, Defaults) {
  const Target t = ok(RouteId::chat, R"({"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(t.agent, "main");
  EXPECT_FALSE(t.session);
  EXPECT_FALSE(t.tool);
  EXPECT_FALSE(t.action);
  EXPECT_FALSE(t.stream);
}

TEST(TargetChat, ModelFormsPickTheAgent) {
  const std::map<std::string, std::string> cases = {
      {"openclaw", "main"},
      {"OpenClaw", "main"},
      {"openclaw/default", "main"},
      {"OPENCLAW/Default", "main"},
      {"", "main"},
      {"  ", "main"},
      {"openclaw/ops", "ops"},
      {"openclaw:Ops", "ops"},
      {"OpenClaw/Team_A-1", "team_a-1"},
      {"agent:beta", "beta"},
      {"AGENT:Beta", "beta"},
      {" openclaw/ops\t", "ops"},
      {"openclaw/ops\u00a0", "ops"},
      {"openclaw:default", "default"},
      {"agent:default", "default"},
      {"openclaw/0", "0"},
  };
  for (const auto& [model, agent] : cases) {
    const Target t = ok(RouteId::chat, json{{"model", model}}.dump());
    EXPECT_EQ(t.agent, agent) << model;
  }
  const std::string id64 = "a" + std::string(63, 'b');
  EXPECT_EQ(ok(RouteId::chat, json{{"model", "openclaw/" + id64}}.dump()).agent, id64);
}

TEST(TargetChat, OtherModelsAreRefusedLikeTheGateway) {
  for (const std::string& model : std::vector<std::string>{
           "gpt-4o", "openai/gpt-4o", "openclaw/", "openclaw:", "openclaw/-x", "openclaw/_x",
           "openclaw/a/b", "openclaw/a b", "agent:", "agent:x:y", "openclawx", "openclaw/\u00e9",
           "openclaw/ops!", "claw/ops", "openclaw//ops", "openclaw/a" + std::string(64, 'b')}) {
    EXPECT_EQ(err(RouteId::chat, json{{"model", model}}.dump()), kInvalidModel) << model;
  }
}

TEST(TargetChat, HeaderBeatsModel) {
  Target t = ok(RouteId::chat, R"({"model":"openclaw/ops"})", {{"x-openclaw-agent-id", "Beta"}});
  EXPECT_EQ(t.agent, "beta");
  t = ok(RouteId::chat, R"({"model":"openclaw/ops"})", {{"x-openclaw-agent", "gamma"}});
  EXPECT_EQ(t.agent, "gamma");
  t = ok(RouteId::chat, "{}", {{"x-openclaw-agent-id", "beta"}, {"x-openclaw-agent", "gamma"}});
  EXPECT_EQ(t.agent, "beta");
  // An empty primary header falls through to the alias, as the gateway's `||` does.
  t = ok(RouteId::chat, "{}", {{"x-openclaw-agent-id", " "}, {"x-openclaw-agent", "gamma"}});
  EXPECT_EQ(t.agent, "gamma");
  t = ok(RouteId::chat, R"({"model":"agent:ops"})", {{"x-openclaw-agent-id", ""}});
  EXPECT_EQ(t.agent, "ops");
}

TEST(TargetChat, BadHeaderAgentIsRefused) {
  EXPECT_EQ(err(RouteId::chat, "{}", {{"x-openclaw-agent-id", "bad id"}}),
            "`x-openclaw-agent-id` is not a valid agent id");
  EXPECT_EQ(err(RouteId::chat, "{}", {{"x-openclaw-agent-id", "../etc"}}),
            "`x-openclaw-agent-id` is not a valid agent id");
  EXPECT_EQ(err(RouteId::chat, "{}", {{"x-openclaw-agent", "-x"}}),
            "`x-openclaw-agent` is not a valid agent id");
  EXPECT_EQ(err(RouteId::chat, "{}", {{"x-openclaw-agent-id", "ops\xA0"}}),
            "`x-openclaw-agent-id` is not a valid agent id");
}

TEST(TargetChat, BadModelIsRefusedEvenWithAHeaderAgent) {
  EXPECT_EQ(err(RouteId::chat, R"({"model":"gpt-4o"})", {{"x-openclaw-agent-id", "ops"}}),
            kInvalidModel);
}

TEST(TargetChat, OnlyForwardedHeadersCount) {
  // The callback is the contract: headers it does not report (dropped ones) never count.
  const Target t = ok(RouteId::chat, R"({"model":"openclaw/ops"})");
  EXPECT_EQ(t.agent, "ops");
  const auto r = resolve_target(RouteId::chat, json{{"model", "openclaw/ops"}}, ForwardedHeader{});
  ASSERT_TRUE(std::holds_alternative<Target>(r));
  EXPECT_EQ(std::get<Target>(r).agent, "ops");
}

// ---------------------------------------------------------------- chat / responses: session

TEST(TargetChat, SessionFromHeaderThenUser) {
  Target t = ok(RouteId::chat, R"({"user":"alice"})", {{"x-openclaw-session-key", "s-1"}});
  EXPECT_EQ(t.session, "s-1");
  t = ok(RouteId::chat, R"({"user":"alice"})");
  EXPECT_EQ(t.session, "alice");
  t = ok(RouteId::chat, R"({"user":"alice"})", {{"x-openclaw-session-key", "  "}});
  EXPECT_EQ(t.session, "alice");
  t = ok(RouteId::chat, R"({"user":" alice\u00a0"})");
  EXPECT_EQ(t.session, "alice");
  t = ok(RouteId::chat, R"({"user":"  "})");
  EXPECT_FALSE(t.session);
  t = ok(RouteId::chat, "{}");
  EXPECT_FALSE(t.session);
  t = ok(RouteId::chat, "{}", {{"x-openclaw-session-key", "agent:main:custom key"}});
  EXPECT_EQ(t.session, "agent:main:custom key");
}

TEST(TargetChat, NonAsciiSessionHeaderIsRefused) {
  EXPECT_EQ(err(RouteId::chat, "{}", {{"x-openclaw-session-key", "bob\xA0"}}),
            "`x-openclaw-session-key` must be printable ASCII");
  EXPECT_EQ(err(RouteId::chat, "{}", {{"x-openclaw-session-key", "b\xC3\xA9"}}),
            "`x-openclaw-session-key` must be printable ASCII");
}

TEST(TargetChat, Stream) {
  EXPECT_TRUE(ok(RouteId::chat, R"({"stream":true})").stream);
  EXPECT_FALSE(ok(RouteId::chat, R"({"stream":false})").stream);
  EXPECT_TRUE(ok(RouteId::responses, R"({"stream":true,"input":"hi"})").stream);
}

TEST(TargetChat, SessionLockKey) {
  const Target t = ok(RouteId::chat, R"({"model":"openclaw/ops","user":"bob"})");
  EXPECT_EQ(session_lock_key(t), "ops\nbob");
  EXPECT_FALSE(session_lock_key(ok(RouteId::chat, R"({"model":"openclaw/ops"})")));
}

// ---------------------------------------------------------------- chat: types

TEST(TargetChat, TypeErrorsNameTheField) {
  const std::map<std::string, std::string> cases = {
      {R"({"model":5})", "`model` must be a string"},
      {R"({"model":null})", "`model` must be a string"},
      {R"({"model":["openclaw"]})", "`model` must be a string"},
      {R"({"user":1})", "`user` must be a string"},
      {R"({"user":null})", "`user` must be a string"},
      {R"({"stream":"true"})", "`stream` must be a boolean"},
      {R"({"stream":1})", "`stream` must be a boolean"},
      {R"({"stream":null})", "`stream` must be a boolean"},
      {R"({"messages":{}})", "`messages` must be an array"},
      {R"({"messages":"hi"})", "`messages` must be an array"},
      {R"({"messages":null})", "`messages` must be an array"},
      {R"({"messages":[1]})", "`messages[0]` must be an object"},
      {R"({"messages":[{"role":"user","content":"a"},"b"]})", "`messages[1]` must be an object"},
      {R"({"messages":[{"role":1,"content":"a"}]})", "`messages[0].role` must be a string"},
      {R"({"messages":[{"role":null}]})", "`messages[0].role` must be a string"},
      {R"({"messages":[{"role":"user","content":5}]})",
       "`messages[0].content` must be a string or an array of content parts"},
      {R"({"messages":[{"role":"user","content":{"text":"x"}}]})",
       "`messages[0].content` must be a string or an array of content parts"},
      {R"({"messages":[{"role":"user","content":true}]})",
       "`messages[0].content` must be a string or an array of content parts"},
      {R"({"messages":[{"role":"user","content":["x"]}]})",
       "`messages[0].content[0]` must be an object"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":1}]}]})",
       "`messages[0].content[0].text` must be a string"},
      {R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"text":null}]}]})",
       "`messages[0].content[1].text` must be a string"},
  };
  for (const auto& [body, message] : cases) {
    EXPECT_EQ(err(RouteId::chat, body), message) << body;
  }
}

TEST(TargetChat, AcceptsTheShapesClientsSend) {
  const Target t = ok(RouteId::chat, R"({
    "model": "openclaw", "stream": false, "user": "u",
    "messages": [
      {"role": "system", "content": "be nice"},
      {"role": "user", "content": [{"type": "text", "text": "hi"},
                                   {"type": "image_url", "image_url": {"url": "data:"}}]},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]},
      {"role": "assistant", "tool_calls": []},
      {"role": "tool", "content": "42", "tool_call_id": "1"},
      {"content": "no role"}
    ],
    "tools": [], "temperature": 0.5
  })");
  EXPECT_EQ(t.agent, "main");
  EXPECT_EQ(t.session, "u");
  EXPECT_TRUE(ok(RouteId::chat, R"({"messages":[]})").agent == "main");
}

// ---------------------------------------------------------------- responses

TEST(TargetResponses, AgentAndSessionAsForChat) {
  const Target t = ok(RouteId::responses, R"({"model":"openclaw:ops","input":"hi","user":"u"})");
  EXPECT_EQ(t.agent, "ops");
  EXPECT_EQ(t.session, "u");
  EXPECT_EQ(ok(RouteId::responses, R"({"input":"hi"})", {{"x-openclaw-agent-id", "b"}}).agent, "b");
  EXPECT_EQ(err(RouteId::responses, R"({"model":"gpt-4o","input":"hi"})"), kInvalidModel);
}

TEST(TargetResponses, TypeErrorsNameTheField) {
  const std::map<std::string, std::string> cases = {
      {R"({"input":5})", "`input` must be a string or an array"},
      {R"({"input":null})", "`input` must be a string or an array"},
      {R"({"input":{"role":"user"}})", "`input` must be a string or an array"},
      {R"({"input":["a",5]})", "`input[1]` must be a string or an object"},
      {R"({"input":[null]})", "`input[0]` must be a string or an object"},
      {R"({"input":[["a"]]})", "`input[0]` must be a string or an object"},
      {R"({"input":"x","instructions":5})", "`instructions` must be a string"},
      {R"({"input":"x","instructions":null})", "`instructions` must be a string"},
      {R"({"input":"x","model":1})", "`model` must be a string"},
      {R"({"input":"x","user":false})", "`user` must be a string"},
      {R"({"input":"x","stream":"yes"})", "`stream` must be a boolean"},
      {R"({"input":[{"role":1,"content":"x"}]})", "`input[0].role` must be a string"},
      {R"({"input":[{"role":"user","content":7}]})",
       "`input[0].content` must be a string or an array of content parts"},
      {R"({"input":[{"role":"user","content":[1]}]})", "`input[0].content[0]` must be an object"},
      {R"({"input":[{"role":"user","content":[{"type":"input_text","text":[]}]}]})",
       "`input[0].content[0].text` must be a string"},
  };
  for (const auto& [body, message] : cases) {
    EXPECT_EQ(err(RouteId::responses, body), message) << body;
  }
}

TEST(TargetResponses, AcceptsStringAndItemInputs) {
  ok(RouteId::responses, R"({"input":"hi","instructions":"be brief"})");
  ok(RouteId::responses, R"({"input":["hi",{"type":"message","role":"user","content":"yo"}]})");
  ok(RouteId::responses, R"({"input":[{"type":"message","role":"user",
      "content":[{"type":"input_text","text":"a"},{"type":"input_image","image_url":"x"}]},
      {"type":"function_call_output","call_id":"c","output":"{}"}]})");
  ok(RouteId::responses, "{}");  // the gateway answers its own 400 for a missing input
}

// ---------------------------------------------------------------- tools

TEST(TargetTools, NameBeatsToolAndIsLowerCased) {
  Target t = ok(RouteId::tools, R"({"name":"Web_Fetch","tool":"exec"})");
  EXPECT_EQ(t.tool, "web_fetch");
  t = ok(RouteId::tools, R"({"tool":"sessions_list"})");
  EXPECT_EQ(t.tool, "sessions_list");
  t = ok(RouteId::tools, R"({"tool":" SESSIONS_LIST\u00a0"})");
  EXPECT_EQ(t.tool, "sessions_list");
}

TEST(TargetTools, AliasesAreFolded) {
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":"bash"})").tool, "exec");
  EXPECT_EQ(ok(RouteId::tools, R"({"name":"BASH"})").tool, "exec");
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":"cron"})").tool, "automations");
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":" Cron "})").tool, "automations");
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":"bashful"})").tool, "bashful");
}

TEST(TargetTools, MissingOrEmptyNameLeavesToolUnset) {
  EXPECT_FALSE(ok(RouteId::tools, R"({"args":{}})").tool);
  EXPECT_FALSE(ok(RouteId::tools, R"({"tool":"  "})").tool);
  // `name` present but empty still wins over `tool` (the gateway answers "requires name").
  EXPECT_FALSE(ok(RouteId::tools, R"({"name":"","tool":"exec"})").tool);
}

TEST(TargetTools, TypeErrorsNameTheField) {
  const std::map<std::string, std::string> cases = {
      {R"({"tool":5})", "`tool` must be a string"},
      {R"({"tool":null})", "`tool` must be a string"},
      {R"({"name":["exec"]})", "`name` must be a string"},
      {R"({"name":null,"tool":"exec"})", "`name` must be a string"},
      {R"({"tool":"x","action":1})", "`action` must be a string"},
      {R"({"tool":"x","sessionKey":{}})", "`sessionKey` must be a string"},
      {R"({"tool":"x","agentId":7})", "`agentId` must be a string"},
      {R"({"tool":"x","args":[]})", "`args` must be an object"},
      {R"({"tool":"x","args":"a"})", "`args` must be an object"},
      {R"({"tool":"x","args":null})", "`args` must be an object"},
      {R"({"tool":"x","args":{"action":5}})", "`args.action` must be a string"},
      {R"({"tool":"x","args":{"action":null}})", "`args.action` must be a string"},
  };
  for (const auto& [body, message] : cases) {
    EXPECT_EQ(err(RouteId::tools, body), message) << body;
  }
}

TEST(TargetTools, ActionFromArgsOrTopLevel) {
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":"x","action":"list"})").action, "list");
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":"x","args":{"action":"get"}})").action, "get");
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":"x","action":"get","args":{"action":"get"}})").action,
            "get");
  EXPECT_EQ(ok(RouteId::tools, R"({"tool":"x","action":" get","args":{"action":"get "}})").action,
            "get");
  EXPECT_FALSE(ok(RouteId::tools, R"({"tool":"x","args":{}})").action);
  EXPECT_FALSE(ok(RouteId::tools, R"({"tool":"x","action":""})").action);
}

TEST(TargetTools, DisagreeingActionsAreRefused) {
  EXPECT_EQ(err(RouteId::tools, R"({"tool":"x","action":"list","args":{"action":"delete"}})"),
            "`action` and `args.action` disagree");
  // args.action "" is what the tool would get; the top-level action would be ignored.
  EXPECT_EQ(err(RouteId::tools, R"({"tool":"x","action":"list","args":{"action":""}})"),
            "`action` and `args.action` disagree");
}

TEST(TargetTools, AgentFromAgentIdOrSessionKey) {
  Target t = ok(RouteId::tools, R"({"tool":"x"})");
  EXPECT_EQ(t.agent, "main");
  EXPECT_FALSE(t.session);
  t = ok(RouteId::tools, R"({"tool":"x","agentId":"Ops"})");
  EXPECT_EQ(t.agent, "ops");
  EXPECT_FALSE(t.session);
  t = ok(RouteId::tools, R"({"tool":"x","sessionKey":"agent:ops:main"})");
  EXPECT_EQ(t.agent, "ops");
  EXPECT_EQ(t.session, "agent:ops:main");
  t = ok(RouteId::tools, R"({"tool":"x","sessionKey":"agent:OPS:Work:1"})");
  EXPECT_EQ(t.agent, "ops");
  EXPECT_EQ(t.session, "agent:OPS:Work:1");
  t = ok(RouteId::tools, R"({"tool":"x","agentId":"ops","sessionKey":"agent:ops:main"})");
  EXPECT_EQ(t.agent, "ops");
  t = ok(RouteId::tools, R"({"tool":"x","sessionKey":"main"})");
  EXPECT_EQ(t.agent, "main");
  EXPECT_EQ(t.session, "main");
  t = ok(RouteId::tools, R"({"tool":"x","agentId":"ops","sessionKey":"main"})");
  EXPECT_EQ(t.agent, "ops");
  EXPECT_EQ(session_lock_key(t), "ops\nmain");
  // The gateway splits on ':' and drops empty segments.
  t = ok(RouteId::tools, R"({"tool":"x","sessionKey":"agent::ops::main"})");
  EXPECT_EQ(t.agent, "ops");
  t = ok(RouteId::tools, R"({"tool":"x","sessionKey":" agent:ops:main "})");
  EXPECT_EQ(t.agent, "ops");
  EXPECT_EQ(t.session, "agent:ops:main");
  t = ok(RouteId::tools, R"({"tool":"x","sessionKey":"  ","agentId":" "})");
  EXPECT_EQ(t.agent, "main");
  EXPECT_FALSE(t.session);
}

TEST(TargetTools, AgentConflictsAndBadIdsAreRefused) {
  EXPECT_EQ(err(RouteId::tools, R"({"tool":"x","agentId":"beta","sessionKey":"agent:ops:main"})"),
            "`agentId` does not match the agent of `sessionKey`");
  EXPECT_EQ(err(RouteId::tools, R"({"tool":"x","agentId":"bad id"})"),
            "`agentId` is not a valid agent id");
  EXPECT_EQ(err(RouteId::tools, R"({"tool":"x","sessionKey":"agent:bad id:main"})"),
            "`sessionKey` names an invalid agent id");
  EXPECT_EQ(err(RouteId::tools, R"({"tool":"x","sessionKey":"agent:ops"})"),
            "`sessionKey` must have the form agent:<agentId>:<key>");
  EXPECT_EQ(err(RouteId::tools, R"({"tool":"x","sessionKey":"Agent:ops:main"})"),
            "`sessionKey` must have the form agent:<agentId>:<key>");
}

TEST(TargetTools, IgnoresAgentHeadersAndChatFields) {
  // /tools/invoke takes its agent from the body only; chat-only fields are not its business.
  const Target t = ok(RouteId::tools, R"({"tool":"x","messages":5,"model":1,"stream":"x"})",
                      {{"x-openclaw-agent-id", "beta"}, {"x-openclaw-session-key", "s"}});
  EXPECT_EQ(t.agent, "main");
  EXPECT_FALSE(t.session);
  EXPECT_FALSE(t.stream);
}

TEST(TargetTools, DuplicateToolKeyNeverReachesResolution) {
  // The classic differential: strict parsing refuses it before any target is resolved.
  const cj::StrictParse parsed = cj::parse_strict(R"({"tool":"sessions_list","tool":"exec"})");
  EXPECT_FALSE(parsed.value.has_value());
  EXPECT_EQ(parsed.error, R"(duplicate key "tool" at /)");
  const cj::StrictParse nested =
      cj::parse_strict(R"({"tool":"x","args":{"action":"list","action":"delete"}})");
  EXPECT_FALSE(nested.value.has_value());
  EXPECT_EQ(nested.error, R"(duplicate key "action" at /args)");
}

// ---------------------------------------------------------------- models, other

TEST(TargetModels, AlwaysMain) {
  const Target t = ok(RouteId::models, "{}", {{"x-openclaw-agent-id", "beta"}});
  EXPECT_EQ(t.agent, "main");
  EXPECT_FALSE(t.session);
  EXPECT_FALSE(session_lock_key(t));
}

TEST(TargetOther, NonObjectBodyAndNonProxyRoutesAreRefused) {
  EXPECT_EQ(std::get<TargetError>(resolve_target(RouteId::chat, json::array(), {})).message,
            "request body must be a JSON object");
  EXPECT_TRUE(
      std::holds_alternative<TargetError>(resolve_target(RouteId::healthz, json::object(), {})));
}

}  // namespace
}  // namespace clawgate::request
