#pragma once
// Strict validation of a raw HTTP/1.x request head, before Beast parses it. Beast alone accepts
// things a smuggling-safe proxy must refuse (two equal Content-Lengths, Transfer-Encoding values
// without chunked, obs-fold continuation lines), so clawgate checks the bytes itself first.

#include <string>
#include <string_view>

namespace clawgate::http {

struct HeadCheck {
  int status = 0;      // 0 = acceptable; 400 malformed framing; 501 unsupported transfer coding
  std::string reason;  // for the client and the audit log, e.g. "obs-fold continuation line"
  bool ok() const { return status == 0; }
};

// `head` is everything up to and including the blank line ("\r\n\r\n"). Refuses (400):
// a request line that is not `METHOD SP origin-form SP HTTP/1.0|HTTP/1.1` (absolute-form,
// authority-form and `*` included); bare LF or CR line endings; NUL, CR or LF inside a value;
// obs-fold (a line starting with SP or HTAB); a field name that is empty or not a token, or
// whitespace before the colon; more than one Content-Length, or one that is not all digits;
// Content-Length together with any Transfer-Encoding; more than one Transfer-Encoding field;
// an HTTP/1.1 request without exactly one Host. Answers 501 for a Transfer-Encoding other than
// exactly `chunked` (case-insensitive, surrounding whitespace allowed).
HeadCheck check_request_head(std::string_view head);

}  // namespace clawgate::http
