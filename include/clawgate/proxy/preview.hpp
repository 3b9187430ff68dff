#pragma once
// completed.preview (SPEC §7): the start of the answer's text, collected while the response is
// relayed: the assistant text for chat and responses (from a JSON body or from the SSE deltas of
// a stream), the `result` of a tool call. The caller redacts it and cuts it to preview_chars.

#include <cstddef>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "clawgate/http/routes.hpp"

namespace clawgate::proxy {

class PreviewCollector {
 public:
  // Collects at most `max_chars` code points of text (the caller passes preview_chars plus a
  // margin, so that redaction sees whole secrets before the cut). max_chars = 0 collects nothing.
  PreviewCollector(http::RouteId route, std::size_t max_chars);

  // The whole body of a non-stream response (JSON; anything else yields no preview).
  void feed_body(std::string_view body);
  // One piece of an SSE stream exactly as relayed: events and lines may be split anywhere across
  // pieces. Memory stays bounded whatever the stream holds (an over-long line stops collection).
  void feed_stream(std::string_view piece);

  // The text collected so far (never more than max_chars code points, never a split code point);
  // nullopt when the response held no text of the expected shape.
  std::optional<std::string> text() const;

 private:
  void add_text(std::string_view s);
  void add_content(const nlohmann::json& content);
  void scan(std::string_view piece);
  void process_line(std::string_view line);
  void dispatch();
  void handle_event_data(std::string_view data);

  http::RouteId route_;
  std::size_t max_chars_;
  std::size_t chars_ = 0;
  bool found_ = false;
  bool stopped_ = false;
  std::string text_;
  std::string line_;         // the incomplete SSE line carried over between pieces
  std::string data_;         // the data lines of the current event, each followed by LF
  bool pending_cr_ = false;  // the last piece ended with CR: a leading LF is part of it
  bool first_line_ = true;   // a UTF-8 BOM before the first line is ignored
};

// The first `max_chars` code points of UTF-8 `s` (never splitting a code point).
std::string utf8_prefix(std::string_view s, std::size_t max_chars);

}  // namespace clawgate::proxy
