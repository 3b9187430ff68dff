#include "clawgate/proxy/preview.hpp"

#include <cstdint>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <utility>

#include "clawgate/json/canonical.hpp"
#include "clawgate/json/strict.hpp"

namespace clawgate::proxy {
namespace {

using nlohmann::json;

// One SSE line (or the data of one event) longer than this stops collection for the rest of the
// stream: a preview is a few hundred characters, and a proxy must not buffer without limit.
constexpr std::size_t kMaxLine = std::size_t{1} << 20;

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0U) == 0x80U; }

// Byte length of the first `n` code points of `s` and the number of code points in it. Code
// points are counted by their lead bytes, so the cut always falls before a lead byte and never
// inside a sequence, even a truncated or invalid one.
std::pair<std::size_t, std::size_t> utf8_extent(std::string_view s, std::size_t n) {
  if (n == 0) return {0, 0};
  std::size_t count = 0;
  std::size_t i = 0;
  // Eight bytes at a time while even eight more code points stay within n: a continuation byte
  // (10xxxxxx) has its top bit set and the next one clear.
  constexpr std::uint64_t kHigh = 0x8080808080808080ULL;
  for (; i + 8 <= s.size() && count + 8 <= n; i += 8) {
    std::uint64_t w;
    std::memcpy(&w, s.data() + i, 8);
    // One bit per continuation byte, at the top of its byte; the multiply sums the eight bits
    // into the top byte (no popcnt instruction in a baseline x86-64 build).
    const std::uint64_t continuation = (w & ~(w << 1U) & kHigh) >> 7U;
    count += 8 - static_cast<std::size_t>((continuation * 0x0101010101010101ULL) >> 56U);
  }
  for (; i < s.size(); ++i) {
    if (is_continuation(s[i])) continue;
    if (count == n) return {i, count};
    ++count;
  }
  return {s.size(), count};
}

// The member `key` of `j` when `j` is an object holding it; nullptr otherwise (never throws).
const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  const auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

const json* string_member(const json& j, const char* key) {
  const json* m = member(j, key);
  return m != nullptr && m->is_string() ? m : nullptr;
}

// choices[0] of a chat completion (or chunk), when there is one.
const json* first_choice(const json& doc) {
  const json* choices = member(doc, "choices");
  if (choices == nullptr || !choices->is_array() || choices->empty()) return nullptr;
  return &(*choices)[0];
}

// The top-level members a preview reads, per route: the rest of an answer is validated by the
// parse but not built (for a chat completion: id, model, usage, ...).
constexpr std::string_view kChatMembers[] = {"choices"};
constexpr std::string_view kResponsesMembers[] = {"output", "output_text"};
constexpr std::string_view kToolsMembers[] = {"result"};
// Stream events: an in-band error ends the answer.
constexpr std::string_view kChatEventMembers[] = {"choices", "error"};
constexpr std::string_view kResponsesEventMembers[] = {"delta", "error", "type"};

bool streams_text(http::RouteId route) {
  return route == http::RouteId::chat || route == http::RouteId::responses;
}

}  // namespace

PreviewCollector::PreviewCollector(http::RouteId route, std::size_t max_chars)
    : route_(route), max_chars_(max_chars), stopped_(max_chars == 0) {}

void PreviewCollector::add_text(std::string_view s) {
  found_ = true;
  if (chars_ >= max_chars_) return;
  const auto [bytes, count] = utf8_extent(s, max_chars_ - chars_);
  text_.append(s.substr(0, bytes));
  chars_ += count;
  // Full: whatever follows cannot change the preview, so stop parsing it.
  if (chars_ >= max_chars_) stopped_ = true;
}

void PreviewCollector::add_content(const json& content) {
  if (content.is_string()) {
    add_text(content.get_ref<const std::string&>());
    return;
  }
  if (!content.is_array()) return;
  // Content parts ([{"type":"text","text":"..."}]): the text of each, in order.
  for (const auto& part : content) {
    if (const json* t = string_member(part, "text")) add_text(t->get_ref<const std::string&>());
  }
}

