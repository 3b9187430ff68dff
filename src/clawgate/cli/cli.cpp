#include "clawgate/cli/cli.hpp"

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <iostream>
#include <iterator>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "clawgate/audit/export.hpp"
#include "clawgate/audit/verify.hpp"
#include "clawgate/auth/tokens.hpp"
#include "clawgate/cli/approvals_cli.hpp"
#include "clawgate/cli/policy_tools.hpp"
#include "clawgate/policy/policy.hpp"

namespace clawgate::cli {
namespace {

constexpr std::string_view kUsage = R"(usage: clawgate <command> [options]

commands:
  serve --config FILE         run the proxy (SIGTERM drains, SIGHUP reloads the policy)
  policy check FILE           validate a policy file (exit 1 when invalid)
  policy test DIR|FILE        run policy test cases; prints `N passed, M failed`
  policy explain --policy F --route R --request REQ.json [--identity I --roles a,b] [--json]
                              classification, every rule matched or not and why, the decision
  classify [--policy F] TEXT  classify TEXT (or each stdin line with `-`) as JSON
  audit verify FILE... [--key-env VAR]
                              check the hash chain; prints the record count and last seq/hash
  audit export --format csv|jsonl [--trace ID] [--stage S] [--since T] FILE...
                              records as CSV (one row each) or JSON lines
  approvals list [--state S] | show ID | approve ID [--note N] | deny ID [--note N]
            --admin-url http://HOST:PORT --token-env VAR [--json]
                              list, show and decide human approvals through the admin API
                              (the admin token is read from the environment variable VAR)
  token new                   print a new client token and its SHA-256 as JSON
  token hash                  read a token on stdin, print its SHA-256 hex
  --version                   print the version
  --help                      print this help
)";

int usage_error(const std::string& message) {
  std::cerr << "clawgate: " << message << "\n\n" << kUsage;
  return 2;
}

int token_command(const std::vector<std::string>& args) {
  if (args.size() == 1 && args[0] == "new") {
    const auto token = auth::new_token();
    if (!token) {
      std::cerr << "clawgate: the system random number generator failed\n";
      return 1;
    }
    std::cout << nlohmann::json{{"token", *token}, {"token_sha256", auth::hash_token(*token)}}.dump()
              << "\n";
    return 0;
  }
  if (args.size() == 1 && args[0] == "hash") {
    std::string input((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
    if (!input.empty() && input.back() == '\n') input.pop_back();
    if (!input.empty() && input.back() == '\r') input.pop_back();
    if (input.empty()) {
      std::cerr << "clawgate: token hash: no token on standard input\n";
      return 1;
    }
    std::cout << auth::hash_token(input) << "\n";
    return 0;
  }
  return usage_error("token: expected `token new` or `token hash`");
}

int policy_command(const std::vector<std::string>& args) {
  if (args.size() == 2 && args[0] == "check") {
    auto loaded = policy::load_policy_file(args[1]);
    if (auto* err = std::get_if<policy::LoadError>(&loaded)) {
      std::cerr << "clawgate: invalid policy: " << err->message << "\n";
      return 1;
    }
    const auto& p = std::get<policy::PolicyPtr>(loaded);
    std::cout << "ok: policy \"" << p->name << "\", " << p->rules.size()
              << " rules, sha256 " << p->sha256 << "\n";
    return 0;
  }
  const std::vector<std::string> rest(args.size() > 1 ? args.begin() + 1 : args.end(), args.end());
  if (!args.empty() && args[0] == "test") return policy_test(rest);
  if (!args.empty() && args[0] == "explain") return policy_explain(rest);
  return usage_error("policy: expected `policy check FILE`, `policy test DIR|FILE` or "
                     "`policy explain ...`");
}

// `audit verify FILE... [--key-env VAR]`: exit 0 with the anchor to publish, 1 naming the first
// bad record.
// `audit export --format csv|jsonl [--trace ID] [--stage S] [--since T] FILE...`
int audit_export(const std::vector<std::string>& args) {
  audit::ExportOptions opt;
  std::vector<std::string> files;
  bool format_given = false;
  for (std::size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--format" || a == "--trace" || a == "--stage" || a == "--since") {
      if (!has_value) return usage_error("audit export: " + a + " needs a value");
      const std::string v = args[++i];
      if (a == "--format") {
        if (v != "csv" && v != "jsonl") return usage_error("audit export: --format is csv or jsonl");
        opt.format = v == "csv" ? audit::ExportOptions::Format::csv : audit::ExportOptions::Format::jsonl;
        format_given = true;
      } else if (a == "--trace") {
        opt.trace_id = v;
      } else if (a == "--stage") {
        opt.stage = v;
      } else {
        opt.since = v;
      }
    } else {
      files.push_back(a);
    }
  }
  if (!format_given || files.empty()) {
    return usage_error("usage: clawgate audit export --format csv|jsonl [--trace ID] [--stage S] "
                       "[--since T] FILE...");
  }
  const std::string err = audit::export_records(files, opt, std::cout);
  if (!err.empty()) {
    std::cerr << "clawgate: audit export: " << err << "\n";
    return 1;
  }
  return 0;
}

int audit_command(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "export") return audit_export(args);
  if (args.empty() || args[0] != "verify") {
    return usage_error("audit: expected `audit verify FILE... [--key-env VAR]` or "
                       "`audit export --format csv|jsonl ... FILE...`");
  }
  std::vector<std::string> files;
  std::optional<std::string> key;
  for (std::size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--key-env") {
      if (i + 1 >= args.size()) return usage_error("audit verify: --key-env needs a variable name");
      const char* value = std::getenv(args[++i].c_str());
      if (value == nullptr || *value == '\0') {
        std::cerr << "clawgate: audit verify: environment variable " << args[i] << " is not set\n";
        return 1;
      }
      key = value;
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) return usage_error("audit verify: name at least one audit file");
  const auto r = audit::verify_files(files, key);
  if (!r.ok) {
    std::cerr << "clawgate: audit verify: " << r.file << ":" << r.line
              << (r.seq ? " (seq " + std::to_string(*r.seq) + ")" : std::string()) << ": " << r.problem
              << "\n";
    return 1;
  }
  std::cout << "ok: " << r.records << " records, last seq " << r.last_seq << ", last hash "
            << (r.last_hash.empty() ? "-" : r.last_hash) << "\n";
  return 0;
}

}  // namespace

int run(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage_error("no command given");
  const std::string cmd = args[0];
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (cmd == "--help" || cmd == "-h" || cmd == "help") {
    std::cout << kUsage;
    return 0;
  }
  if (cmd == "--version") {
    std::cout << "clawgate " << CLAWGATE_VERSION << "\n";
    return 0;
  }
  if (cmd == "serve") {
    if (rest.size() == 2 && rest[0] == "--config") return serve(rest[1].c_str());
    return usage_error("serve: expected `serve --config FILE`");
  }
  if (cmd == "token") return token_command(rest);
  if (cmd == "policy") return policy_command(rest);
  if (cmd == "classify") return classify_command(rest);
  if (cmd == "audit") return audit_command(rest);
  if (cmd == "approvals") return approvals_command(rest);
  return usage_error("unknown command `" + cmd + "`");
}

}  // namespace clawgate::cli
