#include "clawgate/proxy/preview.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace clawgate::proxy {
namespace {

using http::RouteId;
using namespace std::string_literals;

constexpr std::size_t kBig = 10000;  // a max_chars that never cuts in these tests
constexpr std::size_t kMiB = std::size_t{1} << 20;

// Shapes from openclaw-gateway.md §2 (openclaw 2026.9.6 against a mock LLM).
const std::string kChatBody =
    R"({"id":"chatcmpl_532145fd-8510-4d91-b8cb-ac2618bb376a","object":"chat.completion",)"
    R"("created":1795289251,"model":"openclaw/default","choices":[{"index":0,"message":)"
    R"({"role":"assistant","content":"Hello from the mock LLM."},"finish_reason":"stop"}],)"
    R"("usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})";

std::string chat_chunk(const std::string& delta, const std::string& finish = "null") {
  return R"(data: {"id":"chatcmpl_d6cd","object":"chat.completion.chunk","created":1795289260,)"
         R"("model":"openclaw:main","choices":[{"index":0,"delta":)" +
         delta + R"(,"finish_reason":)" + finish + "}]}\n\n";
}

std::string chat_content_chunk(const std::string& text) {
  return chat_chunk(R"({"content":")" + text + R"("})");
}

const std::string kChatStream =
    chat_chunk(R"({"role":"assistant"})") + chat_content_chunk("Hello") +
    chat_content_chunk(" from") + chat_content_chunk(" the") + chat_content_chunk(" mock") +
    chat_content_chunk(" LLM.") + chat_chunk("{}", R"("stop")") +
    R"(data: {"id":"chatcmpl_d6cd","object":"chat.completion.chunk","created":1795289260,)"
    R"("model":"openclaw:main","choices":[],)"
    R"("usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})"
    "\n\ndata: [DONE]\n\n";

const std::string kResponsesBody =
    R"({"id":"resp_6a5c","object":"response","created_at":1795289263,"status":"completed",)"
    R"("model":"openclaw","output":[{"type":"message","id":"msg_9e18","role":"assistant",)"
    R"("content":[{"type":"output_text","text":"Hello from the mock LLM."}],)"
    R"("phase":"final_answer","status":"completed"}],"usage":{"input_tokens":10,)"
    R"("input_tokens_details":{"cached_tokens":0,"cache_write_tokens":0},"output_tokens":5,)"
    R"("output_tokens_details":{"reasoning_tokens":0},"total_tokens":15}})";

std::string responses_event(const std::string& type, const std::string& rest) {
  return "event: " + type + "\ndata: {\"type\":\"" + type + "\"" + rest + "}\n\n";
}

std::string responses_delta(const std::string& text) {
  return responses_event(
      "response.output_text.delta",
      R"(,"item_id":"msg_9e18","output_index":0,"content_index":0,"delta":")" + text + "\"");
}

const std::string kResponsesStream =
    responses_event("response.created",
                    R"(,"response":{"id":"resp_6a5c","status":"in_progress"})") +
    responses_event("response.in_progress", R"(,"response":{"id":"resp_6a5c"})") +
    responses_event("response.output_item.added",
                    R"(,"output_index":0,"item":{"type":"message","content":[]})") +
    responses_event("response.content_part.added", R"(,"part":{"type":"output_text","text":""})") +
    responses_delta("Hello") + responses_delta(" from") + responses_delta(" the") +
    responses_delta(" mock") + responses_delta(" LLM.") +
    responses_event("response.output_text.done", R"(,"text":"Hello from the mock LLM.")") +
    responses_event("response.content_part.done",
                    R"(,"part":{"type":"output_text","text":"Hello from the mock LLM."})") +
    responses_event("response.output_item.done",
                    R"(,"item":{"type":"message","content":[{"type":"output_text",)"
                    R"("text":"Hello from the mock LLM."}]})") +
    responses_event("response.completed",
                    R"(,"response":{"id":"resp_6a5c","status":"completed","output":[]})") +
    "data: [DONE]\n\n";

std::optional<std::string> from_body(RouteId route, std::string_view body, std::size_t max = kBig) {
  PreviewCollector c(route, max);
  c.feed_body(body);
  return c.text();
}

std::optional<std::string> from_stream(RouteId route, const std::vector<std::string>& pieces,
                                       std::size_t max = kBig) {
  PreviewCollector c(route, max);
  for (const auto& p : pieces) c.feed_stream(p);
  return c.text();
}