void PreviewCollector::feed_body(std::string_view body) {
  if (stopped_) return;
  std::span<const std::string_view> members;
  switch (route_) {
    case http::RouteId::chat:
      members = kChatMembers;
      break;
    case http::RouteId::responses:
      members = kResponsesMembers;
      break;
    case http::RouteId::tools:
      members = kToolsMembers;
      break;
    default:
      return;
  }
  const std::optional<json> parsed = clawgate::json::parse_lenient(body, members);
  if (!parsed || !parsed->is_object()) return;
  const json& doc = *parsed;

  switch (route_) {
    case http::RouteId::chat: {
      const json* choice = first_choice(doc);
      const json* message = choice != nullptr ? member(*choice, "message") : nullptr;
      const json* content = message != nullptr ? member(*message, "content") : nullptr;
      if (content != nullptr) add_content(*content);
      return;
    }
    case http::RouteId::responses: {
      bool any = false;
      if (const json* output = member(doc, "output"); output != nullptr && output->is_array()) {
        for (const auto& item : *output) {
          const json* content = member(item, "content");
          if (content == nullptr || !content->is_array()) continue;
          for (const auto& part : *content) {
            const json* type = string_member(part, "type");
            const json* t = string_member(part, "text");
            if (type == nullptr || t == nullptr ||
                type->get_ref<const std::string&>() != "output_text") {
              continue;
            }
            add_text(t->get_ref<const std::string&>());
            any = true;
          }
        }
      }
      // The SDK-style convenience field repeats the output's text: only a fallback, or the
      // preview would hold the text twice.
      if (const json* t = string_member(doc, "output_text"); !any && t != nullptr) {
        add_text(t->get_ref<const std::string&>());
      }
      return;
    }
    case http::RouteId::tools: {
      const json* result = member(doc, "result");
      if (result == nullptr) return;
      if (result->is_string()) {
        add_text(result->get_ref<const std::string&>());
      } else {
        // Compact JSON, as nlohmann's dump writes it, by the canonical writer: nlohmann's
        // serializer cost 7,000 instructions more for the benchmark's small tool result.
        std::string text;
        clawgate::json::write_canonical_or_replace(*result, text);
        add_text(text);
      }
      return;
    }
    default:
      return;
  }
}

void PreviewCollector::feed_stream(std::string_view piece) {
  if (stopped_ || piece.empty() || !streams_text(route_)) return;
  scan(piece);
  if (stopped_) {
    // Nothing more will be parsed: give the buffers back now, not when the response ends.
    std::string().swap(line_);
    std::string().swap(data_);
  }
}

void PreviewCollector::scan(std::string_view piece) {
  std::size_t pos = 0;
  // A CR ended the previous piece: an LF right after it belongs to the same line break.
  if (pending_cr_) {
    pending_cr_ = false;
    if (piece.front() == '\n') pos = 1;
  }
  while (pos < piece.size() && !stopped_) {
    const std::size_t eol = piece.find_first_of("\r\n", pos);
    const std::string_view part =
        piece.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    // The cap applies to the whole line wherever the pieces split it, so that the outcome does
    // not depend on how the stream was chunked.
    if (line_.size() + part.size() > kMaxLine) {
      stopped_ = true;
      return;
    }
    if (eol == std::string_view::npos) {
      line_.append(part);
      return;
    }
    if (line_.empty()) {
      process_line(part);
    } else {
      line_.append(part);
      process_line(line_);
      line_.clear();
    }
    pos = eol + 1;
    if (piece[eol] == '\r') {
      if (pos == piece.size()) {
        pending_cr_ = true;
      } else if (piece[pos] == '\n') {
        ++pos;
      }
    }
  }
}

// One complete line, without its terminator (the SSE "interpret a line" steps).
void PreviewCollector::process_line(std::string_view line) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, kBom.size()) == kBom) line.remove_prefix(kBom.size());
  }
  if (line.empty()) {
    dispatch();
    return;
  }
  if (line.front() == ':') return;  // comment
  const std::size_t colon = line.find(':');
  if (line.substr(0, colon) != "data") return;  // event, id, retry and unknown fields
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  // Many data lines in one event add up: the same cap as for one line.
  if (data_.size() + value.size() + 1 > kMaxLine) {
    stopped_ = true;
    return;
  }
  data_.append(value);
  data_.push_back('\n');
}

void PreviewCollector::dispatch() {
  if (data_.empty()) return;  // an event without data lines is not dispatched
  data_.pop_back();           // the LF after the last data line
  handle_event_data(data_);
  data_.clear();
}

void PreviewCollector::handle_event_data(std::string_view data) {
  if (data == "[DONE]") return;
  const std::optional<json> parsed = clawgate::json::parse_lenient(
      data, route_ == http::RouteId::chat
                ? std::span<const std::string_view>(kChatEventMembers)
                : std::span<const std::string_view>(kResponsesEventMembers));
  if (!parsed || !parsed->is_object()) return;
  const json& doc = *parsed;
  // An in-band failure ends the answer; the text relayed before it stays.
  if (member(doc, "error") != nullptr) return;

  if (route_ == http::RouteId::chat) {
    const json* choice = first_choice(doc);
    if (choice == nullptr) return;
    // With several choices, chunks carry each one's index: only the first answer is previewed.
    if (const json* index = member(*choice, "index");
        index != nullptr && index->is_number() && *index != 0) {
      return;
    }
    const json* delta = member(*choice, "delta");
    const json* content = delta != nullptr ? member(*delta, "content") : nullptr;
    if (content != nullptr) add_content(*content);
    return;
  }
  if (route_ == http::RouteId::responses) {
    const json* type = string_member(doc, "type");
    const json* delta = string_member(doc, "delta");
    if (type != nullptr && delta != nullptr &&
        type->get_ref<const std::string&>() == "response.output_text.delta") {
      add_text(delta->get_ref<const std::string&>());
    }
  }
}

std::optional<std::string> PreviewCollector::text() const {
  if (!found_) return std::nullopt;
  return text_;  // add_text never lets it grow past max_chars code points
}

std::string utf8_prefix(std::string_view s, std::size_t max_chars) {
  return std::string(s.substr(0, utf8_extent(s, max_chars).first));
}

}  // namespace clawgate::proxy
