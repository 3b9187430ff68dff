#pragma once
// clawgate's configuration (SPEC §3): parsed, validated and with secrets resolved, once, at
// start-up. Immutable afterwards; shared as `std::shared_ptr<const Config>`.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace clawgate::config {

using Millis = std::chrono::milliseconds;

// "host:port" of a listener: host is an IPv4 literal or a bracketed IPv6 literal ("[::1]:80");
// port 0 asks the kernel for a free port (tests use it).
struct ListenAddress {
  std::string host;  // without brackets
  std::uint16_t port = 0;
  std::string to_string() const;  // "127.0.0.1:18790" / "[::1]:18790"
};

struct TlsFiles {
  std::string cert_file;  // absolute (resolved against the config folder)
  std::string key_file;
};

struct Upstream {
  std::string url;  // as written, e.g. "http://127.0.0.1:18789"
  bool https = false;
  std::string host;  // host name or IP literal (without brackets)
  std::uint16_t port = 0;  // explicit, or 80 / 443 from the scheme
  std::string token_env = "OPENCLAW_GATEWAY_TOKEN";
  std::string token;  // the gateway token's value, read from token_env (never logged)
  Millis connect_timeout{2000};
  Millis timeout{180000};
  Millis stream_idle_timeout{180000};
  std::string probe_path = "/readyz";
  Millis probe_interval{5000};
  std::size_t max_connections = 256;
  bool serialize_sessions = true;
  std::optional<std::string> ca_file;  // absolute; nullopt → the system trust store
  bool verify_tls = true;
  std::string host_port() const;  // "127.0.0.1:18789" (for audit `upstream`)
};

struct Client {
  std::string id;
  std::string token_sha256;  // 64 lower-case hex digits
  std::vector<std::string> roles;
};

struct Admin {
  std::string id;
  std::string token_sha256;  // 64 lower-case hex digits
};

enum class FsyncMode { always, batch, never };

struct Audit {
  std::string file = "var/audit/clawgate.jsonl";  // absolute after loading
  FsyncMode fsync = FsyncMode::always;
  std::optional<std::string> hmac_key_env = "CLAWGATE_AUDIT_KEY";  // nullopt: plain SHA-256
  std::optional<std::string> hmac_key;  // the key's raw bytes, read from hmac_key_env
  bool include_bodies = true;
  std::size_t preview_chars = 500;
  std::uint64_t rotate_bytes = 104857600;  // 0 = never rotate, else >= 65536
};

struct Approvals {
  std::int64_t ttl_s = 900;  // >= 1
  std::int64_t hold_s = 0;   // >= 0
  std::string state_file = "var/approvals.jsonl";  // absolute after loading
  std::optional<std::string> webhook_url;
};

struct Limits {
  std::size_t max_body_bytes = 2097152;
  std::size_t max_response_bytes = 16777216;
  std::size_t max_header_bytes = 16384;
  Millis header_timeout{10000};
  Millis idle_timeout{60000};
  std::size_t max_connections = 10000;
  Millis drain_timeout{10000};  // clawgate extension: SIGTERM grace period before cutting
};

struct Config {
  ListenAddress listen{"127.0.0.1", 18790};
  std::optional<TlsFiles> tls;
  std::optional<ListenAddress> admin_listen = ListenAddress{"127.0.0.1", 18791};  // null disables
  Upstream upstream;
  std::vector<Client> clients;
  std::vector<Admin> admins;
  std::string policy_file = "policies/default.json";  // absolute after loading
  Audit audit;
  Approvals approvals;
  Limits limits;
  unsigned threads = 0;  // 0 → std::thread::hardware_concurrency()

  std::string source_path;    // the config file as given
  std::string config_sha256;  // hex SHA-256 of the config file's bytes
};

// Environment lookup, injectable so tests need not touch the process environment.
using EnvLookup = std::optional<std::string> (*)(const char* name);
std::optional<std::string> process_env(const char* name);

struct LoadError {
  std::string message;  // names the key: "upstream.timeout_ms: must be an integer >= 1"
};

// Parses and validates `text` (the file's bytes). `base_dir` resolves relative paths.
// Unknown keys, wrong types, impossible values and missing secrets are errors naming the key.
// Never throws.
std::variant<Config, LoadError> parse_config(std::string_view text, const std::string& base_dir,
                                             EnvLookup env = &process_env);

// Reads the file and calls parse_config with its folder as base_dir; sets source_path.
std::variant<Config, LoadError> load_config(const std::string& path,
                                            EnvLookup env = &process_env);

}  // namespace clawgate::config