std::optional<std::string> from_stream(RouteId route, const std::string& stream,
                                       std::size_t max = kBig) {
  return from_stream(route, std::vector<std::string>{stream}, max);
}

// Feeding the stream split at every byte offset, and one byte at a time, gives `want`.
void expect_split_invariant(RouteId route, const std::string& stream,
                            const std::optional<std::string>& want, std::size_t max = kBig) {
  ASSERT_EQ(from_stream(route, stream, max), want);
  for (std::size_t i = 0; i <= stream.size(); ++i) {
    ASSERT_EQ(from_stream(route, {stream.substr(0, i), stream.substr(i)}, max), want)
        << "split at " << i;
  }
  PreviewCollector c(route, max);
  for (char ch : stream) c.feed_stream(std::string_view(&ch, 1));
  EXPECT_EQ(c.text(), want) << "byte by byte";
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) {
    s.replace(p, from.size(), to);
  }
  return s;
}

// ---------------------------------------------------------------------------------------------

TEST(Utf8Prefix, CountsCodePointsNotBytes) {
  const std::string s = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93";  // "héllo wörld ✓"
  EXPECT_EQ(utf8_prefix(s, 0), "");
  EXPECT_EQ(utf8_prefix(s, 1), "h");
  EXPECT_EQ(utf8_prefix(s, 2), "h\xC3\xA9");
  EXPECT_EQ(utf8_prefix(s, 7), "h\xC3\xA9llo w");
  EXPECT_EQ(utf8_prefix(s, 8), "h\xC3\xA9llo w\xC3\xB6");
  EXPECT_EQ(utf8_prefix(s, 12), "h\xC3\xA9llo w\xC3\xB6rld ");
  EXPECT_EQ(utf8_prefix(s, 13), s);
  EXPECT_EQ(utf8_prefix(s, 100), s);
  EXPECT_EQ(utf8_prefix("", 5), "");
  EXPECT_EQ(utf8_prefix("a\xF0\x9F\x98\x80"
                        "b",
                        2),
            "a\xF0\x9F\x98\x80");  // 4-byte emoji
}

// The cut must not depend on where eight-byte blocks begin: random mixes of ASCII, 2- to
// 4-byte sequences and stray continuation bytes, every limit, against a byte-by-byte count.
TEST(Utf8Prefix, AgreesWithAByteByByteCountAtEveryLimit) {
  static constexpr const char* kPieces[] = {"a",        "bcdefghij",    " ",
                                            "\xC3\xA9", "\xE2\x9C\x93", "\xF0\x9F\x98\x80",
                                            "\x80",     "\xBF\xBF",     "\xE2"};
  std::mt19937 rng(5);
  for (int round = 0; round < 500; ++round) {
    std::string s;
    for (int k = static_cast<int>(rng() % 30); k > 0; --k) s += kPieces[rng() % std::size(kPieces)];
    for (std::size_t limit = 0; limit <= s.size() + 1; ++limit) {
      std::size_t end = 0;
      std::size_t count = 0;
      for (; end < s.size(); ++end) {
        if ((static_cast<unsigned char>(s[end]) & 0xC0U) == 0x80U) continue;
        if (count == limit) break;
        ++count;
      }
      if (limit == 0) end = 0;
      ASSERT_EQ(utf8_prefix(s, limit), s.substr(0, end)) << "limit " << limit << " of " << s;
    }
  }
}

TEST(Utf8Prefix, NeverSplitsTruncatedOrInvalidSequences) {
  const std::string truncated = "ab\xE2\x9C";  // ✓ missing its last byte
  EXPECT_EQ(utf8_prefix(truncated, 2), "ab");
  EXPECT_EQ(utf8_prefix(truncated, 3), truncated);  // kept whole, not cut after \xE2
  // A stray continuation byte stays with the code point before it; the cut is before a lead.
  EXPECT_EQ(utf8_prefix("a\x80\x80"
                        "bc",
                        1),
            "a\x80\x80");
  EXPECT_EQ(utf8_prefix("a\x80\x80"
                        "bc",
                        2),
            "a\x80\x80"
            "b");
  EXPECT_EQ(utf8_prefix("\x80\x80", 0), "");
  EXPECT_EQ(utf8_prefix("\xFF\xFE", 1), "\xFF");
}

