#include "clawgate/http/errors.hpp"

namespace clawgate::http {

std::string_view error_family(int status) {
  switch (status) {
    case 400:
    case 404:
    case 405:
    case 413:
    case 431:
    case 501:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return "api_error";
  }
}

std::string error_body(ErrorShape shape, int status, std::string_view code,
                       std::string_view message, std::string_view trace_id,
                       const nlohmann::json& extra) {
  nlohmann::json error = nlohmann::json::object();
  // Extras first, so they can never overwrite the fields clients rely on.
  if (extra.is_object()) {
    for (const auto& [key, value] : extra.items()) error[key] = value;
  }
  error["message"] = std::string(message);
  error["trace_id"] = std::string(trace_id);
  nlohmann::json body = nlohmann::json::object();
  if (shape == ErrorShape::tools) {
    error["type"] = std::string(code);
    body["ok"] = false;
  } else {
    error["type"] = std::string(error_family(status));
    error["code"] = std::string(code);
  }
  body["error"] = std::move(error);
  // Messages may quote client input; replace invalid UTF-8 instead of throwing.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace clawgate::http
