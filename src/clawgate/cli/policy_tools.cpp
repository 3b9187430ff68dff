#include "clawgate/cli/policy_tools.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "clawgate/cli/default_policy.hpp"
#include "clawgate/core/files.hpp"
#include "clawgate/decision/decide.hpp"
#include "clawgate/json/strict.hpp"
#include "clawgate/upstream/headers.hpp"

namespace clawgate::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

int usage(const std::string& message) {
  std::cerr << "clawgate: " << message << "\n";
  return 2;
}

std::optional<policy::PolicyPtr> load_or_report(const std::string& path) {
  auto loaded = policy::load_policy_file(path);
  if (auto* err = std::get_if<policy::LoadError>(&loaded)) {
    std::cerr << "clawgate: invalid policy: " << err->message << "\n";
    return std::nullopt;
  }
  return std::get<policy::PolicyPtr>(std::move(loaded));
}

// Headers as given in a test case or on the command line, seen through the policy's forwarding
// rules exactly as the proxy sees them.
request::ForwardedHeader header_view(const json& headers, const policy::Policy& pol) {
  return [&headers, &pol](std::string_view name) -> std::optional<std::string> {
    if (!upstream::forwards_header(name, pol.forward_headers_allow)) return std::nullopt;
    for (const auto& [k, v] : headers.items()) {
      std::string lower = k;
      std::transform(lower.begin(), lower.end(), lower.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      if (lower == name && v.is_string()) return v.get<std::string>();
    }
    return std::nullopt;
  };
}

std::vector<std::string> string_list(const json& j) {
  std::vector<std::string> out;
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

// One case of a policy test file. Returns "" when it passes, else what differed.
std::string run_case(const policy::Policy& pol, const json& c) {
  const auto route = decision::route_from_word(c.value("route", ""));
  if (!route) return "route must be chat, responses, tools or models";
  const json body = c.contains("request") ? c["request"] : json::object();
  const json headers = c.contains("headers") ? c["headers"] : json::object();
  decision::Request req{*route, c.value("identity", "test-user"), string_list(c.value("roles", json::array())),
                        &body, header_view(headers, pol)};
  const decision::Outcome o = decision::decide(pol, req);
  const json& expect = c.contains("expect") ? c["expect"] : json::object();
  std::vector<std::string> diffs;
  if (expect.contains("invalid")) {
    const bool want = expect["invalid"].get<bool>();
    if (want != o.invalid.has_value()) {
      diffs.push_back(std::string("invalid: expected ") + (want ? "true" : "false") +
                      (o.invalid ? ", got true (" + *o.invalid + ")" : ", got false"));
    }
  } else if (o.invalid) {
    return "the request is invalid: " + *o.invalid;
  }
  if (!o.invalid) {
    const std::string decision(policy::to_string(o.verdict.decision));
    const std::string risk(classify::to_string(o.classification.risk));
    if (expect.contains("decision") && expect["decision"] != decision) {
      diffs.push_back("decision: expected " + expect["decision"].dump() + ", got \"" + decision + "\"");
    }
    if (expect.contains("risk") && expect["risk"] != risk) {
      diffs.push_back("risk: expected " + expect["risk"].dump() + ", got \"" + risk + "\"");
    }
    if (expect.contains("rule") && expect["rule"] != o.verdict.deciding_rule) {
      diffs.push_back("rule: expected " + expect["rule"].dump() + ", got \"" +
                      o.verdict.deciding_rule + "\"");
    }
    if (expect.contains("rules") && expect["rules"] != json(o.verdict.rules)) {
      diffs.push_back("rules: expected " + expect["rules"].dump() + ", got " +
                      json(o.verdict.rules).dump());
    }
    if (expect.contains("would")) {
      const json got = o.verdict.would ? json(policy::to_string(*o.verdict.would)) : json(nullptr);
      if (expect["would"] != got) {
        diffs.push_back("would: expected " + expect["would"].dump() + ", got " + got.dump());
      }
    }
  }
  std::string out;
  for (const auto& d : diffs) out += (out.empty() ? "" : "; ") + d;
  if (!out.empty()) {
    out += " [rules matched: " + json(o.verdict.rules).dump() + ", classification: " +
           o.classification.to_json().dump() + "]";
  }
  return out;
}

}  // namespace

int policy_test(const std::vector<std::string>& args) {
  if (args.size() != 1) return usage("usage: clawgate policy test DIR|FILE");
  std::vector<fs::path> files;
  std::error_code ec;
  if (fs::is_directory(args[0], ec)) {
    for (const auto& e : fs::directory_iterator(args[0], ec)) {
      if (e.path().extension() == ".json") files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else {
    files.emplace_back(args[0]);
  }
  if (files.empty()) {
    std::cerr << "clawgate: policy test: no *.json test files in " << args[0] << "\n";
    return 1;
  }
  int passed = 0;
  int failed = 0;
  for (const auto& file : files) {
    const auto text = core::read_file(file.string());
    if (!text) {
      std::cerr << "clawgate: policy test: cannot read " << file.string() << "\n";
      return 1;
    }
    auto parsed = clawgate::json::parse_strict(*text);
    if (!parsed.value || !parsed.value->is_object() || !(*parsed.value)["policy"].is_string() ||
        !(*parsed.value)["cases"].is_array()) {
      std::cerr << "clawgate: policy test: " << file.string()
                << ": expected {\"policy\": PATH, \"cases\": [...]}"
                << (parsed.value ? "" : " (" + parsed.error + ")") << "\n";
      return 1;
    }
    const json& doc = *parsed.value;
    const fs::path policy_path = file.parent_path() / doc["policy"].get<std::string>();
    const auto pol = load_or_report(policy_path.lexically_normal().string());
    if (!pol) return 1;
    for (std::size_t i = 0; i < doc["cases"].size(); ++i) {
      const json& c = doc["cases"][i];
      const std::string name = c.is_object() ? c.value("name", "case " + std::to_string(i)) : "?";
      const std::string diff =
          c.is_object() ? run_case(**pol, c) : std::string("a case must be an object");
      if (diff.empty()) {
        ++passed;
      } else {
        ++failed;
        std::cout << "FAIL " << file.filename().string() << ": " << name << ": " << diff << "\n";
      }
    }
  }
  std::cout << passed << " passed, " << failed << " failed\n";
  return failed == 0 ? 0 : 1;
}

int policy_explain(const std::vector<std::string>& args) {
  std::string policy_path, route_word, request_path, identity = "explain-user", roles_csv;
  bool as_json = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    bool ok = true;
    if (a == "--policy") ok = value(policy_path);
    else if (a == "--route") ok = value(route_word);
    else if (a == "--request") ok = value(request_path);
    else if (a == "--identity") ok = value(identity);
    else if (a == "--roles") ok = value(roles_csv);
    else if (a == "--json") as_json = true;
    else return usage("policy explain: unknown option " + a);
    if (!ok) return usage("policy explain: " + a + " needs a value");
  }
  if (policy_path.empty() || route_word.empty() || request_path.empty()) {
    return usage("usage: clawgate policy explain --policy F --route R --request REQ.json "
                 "[--identity I --roles a,b] [--json]");
  }
  const auto route = decision::route_from_word(route_word);
  if (!route) return usage("policy explain: --route must be chat, responses, tools or models");
  const auto pol = load_or_report(policy_path);
  if (!pol) return 1;
  const auto text = core::read_file(request_path);
  if (!text) {
    std::cerr << "clawgate: cannot read " << request_path << "\n";
    return 1;
  }
  auto parsed = clawgate::json::parse_strict(*text);
  if (!parsed.value || !parsed.value->is_object()) {
    std::cerr << "clawgate: " << request_path << ": the request must be a JSON object"
              << (parsed.value ? "" : " (" + parsed.error + ")") << "\n";
    return 1;
  }
  std::vector<std::string> roles;
  std::stringstream ss(roles_csv);
  for (std::string r; std::getline(ss, r, ',');) {
    if (!r.empty()) roles.push_back(r);
  }
  const json no_headers = json::object();
  decision::Request req{*route, identity, roles, &*parsed.value, header_view(no_headers, **pol),
                        /*explain=*/true};
  const decision::Outcome o = decision::decide(**pol, req);
  if (o.invalid) {
    std::cerr << "clawgate: the request would be refused as invalid (400): " << *o.invalid << "\n";
    return 1;
  }
  const auto& v = o.verdict;
  if (as_json) {
    json rules = json::array();
    for (const auto& t : v.trace) {
      rules.push_back({{"id", t.id}, {"matched", t.matched}, {"failed", t.failed}});
    }
    json out = {{"policy", (*pol)->name},
                {"policy_sha256", (*pol)->sha256},
                {"target",
                 {{"agent", o.target.agent},
                  {"session", o.target.session ? json(*o.target.session) : json(nullptr)},
                  {"tool", o.target.tool ? json(*o.target.tool) : json(nullptr)},
                  {"action", o.target.action ? json(*o.target.action) : json(nullptr)}}},
                {"classification", o.classification.to_json()},
                {"rules", rules},
                {"decision", policy::to_string(v.decision)},
                {"enforced", v.enforced},
                {"would", v.would ? json(policy::to_string(*v.would)) : json(nullptr)},
                {"deciding_rule", v.deciding_rule},
                {"reason", v.reason}};
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << "policy:         " << (*pol)->name << " (sha256 " << (*pol)->sha256 << ")\n"
            << "request:        route " << route_word << ", identity " << identity << ", roles ["
            << roles_csv << "]\n"
            << "target:         agent " << o.target.agent << ", session "
            << o.target.session.value_or("-") << ", tool " << o.target.tool.value_or("-")
            << ", action " << o.target.action.value_or("-") << "\n"
            << "classification: " << classify::to_string(o.classification.risk) << "\n";
  for (const auto& m : o.classification.matches) {
    std::cout << "  " << classify::to_string(m.tier) << "  \"" << m.term << "\" in " << m.where
              << "\n";
  }
  std::cout << "rules:\n";
  for (const auto& t : v.trace) {
    std::cout << "  " << (t.matched ? "matched     " : "not matched ") << t.id;
    if (!t.matched) std::cout << "  (" << t.failed << ")";
    std::cout << "\n";
  }
  std::cout << "decision:       " << policy::to_string(v.decision)
            << (v.deciding_rule.empty() ? " (default_decision)" : " by rule " + v.deciding_rule)
            << (v.reason.empty() ? "" : ": " + v.reason) << "\n";
  if (v.would) {
    std::cout << "monitor:        would " << policy::to_string(*v.would) << " (not enforced)\n";
  }
  return 0;
}

int classify_command(const std::vector<std::string>& args) {
  std::string policy_path;
  std::vector<std::string> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--policy") {
      if (i + 1 >= args.size()) return usage("classify: --policy needs a file");
      policy_path = args[++i];
    } else {
      rest.push_back(args[i]);
    }
  }
  if (rest.size() != 1) return usage("usage: clawgate classify [--policy F] TEXT | -");
  policy::PolicyPtr pol;
  if (policy_path.empty()) {
    auto loaded = policy::parse_policy(kDefaultPolicyJson, "built-in policies/default.json");
    if (auto* err = std::get_if<policy::LoadError>(&loaded)) {
      std::cerr << "clawgate: the built-in default policy is invalid: " << err->message << "\n";
      return 1;
    }
    pol = std::get<policy::PolicyPtr>(std::move(loaded));
  } else {
    auto loaded = load_or_report(policy_path);
    if (!loaded) return 1;
    pol = *loaded;
  }
  if (rest[0] == "-") {
    for (std::string line; std::getline(std::cin, line);) {
      std::cout << pol->classifier->classify_text(line).to_json().dump() << "\n";
    }
    return 0;
  }
  std::cout << pol->classifier->classify_text(rest[0]).to_json().dump() << "\n";
  return 0;
}

}  // namespace clawgate::cli