// ---------------------------------------------------------------------------------------------

TEST(PreviewChat, NonStreamAssistantContent) {
  EXPECT_EQ(from_body(RouteId::chat, kChatBody), "Hello from the mock LLM.");
}

TEST(PreviewChat, NonStreamContentPartsAreConcatenated) {
  const std::string body =
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":[)"
      R"({"type":"text","text":"Hello "},{"type":"image_url","image_url":{"url":"x"}},)"
      R"({"type":"text","text":"world"}]},"finish_reason":"stop"}]})";
  EXPECT_EQ(from_body(RouteId::chat, body), "Hello world");
}

TEST(PreviewChat, NonStreamOnlyFirstChoice) {
  const std::string body = R"({"choices":[{"index":0,"message":{"content":"first"}},)"
                           R"({"index":1,"message":{"content":"second"}}]})";
  EXPECT_EQ(from_body(RouteId::chat, body), "first");
}

TEST(PreviewChat, NonStreamWithoutTextIsNullopt) {
  // Gateway errors (§1.4) and answers of other shapes.
  EXPECT_EQ(from_body(RouteId::chat,
                      R"({"error":{"message":"upstream provider timeout","type":"api_error"}})"),
            std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, R"({"choices":[]})"), std::nullopt);
  EXPECT_EQ(
      from_body(RouteId::chat, R"({"choices":[{"message":{"role":"assistant","content":null}}]})"),
      std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, R"({"choices":[{"message":{"content":42}}]})"), std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, R"({"choices":"nope"})"), std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, R"(["not","an","object"])"), std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, "Method Not Allowed"), std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, ""), std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, kChatBody.substr(0, kChatBody.size() / 2)), std::nullopt);
}

TEST(PreviewChat, AnInvalidMemberElsewhereInTheAnswerMeansNoPreview) {
  // Only choices is built; the rest of the answer is still checked, as when it was all parsed.
  const std::string choices = R"({"choices":[{"message":{"content":"hi"}}])";
  EXPECT_EQ(from_body(RouteId::chat, choices + R"(,"usage":{"total_tokens":15}})"), "hi");
  EXPECT_EQ(from_body(RouteId::chat, choices + R"(,"usage":{"total_tokens":15,}})"), std::nullopt);
  EXPECT_EQ(from_body(RouteId::chat, choices + R"(,"id":"\ud800"})"), std::nullopt);
  EXPECT_EQ(from_body(RouteId::tools, R"({"ok":true,"result":"r","x":[})"), std::nullopt);
  // A later duplicate of a built member wins, as with nlohmann.
  EXPECT_EQ(from_body(RouteId::chat, choices + R"(,"choices":[{"message":{"content":"later"}}]})"),
            "later");
}

TEST(PreviewChat, ToolCallAnswerHasEmptyText) {
  // §2 "chat with client tool": content "" is text of the expected shape, just empty.
  const std::string body =
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"","tool_calls":[)"
      R"({"id":"24386aaa3","type":"function","function":{"name":"get_weather",)"
      R"("arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}]})";
  EXPECT_EQ(from_body(RouteId::chat, body), "");
}

TEST(PreviewChat, InvalidUtf8BodyDoesNotThrow) {
  const std::string body = R"({"choices":[{"message":{"content":"bad )"
                           "\xC3\x28\xFF"
                           R"("}}]})";
  std::optional<std::string> got;
  ASSERT_NO_THROW(got = from_body(RouteId::chat, body));
  EXPECT_EQ(got, std::nullopt);
}

TEST(PreviewChat, MaxCharsCutsWholeCodePoints) {
  const std::string text = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93";  // "héllo wörld ✓"
  const std::string body = R"({"choices":[{"message":{"content":")" + text + R"("}}]})";
  EXPECT_EQ(from_body(RouteId::chat, body, 2), "h\xC3\xA9");
  EXPECT_EQ(from_body(RouteId::chat, body, 8), "h\xC3\xA9llo w\xC3\xB6");
  EXPECT_EQ(from_body(RouteId::chat, body, 12), "h\xC3\xA9llo w\xC3\xB6rld ");
  EXPECT_EQ(from_body(RouteId::chat, body, 13), text);
  // Escaped in the JSON: the preview holds the decoded characters, counted as such.
  EXPECT_EQ(from_body(RouteId::chat, R"({"choices":[{"message":{"content":"\u00e9\u2713x"}}]})", 2),
            "\xC3\xA9\xE2\x9C\x93");
}

