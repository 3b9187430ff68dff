#include "clawgate/json/walk.hpp"

namespace clawgate::json {

void rewrite_strings(nlohmann::json& value, const std::function<void(std::string&)>& rewrite) {
  if (value.is_string()) {
    rewrite(value.get_ref<std::string&>());
  } else if (value.is_array()) {
    for (auto& v : value) rewrite_strings(v, rewrite);
  } else if (value.is_object()) {
    // Keys can hold secrets too; rewriting a key means rebuilding the object.
    nlohmann::json out = nlohmann::json::object();
    for (auto& [k, v] : value.items()) {
      std::string key = k;
      rewrite(key);
      rewrite_strings(v, rewrite);
      out[key] = std::move(v);
    }
    value = std::move(out);
  }
}

}  // namespace clawgate::json
