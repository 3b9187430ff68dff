#include "clawgate/policy/policy.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string_view>
#include <utility>

#include "clawgate/core/crypto.hpp"
#include "clawgate/json/strict.hpp"

namespace clawgate::policy {

namespace {

using nlohmann::json;

// Thrown inside this file only; parse_policy turns it into a LoadError.
struct Fail {
  std::string message;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Fail{where + ": " + what};
}

// JSON-escaped, so odd bytes in a value cannot forge or garble a log line.
std::string quote_str(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string join(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

constexpr std::size_t kMaxPolicyBytes = 16U * 1024U * 1024U;
constexpr std::array<std::string_view, 4> kRoutes = {"chat", "responses", "tools", "models"};
constexpr std::string_view kNotYet = "not supported yet by this build";

char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ascii_lower(std::string s) {
  for (auto& c : s) c = ascii_lower(c);
  return s;
}

// `*` matches any run of characters (including none); everything else is literal. Iterative with
// one backtrack point, so time is O(len(pattern) * len(value)) at worst, never exponential.
bool glob_match(std::string_view pat, std::string_view s, bool ci) {
  const auto eq = [ci](char a, char b) { return ci ? ascii_lower(a) == ascii_lower(b) : a == b; };
  std::size_t p = 0;
  std::size_t i = 0;
  std::size_t star = std::string_view::npos;
  std::size_t mark = 0;
  while (i < s.size()) {
    if (p < pat.size() && pat[p] == '*') {
      star = p++;
      mark = i;
    } else if (p < pat.size() && eq(pat[p], s[i])) {
      ++p;
      ++i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pat.size() && pat[p] == '*') ++p;
  return p == pat.size();
}

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

// ---- loading ---------------------------------------------------------------------------------

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  PolicyPtr load(std::string_view text) {
    auto parsed = clawgate::json::parse_strict(text);
    if (!parsed.value) throw Fail{source_ + ": invalid JSON: " + parsed.error};
    const json& root = *parsed.value;
    if (!root.is_object()) throw Fail{source_ + ": the top level must be a JSON object"};

    for (const auto& item : root.items()) {
      const std::string& k = item.key();
      if (k == "classifier" || k == "chat" || k == "redact") fail(top(k), std::string(kNotYet));
      static constexpr std::array<std::string_view, 6> kKnown = {
          "version", "name", "mode", "default_decision", "forward_headers", "rules"};
      if (std::find(kKnown.begin(), kKnown.end(), k) == kKnown.end()) fail(top(k), "unknown key");
    }

    auto policy = std::make_shared<Policy>();
    policy->source = source_;
    policy->sha256 = core::sha256_hex(text);

    const json* version = member(root, "version");
    if (version == nullptr) fail(top("version"), "required (must be 1)");
    // Only the integer 1: not "1", 1.0 or a 64-bit value that wraps to 1.
    if (!version->is_number_unsigned() || version->get<std::uint64_t>() != 1) {
      fail(top("version"), "must be 1");
    }
    policy->version = 1;

    if (const json* j = member(root, "name")) {
      if (!j->is_string()) fail(top("name"), "must be a string");
      policy->name = j->get<std::string>();
      if (has_control(policy->name)) fail(top("name"), "must not contain control characters");
    }
    if (const json* j = member(root, "mode")) read_mode(*j, top("mode"));
    if (const json* j = member(root, "default_decision")) {
      policy->default_decision = read_decision(*j, top("default_decision"));
    }
    if (const json* j = member(root, "forward_headers")) {
      policy->forward_headers_allow = read_forward_headers(*j);
    }

    const json* rules = member(root, "rules");
    if (rules == nullptr) fail(top("rules"), "required (an array of rules)");
    if (!rules->is_array()) fail(top("rules"), "must be an array");
    std::map<std::string, std::size_t> ids;
    for (std::size_t i = 0; i < rules->size(); ++i) {
      Rule rule = read_rule((*rules)[i], i);
      if (auto [it, inserted] = ids.emplace(rule.id, i); !inserted) {
        fail(rule_where(i, rule.id) + ": id",
             "duplicate id (also rules[" + std::to_string(it->second) + "])");
      }
      policy->rules.push_back(std::move(rule));
    }
    return policy;
  }

 private:
  static const json* member(const json& obj, const char* key) {
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  std::string top(std::string_view key) const { return source_ + ": " + std::string(key); }

  std::string rule_where(std::size_t i, const std::string& id) const {
    std::string w = source_ + ": rules[" + std::to_string(i) + "]";
    if (!id.empty()) w += " (id " + quote_str(id) + ")";
    return w;
  }

  static void read_mode(const json& v, const std::string& where) {
    if (!v.is_string()) fail(where, "must be a string (\"enforce\")");
    const auto mode = v.get<std::string>();
    if (mode == "monitor") fail(where, "\"monitor\" is " + std::string(kNotYet));
    if (mode != "enforce") fail(where, "must be \"enforce\" (or \"monitor\", not supported yet)");
  }

  static Decision read_decision(const json& v, const std::string& where) {
    static const std::string kChoices = "must be \"allow\", \"deny\" or \"approve\"";
    if (!v.is_string()) fail(where, kChoices);
    const auto d = v.get<std::string>();
    if (d == "allow") return Decision::allow;
    if (d == "deny") return Decision::deny;
    if (d == "approve") return Decision::approve;
    fail(where, kChoices);
  }

  std::vector<std::string> read_forward_headers(const json& v) const {
    const std::string where = top("forward_headers");
    if (!v.is_object()) fail(where, "must be an object ({\"allow\": [header names]})");
    for (const auto& item : v.items()) {
      if (item.key() != "allow") fail(where + "." + item.key(), "unknown key");
    }
    std::vector<std::string> out;
    const json* allow = member(v, "allow");
    if (allow == nullptr) return out;
    if (!allow->is_array()) fail(where + ".allow", "must be an array of header names");
    for (std::size_t i = 0; i < allow->size(); ++i) {
      const std::string w = where + ".allow[" + std::to_string(i) + "]";
      const json& h = (*allow)[i];
      if (!h.is_string()) fail(w, "must be a string");
      const std::string name = ascii_lower(h.get<std::string>());
      constexpr std::string_view kPrefix = "x-openclaw-";
      // Only gateway routing headers may pass; everything else is rebuilt or dropped by the proxy.
      const bool token_chars = std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
      });
      if (name.size() <= kPrefix.size() || name.compare(0, kPrefix.size(), kPrefix) != 0 ||
          !token_chars) {
        fail(w,
             "must be a header name starting with \"x-openclaw-\" (letters, digits, '-'; no "
             "globs; got " +
                 quote_str(h.get<std::string>()) + ")");
      }
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    return out;
  }

  Rule read_rule(const json& v, std::size_t i) const {
    Rule rule;
    if (!v.is_object()) fail(rule_where(i, ""), "must be an object");
    // The id comes first so every later message can name it.
    const json* id = member(v, "id");
    if (id == nullptr) fail(rule_where(i, "") + ": id", "required");
    if (!id->is_string() || id->get<std::string>().empty()) {
      fail(rule_where(i, "") + ": id", "must be a non-empty string");
    }
    rule.id = id->get<std::string>();
    if (has_control(rule.id))
      fail(rule_where(i, "") + ": id", "must not contain control characters");
    const std::string where = rule_where(i, rule.id);

    for (const auto& item : v.items()) {
      const std::string& k = item.key();
      if (k == "rate_limit") fail(where + ": rate_limit", std::string(kNotYet));
      if (k != "id" && k != "match" && k != "decision" && k != "reason" && k != "mode") {
        fail(where + ": " + k, "unknown key");
      }
    }
    if (const json* j = member(v, "mode")) read_mode(*j, where + ": mode");
    const json* match = member(v, "match");
    if (match == nullptr) fail(where + ": match", "required (use {} to match every request)");
    rule.match = read_match(*match, where);
    const json* decision = member(v, "decision");
    if (decision == nullptr) fail(where + ": decision", "required");
    rule.decision = read_decision(*decision, where + ": decision");
    if (const json* j = member(v, "reason")) {
      if (!j->is_string()) fail(where + ": reason", "must be a string");
      rule.reason = j->get<std::string>();
    }
    return rule;
  }

  static Match read_match(const json& v, const std::string& where) {
    if (!v.is_object()) fail(where + ": match", "must be an object");
    Match m;
    for (const auto& item : v.items()) {
      const std::string& k = item.key();
      const std::string w = where + ": " + join("match", k);
      const json& val = item.value();
      if (k == "risk" || k == "args" || k == "text") fail(w, std::string(kNotYet));
      if (k == "route") {
        m.route = read_pattern(val, w, false);
        check_routes(*m.route, w);
      } else if (k == "identity") {
        m.identity = read_pattern(val, w, false);
      } else if (k == "roles") {
        m.roles = read_pattern(val, w, false);
      } else if (k == "agent") {
        m.agent = read_pattern(val, w, false);
      } else if (k == "session") {
        m.session = read_pattern(val, w, false);
      } else if (k == "tool") {
        m.tool = read_pattern(val, w, true);
        fold_tool_aliases(*m.tool);
      } else if (k == "action") {
        m.action = read_pattern(val, w, false);
      } else {
        fail(w, "unknown key");
      }
    }
    return m;
  }

  static Pattern read_pattern(const json& v, const std::string& where, bool case_insensitive) {
    static const std::string kType = "must be a string or an array of strings";
    Pattern p;
    p.case_insensitive = case_insensitive;
    if (v.is_string()) {
      p.alternatives.push_back(v.get<std::string>());
    } else if (v.is_array()) {
      if (v.empty()) fail(where, "must not be an empty array (it could never match)");
      for (const auto& e : v) {
        if (!e.is_string()) fail(where, kType);
        p.alternatives.push_back(e.get<std::string>());
      }
    } else {
      fail(where, kType);
    }
    for (auto& a : p.alternatives) {
      if (a.empty()) fail(where, "must not contain an empty string");
      if (case_insensitive) a = ascii_lower(a);
    }
    return p;
  }

  // A literal that is not a route is a typo ("tool" for "tools") that would silently never match.
  static void check_routes(const Pattern& p, const std::string& where) {
    for (const auto& a : p.alternatives) {
      const bool hits = std::any_of(kRoutes.begin(), kRoutes.end(),
                                    [&a](std::string_view r) { return glob_match(a, r, false); });
      if (!hits) {
        fail(where, quote_str(a) + " matches no route (chat, responses, tools, models)");
      }
    }
  }

  // The request side folds the gateway's aliases (bash→exec, cron→automations); fold the policy
  // side too, so `"tool": "bash"` still governs the tool the gateway will run.
  static void fold_tool_aliases(Pattern& p) {
    for (auto& a : p.alternatives) {
      if (a == "bash") a = "exec";
      if (a == "cron") a = "automations";
    }
  }

  std::string source_;
};

std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw Fail{path + ": cannot read policy file: " + std::strerror(errno)};
  std::string text;
  char buf[65536];
  int err = 0;
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      err = errno;
      break;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
    if (text.size() > kMaxPolicyBytes) {
      ::close(fd);
      throw Fail{path + ": cannot read policy file: larger than " +
                 std::to_string(kMaxPolicyBytes) + " bytes"};
    }
  }
  ::close(fd);
  if (err != 0) throw Fail{path + ": cannot read policy file: " + std::strerror(err)};
  return text;
}

// ---- evaluation ------------------------------------------------------------------------------

// A condition on a value the request lacks does not hold.
bool holds(const std::optional<Pattern>& p, const std::optional<std::string>& value) {
  if (!p) return true;
  if (!value) return false;
  return p->matches(*value);
}

bool holds(const std::optional<Pattern>& p, const std::string& value) {
  if (!p) return true;
  if (value.empty()) return false;
  return p->matches(value);
}

bool matches(const Match& m, const Input& in) {
  if (!holds(m.route, in.route) || !holds(m.identity, in.identity) || !holds(m.agent, in.agent) ||
      !holds(m.session, in.session) || !holds(m.tool, in.tool) || !holds(m.action, in.action)) {
    return false;
  }
  if (m.roles) {
    const bool any = std::any_of(in.roles.begin(), in.roles.end(),
                                 [&m](const std::string& r) { return m.roles->matches(r); });
    if (!any) return false;
  }
  return true;
}

}  // namespace

std::string_view to_string(Decision d) {
  switch (d) {
    case Decision::allow:
      return "allow";
    case Decision::deny:
      return "deny";
    case Decision::approve:
      return "approve";
  }
  return "deny";
}

bool Pattern::matches(std::string_view value) const {
  return std::any_of(alternatives.begin(), alternatives.end(),
                     [&](const std::string& a) { return glob_match(a, value, case_insensitive); });
}

std::variant<PolicyPtr, LoadError> parse_policy(std::string_view text, const std::string& source) {
  try {
    return Loader(source).load(text);
  } catch (const Fail& f) {
    return LoadError{f.message};
  } catch (const std::exception& e) {
    return LoadError{source + ": " + e.what()};
  } catch (...) {
    return LoadError{source + ": unexpected error while loading the policy"};
  }
}

std::variant<PolicyPtr, LoadError> load_policy_file(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const Fail& f) {
    return LoadError{f.message};
  } catch (const std::exception& e) {
    return LoadError{path + ": cannot read policy file: " + e.what()};
  }
  return parse_policy(text, path);
}

Verdict evaluate(const Policy& policy, const Input& input) {
  std::vector<const Rule*> hit;
  for (const auto& rule : policy.rules) {
    if (matches(rule.match, input)) hit.push_back(&rule);
  }
  // Sorting by id (unique) makes the verdict independent of the order in the file.
  std::sort(hit.begin(), hit.end(), [](const Rule* a, const Rule* b) { return a->id < b->id; });

  Verdict v;
  for (const Rule* r : hit) v.rules.push_back(r->id);
  const auto any = [&hit](Decision d) {
    return std::any_of(hit.begin(), hit.end(), [d](const Rule* r) { return r->decision == d; });
  };
  if (hit.empty()) {
    v.decision = policy.default_decision;
    v.reason = "no rule matched; default_decision is " + std::string(to_string(v.decision));
    return v;
  }
  // Deny overrides approve, which overrides allow.
  v.decision = any(Decision::deny)      ? Decision::deny
               : any(Decision::approve) ? Decision::approve
                                        : Decision::allow;
  for (const Rule* r : hit) {
    if (r->decision == v.decision) {
      v.deciding_rule = r->id;
      v.reason = r->reason;
      break;
    }
  }
  return v;
}

}  // namespace clawgate::policy