TEST(PreviewChat, MaxCharsZeroCollectsNothing) {
  EXPECT_EQ(from_body(RouteId::chat, kChatBody, 0), std::nullopt);
  EXPECT_EQ(from_stream(RouteId::chat, kChatStream, 0), std::nullopt);
}

// ---------------------------------------------------------------------------------------------

TEST(PreviewChatStream, CollectsDeltasInOrder) {
  EXPECT_EQ(from_stream(RouteId::chat, kChatStream), "Hello from the mock LLM.");
}

TEST(PreviewChatStream, SameResultAtEverySplitPoint) {
  expect_split_invariant(RouteId::chat, kChatStream, "Hello from the mock LLM.");
}

TEST(PreviewChatStream, CrLfAndCrLineEndings) {
  const std::string crlf = replace_all(kChatStream, "\n", "\r\n");
  const std::string cr = replace_all(kChatStream, "\n", "\r");
  expect_split_invariant(RouteId::chat, crlf, "Hello from the mock LLM.");
  expect_split_invariant(RouteId::chat, cr, "Hello from the mock LLM.");
}

TEST(PreviewChatStream, MultiLineDataIsJoinedBeforeParsing) {
  // One JSON document over three data lines; a CRLF split between pieces must not count as two
  // line breaks, or the event would end after its first line.
  for (const std::string& eol : {"\n"s, "\r\n"s, "\r"s}) {
    const std::string stream = "data: {\"choices\":[{\"index\":0," + eol +
                               "data: \"delta\":{\"content\":\"multi\"}" + eol + "data: }]}" + eol +
                               eol + chat_content_chunk(" line");
    expect_split_invariant(RouteId::chat, stream, "multi line");
  }
  // A data line without a space after the colon, and a field without any colon.
  EXPECT_EQ(
      from_stream(RouteId::chat, "data:{\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\ndata\n\n"),
      "x");  // joined data is the JSON plus a trailing LF: still one JSON value
}

TEST(PreviewChatStream, EventDispatchesOnBlankLineOnly) {
  PreviewCollector c(RouteId::chat, kBig);
  const std::string chunk = chat_content_chunk("Hi");
  c.feed_stream(chunk.substr(0, chunk.size() - 1));  // data line complete, no blank line yet
  EXPECT_EQ(c.text(), std::nullopt);
  c.feed_stream("\n");
  EXPECT_EQ(c.text(), "Hi");
}

TEST(PreviewChatStream, IgnoresCommentsEventLinesAndNonJson) {
  const std::string stream =
      "\xEF\xBB\xBF: keep-alive comment\n\n" + chat_chunk(R"({"role":"assistant"})") +
      "event: message\nid: 7\nretry: 1000\n" + chat_content_chunk("A") +
      "data: not json at all\n\n" + "data: \xFF\xFE\n\n" + "data: 12\n\n" + "data: [DONE]\n\n" +
      ": another comment\n" + chat_content_chunk("B") + "\n\n\n";
  expect_split_invariant(RouteId::chat, stream, "AB");
}

TEST(PreviewChatStream, LeadingBomIsIgnored) {
  // SSE: one leading U+FEFF is dropped, so the first line is still a data field.
  const std::string stream = "\xEF\xBB\xBF" + chat_content_chunk("bom");
  expect_split_invariant(RouteId::chat, stream, "bom");
  // Only at the start of the stream: later it is part of the field name.
  EXPECT_EQ(from_stream(RouteId::chat, chat_content_chunk("a") + stream), "a");
}

TEST(PreviewChatStream, ChunksWithoutContentYieldNullopt) {
  const std::string stream =
      chat_chunk(R"({"role":"assistant"})") + chat_chunk("{}", R"("stop")") + "data: [DONE]\n\n";
  EXPECT_EQ(from_stream(RouteId::chat, stream), std::nullopt);
  EXPECT_EQ(from_stream(RouteId::chat, ""), std::nullopt);
}

