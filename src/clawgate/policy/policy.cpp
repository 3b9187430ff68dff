// The policy file (SPEC §5): strict loading into an immutable Policy, and evaluation of one
// request against it. Constraint operators live in constraint.cpp, token buckets in
// rate_limit.cpp.

#include "clawgate/policy/policy.hpp"

#include <fcntl.h>
#include <re2/filtered_re2.h>
#include <re2/re2.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <map>
#include <string_view>
#include <utility>

#include "clawgate/core/ascii.hpp"
#include "clawgate/core/crypto.hpp"
#include "clawgate/json/strict.hpp"

namespace clawgate::policy {

// Defined in constraint.cpp (the tree has no private headers; these are the only shared pieces).
namespace detail {
std::string quote(std::string_view s);
bool glob_match(std::string_view pat, std::string_view s, bool ci);
std::string pointer_error(std::string_view p);
const nlohmann::json* resolve_pointer(const nlohmann::json& doc, std::string_view p);
std::variant<Constraint, std::string> parse_constraint(const nlohmann::json& v);
}  // namespace detail

namespace {

using detail::quote;
using nlohmann::json;

// Thrown inside this file only; parse_policy turns it into a LoadError.
struct Fail {
  std::string message;
};

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw Fail{where + ": " + what};
}

std::string join(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string list_json(const std::vector<std::string>& items) {
  return json(items).dump(-1, ' ', false, json::error_handler_t::replace);
}

constexpr std::size_t kMaxPolicyBytes = 16U * 1024U * 1024U;
constexpr std::array<std::string_view, 4> kRoutes = {"chat", "responses", "tools", "models"};
// Chat message roles the classifier can be scoped to; anything else is a typo that would
// silently leave text unclassified (green).
constexpr std::array<std::string_view, 6> kMessageRoles = {"system",    "developer", "user",
                                                           "assistant", "tool",      "function"};
constexpr std::array<std::string_view, 5> kRateKeys = {"identity", "role", "tool", "agent", "risk"};

using core::ascii_lower;

bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

template <std::size_t N>
bool one_of(const std::array<std::string_view, N>& set, std::string_view s) {
  return std::find(set.begin(), set.end(), s) != set.end();
}

// Tier words are exact lower-case, as the classifier prints them.
// ---- loading ---------------------------------------------------------------------------------

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  PolicyPtr load(std::string_view text) {
    auto parsed = clawgate::json::parse_strict(text);
    if (!parsed.value) throw Fail{source_ + ": invalid JSON: " + parsed.error};
    const json& root = *parsed.value;
    if (!root.is_object()) throw Fail{source_ + ": the top level must be a JSON object"};

    static constexpr std::array<std::string_view, 9> kKnown = {
        "version", "name",   "mode", "default_decision", "classifier", "forward_headers",
        "chat",    "redact", "rules"};
    for (const auto& item : root.items()) {
      if (!one_of(kKnown, item.key())) fail(top(item.key()), "unknown key");
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
    if (const json* j = member(root, "mode")) policy->mode = read_mode(*j, top("mode"));
    if (const json* j = member(root, "default_decision")) {
      policy->default_decision = read_decision(*j, top("default_decision"));
    }
    policy->classifier = build_classifier(member(root, "classifier"));
    if (const json* j = member(root, "forward_headers")) {
      policy->forward_headers_allow = read_forward_headers(*j);
    }
    if (const json* j = member(root, "chat")) policy->system_prompt = read_chat(*j);
    if (const json* j = member(root, "redact")) policy->redact = read_redact(*j);
    policy->redact.any = redact_union(policy->redact.pattern_sources);
    policy->redact.literals = redact_literals(policy->redact.pattern_sources);

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
    if (!id.empty()) w += " (id " + quote(id) + ")";
    return w;
  }

  static void only_keys(const json& obj, std::initializer_list<std::string_view> known,
                        const std::string& where) {
    for (const auto& item : obj.items()) {
      if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
        fail(join(where, item.key()), "unknown key");
      }
    }
  }

  static Mode read_mode(const json& v, const std::string& where) {
    static const std::string kChoices = "must be \"enforce\" or \"monitor\"";
    if (!v.is_string()) fail(where, "must be a string (\"enforce\" or \"monitor\")");
    const auto& mode = v.get_ref<const std::string&>();
    if (mode == "enforce") return Mode::enforce;
    if (mode == "monitor") return Mode::monitor;
    fail(where, kChoices);
  }

  static Decision read_decision(const json& v, const std::string& where) {
    static const std::string kChoices = "must be \"allow\", \"deny\" or \"approve\"";
    if (!v.is_string()) fail(where, kChoices);
    const auto& d = v.get_ref<const std::string&>();
    if (d == "allow") return Decision::allow;
    if (d == "deny") return Decision::deny;
    if (d == "approve") return Decision::approve;
    fail(where, kChoices);
  }

  static std::vector<std::string> read_strings(const json& v, const std::string& where,
                                               const std::string& what) {
    if (!v.is_array()) fail(where, "must be an array of " + what);
    std::vector<std::string> out;
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (!v[i].is_string()) fail(where + "[" + std::to_string(i) + "]", "must be a string");
      out.push_back(v[i].get<std::string>());
    }
    return out;
  }

