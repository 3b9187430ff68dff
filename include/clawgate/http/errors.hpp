#pragma once
// Error bodies in the two shapes the gateway uses (SPEC §2 "Error bodies"), so clients that
// already talk to OpenClaw parse clawgate's refusals without changes.

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace clawgate::http {

enum class ErrorShape {
  openai,  // {"error":{"message","type":<family>,"code","trace_id",...extra}}
  tools,   // {"ok":false,"error":{"type":<code>,"message","trace_id",...extra}}
};

// The OpenAI error family for a status: invalid_request_error (400, 404, 405, 413, 431, 501),
// authentication_error (401), permission_error (403), rate_limit_error (429), api_error (else).
std::string_view error_family(int status);

// `extra` (an object or null) is merged inside "error": rule, reason, approval_id, retry_after_s.
std::string error_body(ErrorShape shape, int status, std::string_view code, std::string_view message,
                       std::string_view trace_id, const nlohmann::json& extra = nullptr);

}  // namespace clawgate::http
