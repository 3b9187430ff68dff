#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "clawgate/classify/classifier.hpp"

namespace clawgate::classify {
namespace {

using nlohmann::json;

// "where=text" per segment, in order.
std::vector<std::string> flat(const std::vector<Segment>& segs) {
  std::vector<std::string> out;
  for (const auto& s : segs) out.push_back(s.where + "=" + s.text);
  return out;
}

std::vector<std::string> segs(std::string_view route, const char* body,
                              std::vector<std::string> scope = {"user"}) {
  return flat(segments_for(route, json::parse(body), scope));
}

using V = std::vector<std::string>;

TEST(Segments, ChatUserMessagesByDefault) {
  const char* body = R"({"model":"openclaw:main","messages":[
      {"role":"system","content":"you are helpful"},
      {"role":"user","content":"wire money"},
      {"role":"assistant","content":"no"},
      {"role":"user","content":[{"type":"text","text":"part one"},
                                {"type":"image_url","image_url":{"url":"http://x/y"}},
                                {"text":"part two"},
                                {"type":"text","text":42}]},
      {"role":"user","content":null},
      {"content":"no role"},
      {"role":"user","content":[{"type":"image_url","image_url":{"url":"u"}}]}]})";
  EXPECT_EQ(segs("chat", body), (V{"messages[1]=wire money", "messages[3]=part one\npart two"}));
}

TEST(Segments, ChatScopeIncludesSystem) {
  const char* body = R"({"messages":[{"role":"system","content":"sys"},
      {"role":"user","content":"hi"},{"role":"tool","content":"out"}]})";
  EXPECT_EQ(segs("chat", body, {"user", "system"}), (V{"messages[0]=sys", "messages[1]=hi"}));
  EXPECT_EQ(segs("chat", body, {"tool"}), (V{"messages[2]=out"}));
  EXPECT_EQ(segs("chat", body, {}), V{});
}

TEST(Segments, ResponsesStringInputIsAUserMessage) {
  EXPECT_EQ(segs("responses", R"({"input":"wire money","instructions":"be brief"})"),
            (V{"input=wire money"}));
  EXPECT_EQ(
      segs("responses", R"({"input":"wire money","instructions":"be brief"})", {"user", "system"}),
      (V{"input=wire money", "instructions=be brief"}));
  EXPECT_EQ(segs("responses", R"({"input":"wire money","instructions":"be brief"})", {"system"}),
            (V{"instructions=be brief"}));
}

TEST(Segments, ResponsesInputItems) {
  const char* body = R"({"input":[
      "plain string",
      {"role":"user","content":"string content"},
      {"type":"message","role":"user","content":[{"type":"input_text","text":"a"},
                                                 {"type":"input_image","image_url":"x"},
                                                 {"type":"input_text","text":"b"}]},
      {"role":"assistant","content":"assistant says"},
      {"type":"function_call_output","call_id":"c1","output":"tool output"},
      {"content":[{"type":"input_text","text":"no role means user"}]},
      {"type":"message","role":"system","content":"sys item"},
      42]})";
  EXPECT_EQ(segs("responses", body), (V{"input[0]=plain string", "input[1]=string content",
                                        "input[2]=a\nb", "input[5]=no role means user"}));
  EXPECT_EQ(segs("responses", body, {"system"}), (V{"input[6]=sys item"}));
}

TEST(Segments, ToolsNameActionAndArgs) {
  const char* body = R"({"tool":"ignored","name":"web_fetch","action":"get",
      "args":{"url":"https://x.example.com/a","action":"fetch","n":3,"ok":true,
              "items":[{"name":"first"},"second",null],"a/b":"slash","m~n":"tilde"}})";
  EXPECT_EQ(segs("tools", body),
            (V{"tool=web_fetch", "action=get", "action=fetch", "/args/a~1b=a/b", "/args/a~1b=slash",
               "/args/action=action", "/args/action=fetch", "/args/items=items",
               "/args/items/0/name=name", "/args/items/0/name=first", "/args/items/1=second",
               "/args/m~0n=m~n", "/args/m~0n=tilde", "/args/n=n", "/args/ok=ok", "/args/url=url",
               "/args/url=https://x.example.com/a"}));
}

TEST(Segments, ToolsWithToolField) {
  EXPECT_EQ(segs("tools", R"({"tool":"sessions_list"})"), (V{"tool=sessions_list"}));
  EXPECT_EQ(segs("tools", R"({"tool":"exec","args":{"cmd":"rm -rf /"}})"),
            (V{"tool=exec", "/args/cmd=cmd", "/args/cmd=rm -rf /"}));
}

TEST(Segments, ScopeDoesNotApplyToTools) {
  EXPECT_EQ(segs("tools", R"({"tool":"exec"})", {}), (V{"tool=exec"}));
}

TEST(Segments, ModelsAndUnknownRoutesHaveNone) {
  EXPECT_EQ(segs("models", R"({"input":"x","messages":[{"role":"user","content":"y"}]})"), V{});
  EXPECT_EQ(segs("other", R"({"input":"x"})"), V{});
}

TEST(Segments, UnknownShapesAreSkipped) {
  for (const char* body : {R"([1,2])", R"("text")", R"(null)", R"({"messages":"x"})",
                           R"({"messages":[1,"x",[],{"role":7,"content":"x"}]})",
                           R"({"input":{"a":1}})", R"({"input":[{"type":7,"content":"x"}]})",
                           R"({"name":5,"action":[],"args":"str"})", R"({"args":[{"k":"v"}]})"}) {
    for (const char* route : {"chat", "responses", "tools", "models"}) {
      EXPECT_NO_THROW((void)segments_for(route, json::parse(body), {"user", "system"}))
          << route << " " << body;
    }
  }
  EXPECT_EQ(segs("tools", R"({"name":5,"args":"str"})"), (V{"/args=str"}));
}

TEST(Segments, FeedTheClassifier) {
  Spec spec;
  spec.red.terms = {"wire money"};
  spec.amber.terms = {"approv*"};
  auto built = Classifier::build(spec);
  ASSERT_TRUE(std::holds_alternative<ClassifierPtr>(built));
  const auto& c = std::get<ClassifierPtr>(built);
  const json body = json::parse(R"({"messages":[{"role":"system","content":"approve nothing"},
      {"role":"user","content":[{"type":"text","text":"please"},
                                {"type":"text","text":"wire money"}]}]})");
  const Result r = c->classify(segments_for("chat", body, spec.scope));
  EXPECT_EQ(r.risk, Tier::red);
  EXPECT_EQ(r.matches, (std::vector<Match>{{Tier::red, "wire money", "messages[1]"}}));
  const Result both = c->classify(segments_for("chat", body, {"user", "system"}));
  EXPECT_EQ(both.matches.size(), 2u);
  EXPECT_EQ(both.matches.back().where, "messages[0]");
}

}  // namespace
}  // namespace clawgate::classify