  // SPEC §4: terms and patterns per tier; their content is the classifier's to validate.
  classify::ClassifierPtr build_classifier(const json* v) const {
    const std::string where = top("classifier");
    classify::Spec spec;
    if (v != nullptr) {
      if (!v->is_object()) fail(where, "must be an object ({\"scope\": [...], \"tiers\": {...}})");
      only_keys(*v, {"scope", "tiers"}, where);
      if (const json* scope = member(*v, "scope")) {
        spec.scope.clear();
        const auto roles = read_strings(*scope, where + ".scope", "message roles");
        if (roles.empty()) fail(where + ".scope", "must name at least one message role");
        for (std::size_t i = 0; i < roles.size(); ++i) {
          if (!one_of(kMessageRoles, roles[i])) {
            fail(where + ".scope[" + std::to_string(i) + "]",
                 quote(roles[i]) +
                     " is not a message role (system, developer, user, assistant, tool, "
                     "function)");
          }
          if (std::find(spec.scope.begin(), spec.scope.end(), roles[i]) == spec.scope.end()) {
            spec.scope.push_back(roles[i]);
          }
        }
      }
      if (const json* tiers = member(*v, "tiers")) {
        const std::string tw = where + ".tiers";
        if (!tiers->is_object()) fail(tw, "must be an object ({\"red\": {...}, \"amber\": {...}})");
        for (const auto& item : tiers->items()) {
          const std::string w = tw + "." + item.key();
          classify::TierSpec* tier = item.key() == "red"     ? &spec.red
                                     : item.key() == "amber" ? &spec.amber
                                                             : nullptr;
          if (tier == nullptr) {
            fail(w, "unknown tier (only \"red\" and \"amber\" have terms; green is what is left)");
          }
          if (!item.value().is_object()) fail(w, "must be an object ({\"terms\", \"patterns\"})");
          only_keys(item.value(), {"terms", "patterns"}, w);
          if (const json* t = member(item.value(), "terms")) {
            tier->terms = read_strings(*t, w + ".terms", "strings");
          }
          if (const json* p = member(item.value(), "patterns")) {
            tier->patterns = read_strings(*p, w + ".patterns", "strings (RE2)");
          }
        }
      }
    }
    auto built = classify::Classifier::build(spec);
    if (auto* e = std::get_if<std::string>(&built)) {
      // The classifier names its own keys ("classifier.tiers.red.terms[0]: …").
      if (e->starts_with("classifier")) throw Fail{source_ + ": " + *e};
      fail(where, *e);
    }
    auto classifier = std::get<classify::ClassifierPtr>(std::move(built));
    if (!classifier) fail(where, "could not be built");
    return classifier;
  }

