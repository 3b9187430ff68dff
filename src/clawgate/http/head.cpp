#include "clawgate/http/head.hpp"

#include <cstddef>

#include "clawgate/core/ascii.hpp"

namespace clawgate::http {
namespace {

// RFC 9110 §5.6.2 tchar.
bool is_tchar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  static constexpr std::string_view kExtra = "!#$%&'*+-.^_`|~";
  return kExtra.find(c) != std::string_view::npos;
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// RFC 3986 origin-form characters: unreserved, sub-delims, ':', '@', '/', '?' and %HH. Nothing
// else (no '#', no spaces, no controls, no raw non-ASCII) so Beast and the gateway cannot read the
// target differently from clawgate.
bool is_target_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  static constexpr std::string_view kAllowed = "-._~!$&'()*+,;=:@/?";
  return kAllowed.find(c) != std::string_view::npos;
}

using core::ascii_iequals;

std::string_view trim_ows(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

HeadCheck refuse(int status, std::string reason) { return HeadCheck{status, std::move(reason)}; }

HeadCheck check_target(std::string_view target) {
  if (target.empty()) return refuse(400, "empty request-target");
  if (target.front() != '/') {
    if (target == "*") return refuse(400, "asterisk-form request-target");
    if (target.find("://") != std::string_view::npos) {
      return refuse(400, "absolute-form request-target");
    }
    return refuse(400, "request-target is not origin-form");
  }
  for (std::size_t i = 0; i < target.size(); ++i) {
    const char c = target[i];
    if (c == '%') {
      if (i + 2 >= target.size() || !is_hex(target[i + 1]) || !is_hex(target[i + 2])) {
        return refuse(400, "bad percent-encoding in request-target");
      }
      i += 2;
      continue;
    }
    if (!is_target_char(c)) return refuse(400, "invalid character in request-target");
  }
  return {};
}

// METHOD SP origin-form SP HTTP/1.x, with exactly one SP between the parts.
HeadCheck check_request_line(std::string_view line, bool& http11) {
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = line.rfind(' ');
  if (sp1 == std::string_view::npos || sp1 == sp2) return refuse(400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty()) return refuse(400, "malformed request line");
  for (char c : method) {
    if (!is_tchar(c)) return refuse(400, "invalid request method");
  }
  if (version == "HTTP/1.1") {
    http11 = true;
  } else if (version == "HTTP/1.0") {
    http11 = false;
  } else {
    return refuse(400, "unsupported HTTP version");
  }
  // A second SP inside the target (e.g. "GET  / HTTP/1.1") lands here as a non-target char.
  return check_target(target);
}

bool all_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

HeadCheck check_request_head(std::string_view head) {
  bool http11 = true;
  bool first = true;
  bool terminated = false;
  int content_length_count = 0;
  int transfer_encoding_count = 0;
  int host_count = 0;
  std::string_view content_length;
  std::string_view transfer_encoding;

  std::size_t pos = 0;
  while (pos < head.size()) {
    const std::size_t lf = head.find('\n', pos);
    if (lf == std::string_view::npos) {
      if (head.find('\r', pos) != std::string_view::npos && head.back() != '\r') {
        return refuse(400, "bare CR in request head");
      }
      break;  // no line end: the head is incomplete
    }
    if (lf == pos || head[lf - 1] != '\r') return refuse(400, "bare LF line ending");
    std::string_view line = head.substr(pos, lf - 1 - pos);
    pos = lf + 1;
    if (line.find('\r') != std::string_view::npos) return refuse(400, "bare CR in request head");

    if (line.empty()) {
      if (first) return refuse(400, "empty request line");
      // The blank line ends the head; bytes after it (if the caller passed any) are the body,
      // which Beast frames from the fields checked here.
      terminated = true;
      break;
    }

    if (first) {
      first = false;
      if (line.find('\0') != std::string_view::npos) return refuse(400, "NUL in request line");
      if (HeadCheck rl = check_request_line(line, http11); !rl.ok()) return rl;
      continue;
    }

    if (line.front() == ' ' || line.front() == '\t') {
      return refuse(400, "obs-fold continuation line");
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) return refuse(400, "header line without colon");
    const std::string_view name = line.substr(0, colon);
    if (name.empty()) return refuse(400, "empty header field name");
    for (char c : name) {
      if (c == ' ' || c == '\t') return refuse(400, "whitespace before colon in header field");
      if (!is_tchar(c)) return refuse(400, "invalid header field name");
    }
    const std::string_view value = trim_ows(line.substr(colon + 1));
    for (char c : value) {
      const auto u = static_cast<unsigned char>(c);
      if (u == 0) return refuse(400, "NUL in header value");
      // obs-text (0x80-0xFF) is allowed; other controls except HTAB are not.
      if ((u < 0x20 && u != '\t') || u == 0x7F) {
        return refuse(400, "control character in header value");
      }
    }

    if (ascii_iequals(name, "content-length")) {
      ++content_length_count;
      content_length = value;
    } else if (ascii_iequals(name, "transfer-encoding")) {
      ++transfer_encoding_count;
      transfer_encoding = value;
    } else if (ascii_iequals(name, "host")) {
      ++host_count;
    }
  }
  if (!terminated) return refuse(400, "incomplete request head");

  if (content_length_count > 1) return refuse(400, "two Content-Length fields");
  if (transfer_encoding_count > 1) return refuse(400, "two Transfer-Encoding fields");
  if (content_length_count == 1 && transfer_encoding_count == 1) {
    return refuse(400, "Content-Length with Transfer-Encoding");
  }
  if (content_length_count == 1) {
    if (content_length.find(',') != std::string_view::npos) {
      return refuse(400, "Content-Length list");
    }
    if (!all_digits(content_length)) return refuse(400, "invalid Content-Length");
    if (content_length.size() > 19) return refuse(400, "Content-Length too large");
  }
  if (transfer_encoding_count == 1) {
    // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    if (!http11) return refuse(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (!ascii_iequals(trim_ows(transfer_encoding), "chunked")) {
      return refuse(501, "unsupported transfer coding");
    }
  }
  if (host_count > 1) return refuse(400, "two Host fields");
  if (http11 && host_count == 0) return refuse(400, "missing Host");
  return {};
}

}  // namespace clawgate::http