TEST(PreviewChatStream, ErrorEventKeepsTextSoFar) {
  // §1.4: LLM down while streaming gives a role chunk, an in-band error, then [DONE].
  const std::string error =
      R"(data: {"error":{"message":"upstream provider timeout","type":"api_error"}})"
      "\n\n";
  EXPECT_EQ(from_stream(RouteId::chat,
                        chat_chunk(R"({"role":"assistant"})") + error + "data: [DONE]\n\n"),
            std::nullopt);
  const std::string stream = chat_content_chunk("partial") + error + chat_content_chunk(" more");
  EXPECT_EQ(from_stream(RouteId::chat, stream), "partial more");
  // The error event itself contributes nothing even if it carries choice-like fields.
  EXPECT_EQ(from_stream(RouteId::chat,
                        R"(data: {"error":{"message":"x"},"choices":[{"delta":{"content":"no"}}]})"
                        "\n\n"),
            std::nullopt);
}

TEST(PreviewChatStream, OnlyFirstChoiceIndex) {
  const std::string stream = R"(data: {"choices":[{"index":1,"delta":{"content":"other"}}]})"
                             "\n\n" +
                             chat_content_chunk("mine");
  EXPECT_EQ(from_stream(RouteId::chat, stream), "mine");
}

TEST(PreviewChatStream, DeltaContentParts) {
  const std::string stream =
      R"(data: {"choices":[{"delta":{"content":[{"type":"text","text":"pa"},)"
      R"({"type":"text","text":"rts"}]}}]})"
      "\n\n";
  EXPECT_EQ(from_stream(RouteId::chat, stream), "parts");
}

TEST(PreviewChatStream, MaxCharsCutAcrossDeltas) {
  // "héllo wörld ✓" in deltas of uneven sizes, cut at every length.
  const std::string stream = chat_content_chunk("h\xC3\xA9") + chat_content_chunk("llo w") +
                             chat_content_chunk("\xC3\xB6rld \xE2\x9C\x93") +
                             chat_content_chunk("!");
  const std::string full = "h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93!";
  for (std::size_t n = 1; n <= 16; ++n) {
    EXPECT_EQ(from_stream(RouteId::chat, stream, n), utf8_prefix(full, n)) << n;
  }
  expect_split_invariant(RouteId::chat, stream, "h\xC3\xA9llo w\xC3\xB6", 8);
}

TEST(PreviewChatStream, StopsParsingOnceFull) {
  PreviewCollector c(RouteId::chat, 5);
  c.feed_stream(chat_content_chunk("Hello"));
  EXPECT_EQ(c.text(), "Hello");
  // Anything after a full preview is not even buffered: an over-long line is harmless.
  c.feed_stream("data: " + std::string(3 * kMiB, 'x'));
  c.feed_stream(chat_content_chunk(" world"));
  EXPECT_EQ(c.text(), "Hello");
}

TEST(PreviewChatStream, OverLongLineStopsCollection) {
  const std::string before = chat_content_chunk("kept");
  const std::string huge = "data: {\"pad\":\"" + std::string(kMiB + 10, 'x') + "\"}\n\n";
  const std::string after = chat_content_chunk(" dropped");
  const std::string stream = before + huge + after;
  EXPECT_EQ(from_stream(RouteId::chat, stream), "kept");
  // Same outcome however the relay chunks it.
  for (std::size_t size : {4093u, 65536u, 1000003u}) {
    std::vector<std::string> pieces;
    for (std::size_t i = 0; i < stream.size(); i += size) pieces.push_back(stream.substr(i, size));
    EXPECT_EQ(from_stream(RouteId::chat, pieces), "kept") << size;
  }
  // An over-long line before any text: nothing found at all.
  EXPECT_EQ(from_stream(RouteId::chat, huge + after), std::nullopt);
  // An unterminated over-long line stops collection too.
  PreviewCollector c(RouteId::chat, kBig);
  for (int i = 0; i < 20; ++i) c.feed_stream(std::string(100000, 'y'));
  c.feed_stream("\n\n" + after);
  EXPECT_EQ(c.text(), std::nullopt);
}

TEST(PreviewChatStream, ManyDataLinesInOneEventAreCappedToo) {
  std::string event;
  for (int i = 0; i < 2000; ++i) event += "data: " + std::string(1000, 'z') + "\n";
  const std::string stream = chat_content_chunk("kept") + event + "\n" + chat_content_chunk("!");
  EXPECT_EQ(from_stream(RouteId::chat, stream), "kept");
}

