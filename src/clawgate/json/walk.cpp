#include "clawgate/json/walk.hpp"

#include <vector>

namespace clawgate::json {

void rewrite_strings(nlohmann::json& value, const std::function<void(std::string&)>& rewrite) {
  if (value.is_string()) {
    rewrite(value.get_ref<std::string&>());
  } else if (value.is_array()) {
    for (auto& v : value) rewrite_strings(v, rewrite);
  } else if (value.is_object()) {
    // Keys can hold secrets too. Rewriting a key means rebuilding the object, which costs a
    // copy of every member: do it only when a key actually changes.
    auto& members = value.get_ref<nlohmann::json::object_t&>();
    std::vector<std::string> keys;  // filled once a key changes: the rewritten keys so far
    for (auto& [k, v] : members) {
      std::string key = k;
      rewrite(key);
      if (keys.empty() && key != k) {
        keys.reserve(members.size());
        for (auto it = members.begin(); it->first != k; ++it) keys.push_back(it->first);
      }
      if (!keys.empty() || key != k) keys.push_back(std::move(key));
      rewrite_strings(v, rewrite);
    }
    if (!keys.empty()) {
      nlohmann::json::object_t out;
      std::size_t n = 0;
      for (auto& [k, v] : members) out[std::move(keys[n++])] = std::move(v);
      members = std::move(out);
    }
  }
}

}  // namespace clawgate::json