  std::vector<std::string> read_forward_headers(const json& v) const {
    const std::string where = top("forward_headers");
    if (!v.is_object()) fail(where, "must be an object ({\"allow\": [header names]})");
    only_keys(v, {"allow"}, where);
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
                 quote(h.get<std::string>()) + ")");
      }
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(name);
    }
    return out;
  }

  std::optional<std::string> read_chat(const json& v) const {
    const std::string where = top("chat");
    if (!v.is_object()) fail(where, "must be an object ({\"system_prompt\": \"…\"})");
    only_keys(v, {"system_prompt"}, where);
    const json* prompt = member(v, "system_prompt");
    if (prompt == nullptr) return std::nullopt;
    if (!prompt->is_string() || prompt->get_ref<const std::string&>().empty()) {
      fail(where + ".system_prompt", "must be a non-empty string (omit it to add no prompt)");
    }
    return prompt->get<std::string>();
  }

  Redact read_redact(const json& v) const {
    const std::string where = top("redact");
    if (!v.is_object()) fail(where, "must be an object ({\"arg_paths\", \"patterns\"})");
    only_keys(v, {"arg_paths", "patterns"}, where);
    Redact r;
    if (const json* paths = member(v, "arg_paths")) {
      const auto list = read_strings(*paths, where + ".arg_paths", "JSON Pointers");
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string e = detail::pointer_error(list[i]);
        if (!e.empty())
          fail(where + ".arg_paths[" + std::to_string(i) + "]", quote(list[i]) + ": " + e);
        if (std::find(r.arg_paths.begin(), r.arg_paths.end(), list[i]) == r.arg_paths.end()) {
          r.arg_paths.push_back(list[i]);
          r.arg_pointers.emplace_back(list[i]);  // valid: pointer_error() passed
        }
      }
    }
    if (const json* pats = member(v, "patterns")) {
      const auto list = read_strings(*pats, where + ".patterns", "regular expressions (RE2)");
      for (std::size_t i = 0; i < list.size(); ++i) {
        const std::string w = where + ".patterns[" + std::to_string(i) + "]";
        if (list[i].empty()) fail(w, "must be a non-empty regular expression");
        RE2::Options opts;
        opts.set_log_errors(false);
        auto re = std::make_shared<const re2::RE2>(list[i], opts);
        if (!re->ok()) fail(w, "invalid RE2 regex: " + re->error());
        // A pattern that matches the empty string would "redact" between every character.
        if (re2::RE2::PartialMatch("", *re)) fail(w, "must not match the empty string");
        r.patterns.push_back(std::move(re));
        r.pattern_sources.push_back(list[i]);
      }
    }
    return r;
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
    if (has_control(rule.id)) {
      fail(rule_where(i, "") + ": id", "must not contain control characters");
    }
    const std::string where = rule_where(i, rule.id);

    for (const auto& item : v.items()) {
      static constexpr std::array<std::string_view, 6> kKeys = {"id",     "match", "decision",
                                                                "reason", "mode",  "rate_limit"};
      if (!one_of(kKeys, item.key())) fail(where + ": " + item.key(), "unknown key");
    }
    if (const json* j = member(v, "mode")) rule.mode = read_mode(*j, where + ": mode");
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
    if (const json* j = member(v, "rate_limit")) {
      rule.rate_limit = read_rate_limit(*j, where + ": rate_limit");
    }
    return rule;
  }

  static RateLimit read_rate_limit(const json& v, const std::string& where) {
    if (!v.is_object()) fail(where, "must be an object ({\"max\", \"per_s\", \"key\"})");
    only_keys(v, {"max", "per_s", "key"}, where);
    RateLimit rl;
    const auto count = [&v, &where](const char* key, const char* what) -> std::uint32_t {
      const json* j = member(v, key);
      const std::string w = where + "." + key;
      if (j == nullptr) fail(w, std::string("required (") + what + ")");
      if (!j->is_number_unsigned() || j->get<std::uint64_t>() < 1 ||
          j->get<std::uint64_t>() > 0xFFFFFFFFULL) {
        fail(w, "must be an integer from 1 to 4294967295");
      }
      return static_cast<std::uint32_t>(j->get<std::uint64_t>());
    };
    rl.max = count("max", "the burst size");
    rl.per_s = count("per_s", "the seconds in which max requests are allowed");
    const json* key = member(v, "key");
    static const std::string kList = "a non-empty array of identity, role, tool, agent, risk";
    if (key == nullptr) fail(where + ".key", "required (" + kList + ")");
    if (!key->is_array() || key->empty()) fail(where + ".key", "must be " + kList);
    for (std::size_t i = 0; i < key->size(); ++i) {
      const std::string w = where + ".key[" + std::to_string(i) + "]";
      const json& k = (*key)[i];
      if (!k.is_string() || !one_of(kRateKeys, k.get_ref<const std::string&>())) {
        fail(w, (k.is_string() ? quote(k.get_ref<const std::string&>()) : k.dump()) +
                    " is not one of identity, role, tool, agent, risk");
      }
      if (std::find(rl.key.begin(), rl.key.end(), k.get<std::string>()) != rl.key.end()) {
        fail(w, "duplicate " + quote(k.get_ref<const std::string&>()));
      }
      rl.key.push_back(k.get<std::string>());
    }
    return rl;
  }

  static Match read_match(const json& v, const std::string& where) {
    if (!v.is_object()) fail(where + ": match", "must be an object");
    Match m;
    for (const auto& item : v.items()) {
      const std::string& k = item.key();
      const std::string w = where + ": " + join("match", k);
      const json& val = item.value();
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
      } else if (k == "risk") {
        m.risk = read_risk(val, w);
      } else if (k == "args") {
        m.args = read_args(val, w);
      } else if (k == "text") {
        m.text = read_constraint(val, w);
      } else {
        fail(w, "unknown key");
      }
    }
    return m;
  }

  static std::vector<classify::Tier> read_risk(const json& v, const std::string& where) {
    static const std::string kType = "must be a tier (green, amber, red) or an array of tiers";
    std::vector<const json*> words;
    if (v.is_string()) {
      words.push_back(&v);
    } else if (v.is_array() && !v.empty()) {
      for (const auto& e : v) words.push_back(&e);
    } else {
      fail(where, kType);
    }
    std::vector<classify::Tier> out;
    for (const json* w : words) {
      if (!w->is_string()) fail(where, kType);
      const auto t = classify::tier_from_string(w->get_ref<const std::string&>());
      if (!t)
        fail(where, quote(w->get_ref<const std::string&>()) + " is not a tier (green, amber, red)");
      if (std::find(out.begin(), out.end(), *t) == out.end()) out.push_back(*t);
    }
    return out;
  }

  static std::vector<std::pair<std::string, Constraint>> read_args(const json& v,
                                                                   const std::string& where) {
    if (!v.is_object() || v.empty()) {
      fail(where, "must be an object of JSON Pointer → constraint (e.g. {\"/args/url\": {…}})");
    }
    std::vector<std::pair<std::string, Constraint>> out;
    for (const auto& item : v.items()) {
      const std::string& ptr = item.key();
      const std::string pe = detail::pointer_error(ptr);
      if (!pe.empty()) fail(where, quote(ptr) + ": " + pe);
      out.emplace_back(ptr, read_constraint(item.value(), where + "." + ptr));
    }
    return out;
  }

  static Constraint read_constraint(const json& v, const std::string& where) {
    auto c = detail::parse_constraint(v);
    if (auto* e = std::get_if<std::string>(&c)) fail(where, *e);
    return std::get<Constraint>(std::move(c));
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
      const bool hits = std::any_of(kRoutes.begin(), kRoutes.end(), [&a](std::string_view r) {
        return detail::glob_match(a, r, false);
      });
      if (!hits) {
        fail(where, quote(a) + " matches no route (chat, responses, tools, models)");
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

// What a failed condition says when nobody asked why (evaluate without `explain`): short
// enough to need no allocation.
constexpr const char* kUnexplained = "-";

// "" when the pattern holds; a condition on a value the request lacks does not hold. Runs for
// every rule of every request: nothing is allocated unless a failure is to be explained.
std::string pattern_failure(std::string_view key, const std::optional<Pattern>& p,
                            const std::string* value, bool explain) {
  if (!p) return "";
  if (value != nullptr && p->matches(*value)) return "";
  if (!explain) return kUnexplained;
  const std::string where = "match." + std::string(key) + ": ";
  if (value == nullptr) return where + "the request has no " + std::string(key);
  return where + quote(*value) + " does not match " + list_json(p->alternatives);
}

std::string pattern_failure(std::string_view key, const std::optional<Pattern>& p,
                            const std::optional<std::string>& value, bool explain) {
  return pattern_failure(key, p, value ? &*value : nullptr, explain);
}

// Route, identity and agent are always present; empty means unknown.
std::string pattern_failure(std::string_view key, const std::optional<Pattern>& p,
                            const std::string& value, bool explain) {
  return pattern_failure(key, p, value.empty() ? nullptr : &value, explain);
}

// The first condition of `m` that `in` fails, in a fixed order; "" when every condition holds.
std::string first_failure(const Match& m, const Input& in, const json& text, bool explain) {
  if (auto f = pattern_failure("route", m.route, in.route, explain); !f.empty()) return f;
  if (auto f = pattern_failure("identity", m.identity, in.identity, explain); !f.empty()) return f;
  if (m.roles) {
    if (in.roles.empty()) return explain ? "match.roles: the request has no roles" : kUnexplained;
    const bool any = std::any_of(in.roles.begin(), in.roles.end(),
                                 [&m](const std::string& r) { return m.roles->matches(r); });
    if (!any) {
      if (!explain) return kUnexplained;
      return "match.roles: none of " + list_json(in.roles) + " matches " +
             list_json(m.roles->alternatives);
    }
  }
  if (auto f = pattern_failure("agent", m.agent, in.agent, explain); !f.empty()) return f;
  if (auto f = pattern_failure("session", m.session, in.session, explain); !f.empty()) return f;
  if (auto f = pattern_failure("tool", m.tool, in.tool, explain); !f.empty()) return f;
  if (auto f = pattern_failure("action", m.action, in.action, explain); !f.empty()) return f;
  if (m.risk && std::find(m.risk->begin(), m.risk->end(), in.risk) == m.risk->end()) {
    if (!explain) return kUnexplained;
    std::string listed;
    for (const auto t : *m.risk) {
      if (!listed.empty()) listed += ", ";
      listed += classify::to_string(t);
    }
    return "match.risk: " + std::string(classify::to_string(in.risk)) + " not in [" + listed + "]";
  }
  for (const auto& [pointer, constraint] : m.args) {
    const json* value = in.body == nullptr ? nullptr : detail::resolve_pointer(*in.body, pointer);
    if (auto why = constraint.why_not(value); !why.empty()) {
      return "match.args." + pointer + ": " + why;
    }
  }
  if (m.text) {
    if (auto why = m.text->why_not(&text); !why.empty()) return "match.text: " + why;
  }
  return "";
}

struct Outcome {
  Decision decision = Decision::deny;
  const Rule* rule = nullptr;  // the deciding rule; nullptr = default_decision
};

// Deny overrides approve, which overrides allow; the smallest id decides among equals. `hit` is
// sorted by id.
Outcome combine(const std::vector<const Rule*>& hit, Decision fallback) {
  if (hit.empty()) return {fallback, nullptr};
  const auto first = [&hit](Decision d) -> const Rule* {
    for (const Rule* r : hit) {
      if (r->decision == d) return r;
    }
    return nullptr;
  };
  for (const Decision d : {Decision::deny, Decision::approve, Decision::allow}) {
    if (const Rule* r = first(d)) return {d, r};
  }
  return {fallback, nullptr};
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

const std::vector<std::string>& builtin_redact_patterns() {
  static const std::vector<std::string> patterns = {
      R"((?i)bearer\s+[A-Za-z0-9._~+/=-]{8,})", R"(sk-[A-Za-z0-9_-]{20,})", R"(AKIA[0-9A-Z]{16})",
      R"(-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$))"};
  return patterns;
}

std::shared_ptr<const re2::RE2> redact_union(const std::vector<std::string>& policy_patterns) {
  std::string all;
  for (const auto* list : {&builtin_redact_patterns(), &policy_patterns}) {
    for (const auto& src : *list) all += (all.empty() ? "(?:" : "|(?:") + src + ")";
  }
  RE2::Options opts;
  opts.set_log_errors(false);
  auto any = std::make_shared<const re2::RE2>(all, opts);
  if (!any->ok()) return nullptr;
  return any;
}

std::shared_ptr<const LiteralSet> redact_literals(const std::vector<std::string>& policy_patterns) {
  constexpr int kMinAtomLen = 3;  // "sk-" is the shortest literal of a built-in pattern
  re2::FilteredRE2 filter(kMinAtomLen);
  RE2::Options opts;
  opts.set_log_errors(false);
  for (const auto* list : {&builtin_redact_patterns(), &policy_patterns}) {
    for (const auto& src : *list) {
      int id = 0;
      if (filter.Add(src, opts, &id) != RE2::NoError) return nullptr;
    }
  }
  std::vector<std::string> atoms;
  filter.Compile(&atoms);
  // Patterns that pass with no atom found could match any text: nothing can be skipped.
  std::vector<int> unfiltered;
  filter.AllPotentials({}, &unfiltered);
  if (atoms.empty() || !unfiltered.empty()) return nullptr;
  return LiteralSet::create(atoms);  // null for a literal that is not ASCII
}

bool Redact::cannot_match(std::string_view text) const {
  return literals != nullptr && !literals->may_occur_in(text);
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

Verdict evaluate(const Policy& policy, const Input& input, bool explain) {
  Verdict v;
  // Only rules with match.text need the text as a JSON value; it can be large, so copy it once
  // and only then.
  const bool need_text = std::any_of(policy.rules.begin(), policy.rules.end(),
                                     [](const Rule& r) { return r.match.text.has_value(); });
  const json text = need_text ? json(input.text) : json();
  std::vector<const Rule*> all;
  std::vector<const Rule*> enforced;
  for (const auto& rule : policy.rules) {
    std::string failed = first_failure(rule.match, input, text, explain);
    if (failed.empty()) {
      all.push_back(&rule);
      if (rule.mode == Mode::enforce) enforced.push_back(&rule);
    }
    if (explain) v.trace.push_back({rule.id, failed.empty(), std::move(failed)});
  }
  // Sorting by id (unique) makes the verdict independent of the order in the file.
  const auto by_id = [](const Rule* a, const Rule* b) { return a->id < b->id; };
  std::sort(all.begin(), all.end(), by_id);
  std::sort(enforced.begin(), enforced.end(), by_id);
  for (const Rule* r : all) v.rules.push_back(r->id);

  const Outcome would = combine(all, policy.default_decision);
  Outcome now;
  std::string default_reason;
  if (policy.mode == Mode::monitor) {
    // A monitor policy enforces nothing; name an allow rule when one matched, for the record.
    now.decision = Decision::allow;
    for (const Rule* r : all) {
      if (r->decision == Decision::allow) {
        now.rule = r;
        break;
      }
    }
    default_reason = "monitor mode: nothing is enforced";
  } else {
    now = combine(enforced, policy.default_decision);
    default_reason = std::string(all.empty() ? "no rule matched" : "no enforced rule matched") +
                     "; default_decision is " + std::string(to_string(now.decision));
  }
  v.decision = now.decision;
  if (now.rule != nullptr) {
    v.deciding_rule = now.rule->id;
    v.reason = now.rule->reason;
  } else {
    v.reason = default_reason;
  }
  if (would.decision != now.decision && would.decision != Decision::allow) {
    v.enforced = false;
    v.would = would.decision;
    v.reason = "monitor: would " + std::string(to_string(would.decision));
    if (would.rule != nullptr) {
      v.reason += " by rule " + would.rule->id;
      if (!would.rule->reason.empty()) v.reason += ": " + would.rule->reason;
    } else {
      v.reason += " by default_decision";
    }
  }
  // A refused request spends no tokens; a monitor policy limits nothing.
  if (policy.mode == Mode::enforce && v.decision != Decision::deny) {
    for (const Rule* r : enforced) {
      if (r->rate_limit) v.rate_limited_rules.push_back(r);
    }
  }
  return v;
}

}  // namespace clawgate::policy