TEST(PreviewChatStream, LongButAllowedLineIsParsed) {
  // A chunk of about 900 KiB is below the cap and still yields its text.
  const std::string stream = R"(data: {"pad":")" + std::string(900 * 1024, 'p') +
                             R"(","choices":[{"delta":{"content":"big"}}]})" + "\n\n";
  std::vector<std::string> pieces;
  for (std::size_t i = 0; i < stream.size(); i += 8192) pieces.push_back(stream.substr(i, 8192));
  EXPECT_EQ(from_stream(RouteId::chat, pieces), "big");
}

TEST(PreviewChatStream, InvalidUtf8InStreamDoesNotThrow) {
  const std::string stream =
      "data: {\"choices\":[{\"delta\":{\"content\":\"\xC0\xAF\"}}]}\n\n"
      "\xFF\xFE\xFD\n\n" +
      chat_content_chunk("ok");
  std::optional<std::string> got;
  ASSERT_NO_THROW(got = from_stream(RouteId::chat, stream));
  EXPECT_EQ(got, "ok");
}

// ---------------------------------------------------------------------------------------------

TEST(PreviewResponses, NonStreamOutputText) {
  EXPECT_EQ(from_body(RouteId::responses, kResponsesBody), "Hello from the mock LLM.");
}

TEST(PreviewResponses, NonStreamConcatenatesOnlyOutputTextParts) {
  const std::string body =
      R"({"output":[{"type":"reasoning","summary":[{"type":"summary_text","text":"think"}]},)"
      R"({"type":"message","content":[{"type":"output_text","text":"one "},)"
      R"({"type":"refusal","refusal":"no"},{"type":"output_text","text":"two"}]},)"
      R"({"type":"function_call","name":"f","arguments":"{}"},)"
      R"({"type":"message","content":[{"type":"output_text","text":" three"}]}],)"
      R"("output_text":"one two three"})";
  EXPECT_EQ(from_body(RouteId::responses, body), "one two three");  // not doubled
}

TEST(PreviewResponses, TopLevelOutputTextIsAFallback) {
  EXPECT_EQ(from_body(RouteId::responses, R"({"output":[],"output_text":"short form"})"),
            "short form");
  EXPECT_EQ(from_body(RouteId::responses, R"({"output_text":"only this"})"), "only this");
}

TEST(PreviewResponses, NonStreamWithoutTextIsNullopt) {
  // §1.5: LLM down gives 408 with a failed response object.
  EXPECT_EQ(from_body(RouteId::responses,
                      R"({"id":"resp_1","object":"response","status":"failed","output":[],)"
                      R"("error":{"code":"api_error","message":"upstream provider timeout"}})"),
            std::nullopt);
  EXPECT_EQ(
      from_body(RouteId::responses,
                R"({"error":{"message":"input: Invalid input","type":"invalid_request_error"}})"),
      std::nullopt);
  // A chat-shaped body on the responses route is not the expected shape.
  EXPECT_EQ(from_body(RouteId::responses, kChatBody), std::nullopt);
}

TEST(PreviewResponses, StreamCollectsOutputTextDeltas) {
  expect_split_invariant(RouteId::responses, kResponsesStream, "Hello from the mock LLM.");
  expect_split_invariant(RouteId::responses, replace_all(kResponsesStream, "\n", "\r\n"),
                         "Hello from the mock LLM.");
}

TEST(PreviewResponses, StreamReliesOnJsonTypeNotEventLine) {
  // Without event lines the JSON type still identifies the deltas.
  const std::string no_event_lines =
      R"(data: {"type":"response.output_text.delta","delta":"no event line"})"
      "\n\n";
  EXPECT_EQ(from_stream(RouteId::responses, no_event_lines), "no event line");
  // An event line claiming a delta does not make another JSON type one.
  const std::string mismatched =
      "event: response.output_text.delta\n"
      R"(data: {"type":"response.output_text.done","delta":"nope","text":"nope"})"
      "\n\n";
  EXPECT_EQ(from_stream(RouteId::responses, mismatched), std::nullopt);
  // Chat chunks on the responses route are not deltas.
  EXPECT_EQ(from_stream(RouteId::responses, kChatStream), std::nullopt);
}

TEST(PreviewResponses, StreamMaxCharsAndFailure) {
  const std::string stream =
      responses_delta("h\xC3\xA9llo ") + responses_delta("w\xC3\xB6rld") +
      responses_event("response.failed", R"(,"response":{"status":"failed","error":)"
                                         R"({"code":"api_error","message":"x"}})") +
      "data: [DONE]\n\n";
  EXPECT_EQ(from_stream(RouteId::responses, stream), "h\xC3\xA9llo w\xC3\xB6rld");
  expect_split_invariant(RouteId::responses, stream, "h\xC3\xA9llo w\xC3\xB6", 8);
}

