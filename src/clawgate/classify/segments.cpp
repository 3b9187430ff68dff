// segments_for(): which parts of a request body the classifier reads (SPEC §4 "Input").
// The caller has type-checked the body already; shapes we do not know are skipped, never thrown
// on (only non-throwing nlohmann accessors are used).
#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "clawgate/classify/classifier.hpp"

namespace clawgate::classify {
namespace {

using nlohmann::json;

bool in_scope(const std::vector<std::string>& scope, std::string_view role) {
  return std::find(scope.begin(), scope.end(), role) != scope.end();
}

const json* member(const json& obj, const char* key) {
  if (!obj.is_object()) return nullptr;
  const auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

const std::string* string_member(const json& obj, const char* key) {
  const json* v = member(obj, key);
  return v != nullptr && v->is_string() ? v->get_ptr<const std::string*>() : nullptr;
}

bool text_part_type(const json& part) {
  const json* type = member(part, "type");
  if (type == nullptr) return true;
  if (!type->is_string()) return false;
  const auto& t = type->get_ref<const std::string&>();
  return t == "text" || t == "input_text" || t == "output_text";
}

// String content, or the text parts of a content array joined with "\n". False when there is
// no text at all.
bool content_text(const json& content, std::string& out) {
  if (content.is_string()) {
    out = content.get<std::string>();
    return true;
  }
  if (!content.is_array()) return false;
  bool any = false;
  for (const json& part : content) {
    const std::string* text = nullptr;
    if (part.is_string()) {
      text = part.get_ptr<const std::string*>();
    } else if (part.is_object() && text_part_type(part)) {
      text = string_member(part, "text");
    }
    if (text == nullptr) continue;
    if (any) out += '\n';
    out += *text;
    any = true;
  }
  return any;
}

void chat_segments(const json& body, const std::vector<std::string>& scope,
                   std::vector<Segment>& out) {
  const json* messages = member(body, "messages");
  if (messages == nullptr || !messages->is_array()) return;
  for (std::size_t i = 0; i < messages->size(); ++i) {
    const json& msg = (*messages)[i];
    const std::string* role = string_member(msg, "role");
    const json* content = member(msg, "content");
    if (role == nullptr || content == nullptr || !in_scope(scope, *role)) continue;
    std::string text;
    if (content_text(*content, text)) {
      out.push_back({"messages[" + std::to_string(i) + "]", std::move(text)});
    }
  }
}

void responses_segments(const json& body, const std::vector<std::string>& scope,
                        std::vector<Segment>& out) {
  const json* input = member(body, "input");
  if (input == nullptr) return;
  if (input->is_string()) {  // a string counts as a user message
    if (in_scope(scope, "user")) out.push_back({"input", input->get<std::string>()});
    return;
  }
  if (!input->is_array()) return;
  for (std::size_t i = 0; i < input->size(); ++i) {
    const json& item = (*input)[i];
    std::string where = "input[" + std::to_string(i) + "]";
    if (item.is_string()) {
      if (in_scope(scope, "user")) out.push_back({std::move(where), item.get<std::string>()});
      continue;
    }
    if (!item.is_object()) continue;
    // Messages only; function calls, their outputs and other item types carry no user text.
    const json* type = member(item, "type");
    if (type != nullptr &&
        (!type->is_string() || type->get_ref<const std::string&>() != "message")) {
      continue;
    }
    const json* role_value = member(item, "role");
    std::string role = "user";
    if (role_value != nullptr) {
      if (!role_value->is_string()) continue;
      role = role_value->get<std::string>();
    }
    const json* content = member(item, "content");
    if (content == nullptr || !in_scope(scope, role)) continue;
    std::string text;
    if (content_text(*content, text)) out.push_back({std::move(where), std::move(text)});
  }
}

// `instructions` counts as a system message.
void instructions_segment(const json& body, const std::vector<std::string>& scope,
                          std::vector<Segment>& out) {
  const std::string* instructions = string_member(body, "instructions");
  if (instructions != nullptr && in_scope(scope, "system")) {
    out.push_back({"instructions", *instructions});
  }
}

// RFC 6901: '~' → "~0", '/' → "~1".
void append_token(std::string& pointer, std::string_view token) {
  pointer += '/';
  for (const char c : token) {
    if (c == '~') {
      pointer += "~0";
    } else if (c == '/') {
      pointer += "~1";
    } else {
      pointer += c;
    }
  }
}

// Every key and string value under `args`, pre-order (a key, then its value), with an
// explicit stack so deep nesting cannot exhaust the call stack.
void args_segments(const json& args, std::vector<Segment>& out) {
  struct Item {
    const json* value;
    std::string pointer;
    const std::string* key;  // reported at the value's pointer, before the value
  };
  std::vector<Item> stack;
  stack.push_back({&args, "/args", nullptr});
  while (!stack.empty()) {
    Item item = std::move(stack.back());
    stack.pop_back();
    if (item.key != nullptr) out.push_back({item.pointer, *item.key});
    const json& v = *item.value;
    if (v.is_string()) {
      out.push_back({std::move(item.pointer), v.get<std::string>()});
    } else if (v.is_object()) {
      // Pushed in reverse so they pop in the object's (sorted) key order.
      const std::size_t first = stack.size();
      for (auto it = v.begin(); it != v.end(); ++it) {
        std::string pointer = item.pointer;
        append_token(pointer, it.key());
        stack.push_back({&it.value(), std::move(pointer), &it.key()});
      }
      std::reverse(stack.begin() + static_cast<std::ptrdiff_t>(first), stack.end());
    } else if (v.is_array()) {
      for (std::size_t k = v.size(); k-- > 0;) {
        stack.push_back({&v[k], item.pointer + "/" + std::to_string(k), nullptr});
      }
    }
  }
}

void tools_segments(const json& body, std::vector<Segment>& out) {
  const std::string* name = string_member(body, "name");
  if (name == nullptr) name = string_member(body, "tool");
  if (name != nullptr) out.push_back({"tool", *name});
  if (const std::string* action = string_member(body, "action")) out.push_back({"action", *action});
  const json* args = member(body, "args");
  if (args == nullptr) return;
  if (const std::string* action = string_member(*args, "action")) {
    out.push_back({"action", *action});
  }
  args_segments(*args, out);
}

}  // namespace

std::vector<Segment> segments_for(std::string_view route, const nlohmann::json& body,
                                  const std::vector<std::string>& scope) {
  std::vector<Segment> out;
  if (route == "chat") {
    chat_segments(body, scope, out);
  } else if (route == "responses") {
    responses_segments(body, scope, out);
    instructions_segment(body, scope, out);
  } else if (route == "tools") {
    tools_segments(body, out);
  }
  return out;
}

}  // namespace clawgate::classify
