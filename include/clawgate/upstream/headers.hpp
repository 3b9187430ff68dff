#pragma once
// SPEC §2 step 9: the request header rebuild for the upstream, and the response header filter
// for the client. Pure functions over Beast field containers.

#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace clawgate::upstream {

namespace http = boost::beast::http;

// Builds the upstream request's fields from the client's: drops Authorization, Cookie, Proxy-*,
// hop-by-hop headers (and every header named in Connection), X-Forwarded-*, Forwarded,
// X-Real-IP, Host, Content-Length, Expect, Accept-Encoding, X-Clawgate-*, and every x-openclaw-*
// header not in `allowed_openclaw` (lower-case names); then sets Host and the gateway's bearer.
// Adds them to `out` (the upstream request itself, so that no field is copied twice).
void rebuild_request_fields(const http::fields& in,
                            const std::vector<std::string>& allowed_openclaw,
                            std::string_view gateway_token, std::string_view host,
                            http::fields& out);

// Whether a client header will reach the upstream under the rule above (for target resolution:
// a dropped header must not influence the decision).
bool forwards_header(std::string_view lower_name, const std::vector<std::string>& allowed_openclaw);

// Copies an upstream response's fields for the client without hop-by-hop headers and framing
// (Content-Length / Transfer-Encoding are set by the writer), adding them to `out`.
void filter_response_fields(const http::fields& in, http::fields& out);

}  // namespace clawgate::upstream
