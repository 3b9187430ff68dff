#pragma once
// Rewrites every string of a JSON document in place, object keys included (redaction).

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace clawgate::json {

void rewrite_strings(nlohmann::json& value, const std::function<void(std::string&)>& rewrite);

}  // namespace clawgate::json