// ---------------------------------------------------------------------------------------------

TEST(PreviewTools, ResultStringAsIs) {
  EXPECT_EQ(from_body(RouteId::tools, R"({"ok":true,"result":"plain \"text\" r\u00e9sult"})"),
            "plain \"text\" r\xC3\xA9sult");
}

TEST(PreviewTools, ResultObjectAsCompactJson) {
  // §2 tools/invoke sessions_list, trimmed.
  const std::string body =
      R"({"ok":true,"result":{"content":[{"type":"text","text":"{\n  \"count\": 2\n}"}],)"
      R"( "details": {"count": 2, "hasMore": true}}})";
  EXPECT_EQ(from_body(RouteId::tools, body),
            R"({"content":[{"text":"{\n  \"count\": 2\n}","type":"text"}],)"
            R"("details":{"count":2,"hasMore":true}})");
  EXPECT_EQ(from_body(RouteId::tools, R"({"ok":true,"result":[1,2,{"a":null}]})"),
            R"([1,2,{"a":null}])");
  EXPECT_EQ(from_body(RouteId::tools, R"({"ok":true,"result":42})"), "42");
  EXPECT_EQ(from_body(RouteId::tools, R"({"ok":true,"result":{"k":"abcdefgh"}})", 8),
            R"({"k":"ab)");
}

// A non-string result is previewed as the compact JSON nlohmann's dump writes (the canonical
// writer does it): numbers of every kind, escapes, UTF-8, nesting, empty containers.
TEST(PreviewTools, ResultJsonIsWhatNlohmannDumps) {
  const std::vector<std::string> results = {
      R"({"b":1,"a":[true,false,null],"c":{"z":{},"y":[]}})",
      R"([0,-1,18446744073709551615,-9223372036854775808,1.5,-0.0,1e300,3.141592653589793,2.5e-8])",
      R"({"text":"line\nbreak \"quoted\" back\\slash tab\t \u0001 \u001f caf\u00e9 \u20ac \ud83d\ude00"})",
      R"({"k\u00e9y":"v","":"empty key","nested":[[[[{"deep":[1,[2,[3]]]}]]]]})",
      R"(12345)",
      R"(-2.0)",
      R"(true)",
      R"(null)",
  };
  for (const auto& result : results) {
    SCOPED_TRACE(result);
    const std::string body = R"({"ok":true,"result":)" + result + "}";
    const std::string expected = nlohmann::json::parse(result).dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    EXPECT_EQ(from_body(RouteId::tools, body), expected);
  }
}

TEST(PreviewTools, ErrorsAndStreamsYieldNothing) {
  EXPECT_EQ(
      from_body(
          RouteId::tools,
          R"({"ok":false,"error":{"type":"not_found","message":"Tool not available: exec"}})"),
      std::nullopt);
  EXPECT_EQ(
      from_body(RouteId::tools, R"({"error":{"message":"Unauthorized","type":"unauthorized"}})"),
      std::nullopt);
  EXPECT_EQ(from_body(RouteId::tools, "Method Not Allowed"), std::nullopt);
  EXPECT_EQ(from_stream(RouteId::tools, "data: {\"ok\":true,\"result\":\"x\"}\n\n"), std::nullopt);
  EXPECT_EQ(from_stream(RouteId::tools, kChatStream), std::nullopt);
}

TEST(PreviewOtherRoutes, CollectNothing) {
  const std::string models =
      R"({"object":"list","data":[{"id":"openclaw","object":"model","created":0,)"
      R"("owned_by":"openclaw","permission":[]}]})";
  for (RouteId r : {RouteId::models, RouteId::healthz, RouteId::readyz, RouteId::admin_approvals}) {
    EXPECT_EQ(from_body(r, models), std::nullopt);
    EXPECT_EQ(from_body(r, kChatBody), std::nullopt);
    EXPECT_EQ(from_body(r, R"({"ok":true,"result":"x"})"), std::nullopt);
    EXPECT_EQ(from_stream(r, kChatStream), std::nullopt);
  }
}

}  // namespace
}  // namespace clawgate::proxy
