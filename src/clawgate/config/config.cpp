#include "clawgate/config/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <system_error>
#include <utility>

#include "clawgate/core/ascii.hpp"
#include "clawgate/core/crypto.hpp"
#include "clawgate/json/strict.hpp"
#include "clawgate/proxy/webhook_url.hpp"

namespace clawgate::config {

namespace {

namespace fs = std::filesystem;
using core::ascii_lower;
using nlohmann::json;

// Thrown inside this file only; parse_config turns it into a LoadError, so nothing escapes.
struct Fail {
  std::string message;
};

[[noreturn]] void fail(const std::string& key, const std::string& what) {
  throw Fail{key + ": " + what};
}

std::string join(const std::string& parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return parent + "." + std::string(key);
}

std::string index_key(const std::string& parent, std::size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

// JSON-escaped, so odd bytes in a value cannot forge or garble a log line.
std::string quote_str(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Config files are small; a cap stops `--config /dev/zero` from eating memory.
constexpr std::size_t kMaxConfigBytes = 16U * 1024U * 1024U;
// Timeouts end up in poll()/setsockopt-style int APIs and in time_point arithmetic.
constexpr std::uint64_t kMaxMillis = std::numeric_limits<std::int32_t>::max();
constexpr std::uint64_t kMaxSeconds = std::numeric_limits<std::int32_t>::max();

// ---- object structure ----------------------------------------------------------------------

void require_object(const json& v, const std::string& key) {
  if (!v.is_object()) fail(key, "must be an object");
}

// Unknown keys are typos or features this build lacks: both must stop the start.
void check_keys(const json& obj, const std::string& path,
                std::initializer_list<std::string_view> known) {
  for (const auto& item : obj.items()) {
    if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
      fail(join(path, item.key()), "unknown key");
    }
  }
}

const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it == obj.end() ? nullptr : &*it;
}

// ---- scalar readers --------------------------------------------------------------------------

std::string read_string(const json& v, const std::string& key) {
  if (!v.is_string()) fail(key, "must be a string");
  auto s = v.get<std::string>();
  // A NUL would silently truncate the value at the next C API (getenv, open).
  if (s.find('\0') != std::string::npos) fail(key, "must not contain a NUL character");
  return s;
}

std::string read_nonempty_string(const json& v, const std::string& key) {
  if (!v.is_string()) fail(key, "must be a non-empty string");
  auto s = read_string(v, key);
  if (s.empty()) fail(key, "must be a non-empty string");
  return s;
}

bool read_bool(const json& v, const std::string& key) {
  if (!v.is_boolean()) fail(key, "must be a boolean");
  return v.get<bool>();
}

std::string range_text(std::uint64_t min, std::uint64_t max, std::uint64_t natural_max) {
  if (max == natural_max) return "must be an integer >= " + std::to_string(min);
  return "must be an integer from " + std::to_string(min) + " to " + std::to_string(max);
}

// Only JSON integers are accepted: no floats (1.5, 1e3, 1.0), booleans or strings.
std::uint64_t read_uint(const json& v, const std::string& key, std::uint64_t min, std::uint64_t max,
                        std::uint64_t natural_max = std::numeric_limits<std::uint64_t>::max()) {
  const std::string range = range_text(min, max, natural_max);
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // nlohmann stores integers beyond 64 bits as doubles; say why instead of "not an integer".
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) >= 9.2e18) {
      fail(key, range + " (the number is too large)");
    }
    fail(key, range);
  }
  if (!v.is_number_integer()) fail(key, range);
  std::uint64_t u = 0;
  if (v.is_number_unsigned()) {
    u = v.get<std::uint64_t>();
  } else {
    const auto s = v.get<std::int64_t>();
    if (s < 0) fail(key, range);
    u = static_cast<std::uint64_t>(s);
  }
  if (u < min) fail(key, range);
  if (u > max) fail(key, range);
  return u;
}

std::size_t read_size(const json& v, const std::string& key, std::uint64_t min) {
  constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::size_t>::max());
  return static_cast<std::size_t>(read_uint(v, key, min, kMax, kMax));
}

Millis read_millis(const json& v, const std::string& key) {
  return Millis{static_cast<Millis::rep>(read_uint(v, key, 1, kMaxMillis))};
}

// ---- paths -----------------------------------------------------------------------------------

fs::path resolve_path(const fs::path& base, const std::string& p) {
  fs::path path(p);
  if (path.is_absolute()) return path.lexically_normal();
  return (base / path).lexically_normal();
}

std::string read_path(const json& v, const std::string& key, const fs::path& base) {
  return resolve_path(base, read_nonempty_string(v, key)).string();
}

// O_NONBLOCK so a FIFO cannot hang the start; only regular files count as readable.
std::optional<std::string> unreadable_reason(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return std::string(std::strerror(errno));
  struct stat st {};
  std::optional<std::string> why;
  if (::fstat(fd, &st) != 0) {
    why = std::string(std::strerror(errno));
  } else if (!S_ISREG(st.st_mode)) {
    why = "not a regular file";
  }
  ::close(fd);
  return why;
}

std::string read_existing_file(const json& v, const std::string& key, const fs::path& base) {
  auto path = read_path(v, key, base);
  if (auto why = unreadable_reason(path)) fail(key, "cannot read " + path + ": " + *why);
  return path;
}

// ---- addresses -------------------------------------------------------------------------------

// Canonical text of an IP literal, or nullopt. inet_pton refuses inet_aton's odd forms
// ("127.1", "0x7f.0.0.1", leading zeros) that resolvers would otherwise accept.
std::optional<std::string> canonical_ipv4(const std::string& s) {
  in_addr a{};
  if (::inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
  char buf[INET_ADDRSTRLEN] = {};
  if (::inet_ntop(AF_INET, &a, buf, sizeof buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

std::optional<std::string> canonical_ipv6(const std::string& s) {
  in6_addr a{};
  if (::inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
  char buf[INET6_ADDRSTRLEN] = {};
  if (::inet_ntop(AF_INET6, &a, buf, sizeof buf) == nullptr) return std::nullopt;
  return std::string(buf);
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  if (!all_digits(s) || s.size() > 5) return std::nullopt;
  unsigned long n = 0;
  for (char c : s) n = n * 10 + static_cast<unsigned long>(c - '0');
  if (n > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(n);
}

ListenAddress parse_listen(const json& v, const std::string& key) {
  const std::string s = read_string(v, key);
  const std::string form =
      " (\"host:port\" with an IPv4 literal or a bracketed IPv6 literal, "
      "e.g. \"127.0.0.1:18790\" or \"[::1]:18790\"; got " +
      quote_str(s) + ")";
  std::string host;
  std::string_view rest;
  ListenAddress out;
  if (!s.empty() && s.front() == '[') {
    const auto close = s.find(']');
    if (close == std::string::npos) fail(key, "unterminated IPv6 bracket" + form);
    host = s.substr(1, close - 1);
    rest = std::string_view(s).substr(close + 1);
    auto canon = canonical_ipv6(host);
    if (!canon) fail(key, "host must be an IPv6 literal inside brackets" + form);
    out.host = *canon;
  } else {
    const auto colon = s.rfind(':');
    if (colon == std::string::npos) fail(key, "missing port" + form);
    host = s.substr(0, colon);
    rest = std::string_view(s).substr(colon);
    if (host.find(':') != std::string::npos) fail(key, "an IPv6 host must be in brackets" + form);
    auto canon = canonical_ipv4(host);
    if (!canon) fail(key, "host must be an IPv4 literal or a bracketed IPv6 literal" + form);
    out.host = *canon;
  }
  if (rest.empty() || rest.front() != ':') fail(key, "missing port" + form);
  auto port = parse_port(rest.substr(1));
  if (!port) fail(key, "port must be an integer from 0 to 65535" + form);
  out.port = *port;
  return out;
}

bool is_wildcard(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// ---- URLs ------------------------------------------------------------------------------------

struct Url {
  bool https = false;
  std::string host;  // lower-case name or canonical IP literal, without brackets
  std::uint16_t port = 0;
  std::string path;
  bool has_query = false;
  bool has_fragment = false;
};

bool host_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// A DNS name: dot-separated labels of [a-z0-9_-] (underscores for container names). A name whose
// last label starts with a digit is read as IPv4 by resolvers, so it must be a strict literal.
bool valid_host_name(const std::string& host) {
  if (host.empty() || host.size() > 253) return false;
  std::string_view h = host;
  if (h.back() == '.') h.remove_suffix(1);
  if (h.empty()) return false;
  std::size_t start = 0;
  std::string_view last;
  while (start <= h.size()) {
    auto dot = h.find('.', start);
    if (dot == std::string_view::npos) dot = h.size();
    auto label = h.substr(start, dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), host_name_char)) return false;
    last = label;
    start = dot + 1;
  }
  return !(last.front() >= '0' && last.front() <= '9');
}

Url parse_url(const std::string& s, const std::string& key) {
  const std::string got = " (got " + quote_str(s) + ")";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f)
      fail(key, "must not contain spaces, control or non-ASCII characters");
  }
  Url url;
  const auto sep = s.find("://");
  const std::string scheme = sep == std::string::npos ? "" : ascii_lower(s.substr(0, sep));
  if (scheme == "https") {
    url.https = true;
  } else if (scheme != "http") {
    fail(key, "must start with http:// or https://" + got);
  }
  const std::string_view rest = std::string_view(s).substr(sep + 3);
  const auto auth_end = std::min(rest.find_first_of("/?#"), rest.size());
  const std::string authority(rest.substr(0, auth_end));
  const std::string_view tail = rest.substr(auth_end);
  // Credentials in the config would be a secret outside the environment (SPEC §3).
  if (authority.find('@') != std::string::npos) {
    fail(key, "must not contain userinfo (user:password@); secrets come from the environment");
  }
  std::string host;
  std::string port_text;
  bool has_port = false;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string::npos) fail(key, "unterminated IPv6 bracket" + got);
    auto canon = canonical_ipv6(authority.substr(1, close - 1));
    if (!canon) fail(key, "host must be a valid IPv6 literal inside brackets" + got);
    host = *canon;
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') fail(key, "unexpected text after the IPv6 host" + got);
      has_port = true;
      port_text = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    host = ascii_lower(authority.substr(0, colon));
    if (colon != std::string::npos) {
      has_port = true;
      port_text = authority.substr(colon + 1);
    }
    if (host.empty()) fail(key, "must name a host" + got);
    if (auto v4 = canonical_ipv4(host)) {
      host = *v4;
    } else if (!valid_host_name(host)) {
      fail(key, "host must be a DNS name, an IPv4 literal or a bracketed IPv6 literal" + got);
    }
  }
  if (has_port) {
    auto port = parse_port(port_text);
    if (!port || *port == 0) fail(key, "port must be an integer from 1 to 65535" + got);
    url.port = *port;
  } else {
    url.port = url.https ? 443 : 80;
  }
  url.host = host;
  const auto q = tail.find_first_of("?#");
  url.path = std::string(tail.substr(0, q));
  if (q != std::string_view::npos) {
    url.has_fragment = tail.find('#') != std::string_view::npos;
    url.has_query = tail[q] == '?';
  }
  return url;
}

// ---- secrets ---------------------------------------------------------------------------------

// Looks the variable up; messages name the variable, never its value.
std::string read_secret(EnvLookup env, const std::string& name, const std::string& key) {
  std::optional<std::string> value = env == nullptr ? std::nullopt : env(name.c_str());
  if (!value) fail(key, "environment variable " + name + " is not set");
  if (value->empty()) fail(key, "environment variable " + name + " is empty");
  return *value;
}

std::string read_env_name(const json& v, const std::string& key) {
  auto name = read_nonempty_string(v, key);
  if (name.find('=') != std::string::npos) {
    fail(key, "must be an environment variable name (no '=')");
  }
  return name;
}

// The gateway token goes into an Authorization header: refuse anything that could split or
// bend the header (CR, LF, other controls, surrounding spaces).
void check_header_safe(const std::string& value, const std::string& name, const std::string& key) {
  const bool edge_space =
      value.front() == ' ' || value.back() == ' ' || value.front() == '\t' || value.back() == '\t';
  const bool control = std::any_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && u != '\t') || u == 0x7f;
  });
  if (edge_space || control) {
    fail(key, "environment variable " + name +
                  " holds characters not allowed in an HTTP header value (control characters or "
                  "leading/trailing white space)");
  }
}

// ---- sections --------------------------------------------------------------------------------

void parse_tls(const json& v, Config& cfg, const fs::path& base) {
  if (v.is_null()) {
    cfg.tls.reset();
    return;
  }
  if (!v.is_object()) fail("tls", "must be an object or null");
  check_keys(v, "tls", {"cert_file", "key_file"});
  const json* cert = member(v, "cert_file");
  const json* key = member(v, "key_file");
  if (cert == nullptr) fail("tls.cert_file", "required when tls is set");
  if (key == nullptr) fail("tls.key_file", "required when tls is set");
  TlsFiles files;
  files.cert_file = read_existing_file(*cert, "tls.cert_file", base);
  files.key_file = read_existing_file(*key, "tls.key_file", base);
  cfg.tls = std::move(files);
}

void parse_upstream(const json& v, Upstream& up, const fs::path& base) {
  const std::string p = "upstream";
  require_object(v, p);
  check_keys(v, p,
             {"url", "token_env", "connect_timeout_ms", "timeout_ms", "stream_idle_timeout_ms",
              "probe_path", "probe_interval_ms", "max_connections", "serialize_sessions", "ca_file",
              "verify_tls"});
  {
    const std::string key = join(p, "url");
    const json* j = member(v, "url");
    if (j == nullptr)
      fail(key, "required (the gateway's address, e.g. \"http://127.0.0.1:18789\")");
    up.url = read_nonempty_string(*j, key);
    Url url = parse_url(up.url, key);
    if (!url.path.empty() && url.path != "/") {
      fail(key, "a path prefix is not supported (the gateway's routes live at the root; got " +
                    quote_str(url.path) + ")");
    }
    if (url.has_query || url.has_fragment) fail(key, "must not have a query or a fragment");
    up.https = url.https;
    up.host = url.host;
    up.port = url.port;
  }
  if (const json* j = member(v, "token_env"))
    up.token_env = read_env_name(*j, join(p, "token_env"));
  if (const json* j = member(v, "connect_timeout_ms")) {
    up.connect_timeout = read_millis(*j, join(p, "connect_timeout_ms"));
  }
  if (const json* j = member(v, "timeout_ms")) up.timeout = read_millis(*j, join(p, "timeout_ms"));
  if (const json* j = member(v, "stream_idle_timeout_ms")) {
    up.stream_idle_timeout = read_millis(*j, join(p, "stream_idle_timeout_ms"));
  }
  if (const json* j = member(v, "probe_path")) {
    const std::string key = join(p, "probe_path");
    up.probe_path = read_string(*j, key);
    const bool printable = std::all_of(up.probe_path.begin(), up.probe_path.end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u > 0x20 && u < 0x7f && c != '#';
    });
    // It becomes a request target: a space or CR/LF would bend the request line.
    if (up.probe_path.empty() || up.probe_path.front() != '/' || !printable) {
      fail(key, "must be a path starting with '/' without spaces, control characters or '#'");
    }
  }
  if (const json* j = member(v, "probe_interval_ms")) {
    up.probe_interval = read_millis(*j, join(p, "probe_interval_ms"));
  }
  if (const json* j = member(v, "max_connections")) {
    up.max_connections = read_size(*j, join(p, "max_connections"), 1);
  }
  if (const json* j = member(v, "serialize_sessions")) {
    up.serialize_sessions = read_bool(*j, join(p, "serialize_sessions"));
  }
  if (const json* j = member(v, "ca_file")) {
    const std::string key = join(p, "ca_file");
    if (j->is_null()) {
      up.ca_file.reset();
    } else {
      if (!j->is_string()) fail(key, "must be a string or null");
      up.ca_file = read_existing_file(*j, key, base);
    }
  }
  if (const json* j = member(v, "verify_tls")) up.verify_tls = read_bool(*j, join(p, "verify_tls"));
}

void parse_upstream_token(Upstream& up, EnvLookup env) {
  const std::string key = "upstream.token_env";
  up.token = read_secret(env, up.token_env, key);
  check_header_safe(up.token, up.token_env, key);
}

std::string read_digest(const json& v, const std::string& key) {
  if (!v.is_string()) fail(key, "must be a string of 64 hexadecimal digits");
  auto s = ascii_lower(read_string(v, key));
  if (!core::is_lower_hex(s, 64)) {
    fail(key,
         "must be 64 hexadecimal digits (the SHA-256 of the token; see `clawgate token hash`)");
  }
  return s;
}

std::string read_id(const json& v, const std::string& key) {
  auto id = read_nonempty_string(v, key);
  // Ids end up in logs and audit records; control characters would forge log lines.
  const bool control = std::any_of(id.begin(), id.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
  if (control) fail(key, "must not contain control characters");
  return id;
}

// digest -> "clients[i]" / "admins[i]", to refuse one token mapping to two identities.
using DigestOwners = std::map<std::string, std::string>;

void claim_digest(DigestOwners& owners, const std::string& digest, const std::string& entry) {
  auto [it, inserted] = owners.emplace(digest, entry);
  if (!inserted) {
    fail(entry + ".token_sha256",
         "the same token digest is already used by " + it->second + " (ambiguous identity)");
  }
}

void parse_clients(const json& v, Config& cfg, DigestOwners& owners) {
  if (!v.is_array()) fail("clients", "must be an array");
  std::map<std::string, std::size_t> ids;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string entry = index_key("clients", i);
    const json& c = v[i];
    require_object(c, entry);
    check_keys(c, entry, {"id", "token_sha256", "roles"});
    Client client;
    const json* id = member(c, "id");
    if (id == nullptr) fail(join(entry, "id"), "required");
    client.id = read_id(*id, join(entry, "id"));
    if (auto [it, inserted] = ids.emplace(client.id, i); !inserted) {
      fail(join(entry, "id"), "duplicate id " + quote_str(client.id) + " (also clients[" +
                                  std::to_string(it->second) + "])");
    }
    const json* digest = member(c, "token_sha256");
    if (digest == nullptr) fail(join(entry, "token_sha256"), "required");
    client.token_sha256 = read_digest(*digest, join(entry, "token_sha256"));
    if (const json* roles = member(c, "roles")) {
      const std::string rkey = join(entry, "roles");
      if (!roles->is_array()) fail(rkey, "must be an array of strings");
      for (std::size_t r = 0; r < roles->size(); ++r) {
        client.roles.push_back(read_id((*roles)[r], index_key(rkey, r)));
      }
    }
    claim_digest(owners, client.token_sha256, entry);
    cfg.clients.push_back(std::move(client));
  }
}

void parse_admins(const json& v, Config& cfg, DigestOwners& owners) {
  if (!v.is_array()) fail("admins", "must be an array");
  std::map<std::string, std::size_t> ids;
  for (std::size_t i = 0; i < v.size(); ++i) {
    const std::string entry = index_key("admins", i);
    const json& a = v[i];
    require_object(a, entry);
    check_keys(a, entry, {"id", "token_sha256"});
    Admin admin;
    const json* id = member(a, "id");
    if (id == nullptr) fail(join(entry, "id"), "required");
    admin.id = read_id(*id, join(entry, "id"));
    if (auto [it, inserted] = ids.emplace(admin.id, i); !inserted) {
      fail(join(entry, "id"), "duplicate id " + quote_str(admin.id) + " (also admins[" +
                                  std::to_string(it->second) + "])");
    }
    const json* digest = member(a, "token_sha256");
    if (digest == nullptr) fail(join(entry, "token_sha256"), "required");
    admin.token_sha256 = read_digest(*digest, join(entry, "token_sha256"));
    claim_digest(owners, admin.token_sha256, entry);
    cfg.admins.push_back(std::move(admin));
  }
}

void parse_audit(const json* v, Audit& audit, const fs::path& base, EnvLookup env) {
  const std::string p = "audit";
  std::string file = audit.file;
  if (v != nullptr) {
    require_object(*v, p);
    check_keys(
        *v, p,
        {"file", "fsync", "hmac_key_env", "include_bodies", "preview_chars", "rotate_bytes"});
    if (const json* j = member(*v, "file")) file = read_nonempty_string(*j, join(p, "file"));
    if (const json* j = member(*v, "fsync")) {
      const std::string key = join(p, "fsync");
      if (!j->is_string()) fail(key, "must be a string (\"always\", \"batch\" or \"never\")");
      const auto mode = j->get<std::string>();
      if (mode == "always") {
        audit.fsync = FsyncMode::always;
      } else if (mode == "batch") {
        audit.fsync = FsyncMode::batch;
      } else if (mode == "never") {
        audit.fsync = FsyncMode::never;
      } else {
        fail(key, "must be \"always\", \"batch\" or \"never\"");
      }
    }
    if (const json* j = member(*v, "hmac_key_env")) {
      const std::string key = join(p, "hmac_key_env");
      if (j->is_null()) {
        audit.hmac_key_env.reset();
      } else {
        if (!j->is_string()) fail(key, "must be a string or null");
        audit.hmac_key_env = read_env_name(*j, key);
      }
    }
    if (const json* j = member(*v, "include_bodies")) {
      audit.include_bodies = read_bool(*j, join(p, "include_bodies"));
    }
    if (const json* j = member(*v, "preview_chars")) {
      audit.preview_chars = read_size(*j, join(p, "preview_chars"), 0);
    }
    if (const json* j = member(*v, "rotate_bytes")) {
      const std::string key = join(p, "rotate_bytes");
      audit.rotate_bytes = read_uint(*j, key, 0, std::numeric_limits<std::uint64_t>::max());
      if (audit.rotate_bytes != 0 && audit.rotate_bytes < 65536) {
        fail(key, "must be 0 (no rotation) or an integer >= 65536");
      }
    }
  }
  audit.file = resolve_path(base, file).string();
  // A configured key that is missing must stop the start: silently chaining with plain SHA-256
  // would drop the tamper evidence the operator asked for.
  if (audit.hmac_key_env) {
    audit.hmac_key = read_secret(env, *audit.hmac_key_env, join(p, "hmac_key_env"));
  }
}

void parse_approvals(const json* v, Approvals& ap, const fs::path& base) {
  const std::string p = "approvals";
  std::string state_file = ap.state_file;
  if (v != nullptr) {
    require_object(*v, p);
    check_keys(*v, p, {"ttl_s", "hold_s", "state_file", "webhook_url"});
    if (const json* j = member(*v, "ttl_s")) {
      ap.ttl_s = static_cast<std::int64_t>(read_uint(*j, join(p, "ttl_s"), 1, kMaxSeconds));
    }
    if (const json* j = member(*v, "hold_s")) {
      ap.hold_s = static_cast<std::int64_t>(read_uint(*j, join(p, "hold_s"), 0, kMaxSeconds));
    }
    if (const json* j = member(*v, "state_file")) {
      state_file = read_nonempty_string(*j, join(p, "state_file"));
    }
    if (const json* j = member(*v, "webhook_url")) {
      const std::string key = join(p, "webhook_url");
      if (j->is_null()) {
        ap.webhook_url.reset();
      } else {
        if (!j->is_string()) fail(key, "must be a string or null");
        auto url_text = read_nonempty_string(*j, key);
        // What the webhook sender can use (http:// only in this build), then the strict host
        // and port rules shared with upstream.url.
        if (auto problem = proxy::check_webhook_url(url_text)) fail(key, *problem);
        const Url url = parse_url(url_text, key);
        if (url.has_fragment) fail(key, "must not have a fragment");
        ap.webhook_url = std::move(url_text);
      }
    }
  }
  ap.state_file = resolve_path(base, state_file).string();
}

void parse_limits(const json& v, Limits& lim) {
  const std::string p = "limits";
  require_object(v, p);
  check_keys(v, p,
             {"max_body_bytes", "max_response_bytes", "max_header_bytes", "header_timeout_ms",
              "idle_timeout_ms", "max_connections", "drain_timeout_ms"});
  if (const json* j = member(v, "max_body_bytes")) {
    lim.max_body_bytes = read_size(*j, join(p, "max_body_bytes"), 1);
  }
  if (const json* j = member(v, "max_response_bytes")) {
    lim.max_response_bytes = read_size(*j, join(p, "max_response_bytes"), 1);
  }
  if (const json* j = member(v, "max_header_bytes")) {
    lim.max_header_bytes = read_size(*j, join(p, "max_header_bytes"), 1024);
  }
  if (const json* j = member(v, "header_timeout_ms")) {
    lim.header_timeout = read_millis(*j, join(p, "header_timeout_ms"));
  }
  if (const json* j = member(v, "idle_timeout_ms")) {
    lim.idle_timeout = read_millis(*j, join(p, "idle_timeout_ms"));
  }
  if (const json* j = member(v, "max_connections")) {
    lim.max_connections = read_size(*j, join(p, "max_connections"), 1);
  }
  if (const json* j = member(v, "drain_timeout_ms")) {
    lim.drain_timeout = read_millis(*j, join(p, "drain_timeout_ms"));
  }
}

Config parse_document(std::string_view text, const std::string& base_dir, EnvLookup env) {
  auto parsed = clawgate::json::parse_strict(text);
  if (!parsed.value) throw Fail{"config: invalid JSON: " + parsed.error};
  const json& root = *parsed.value;
  if (!root.is_object()) throw Fail{"config: the top level must be a JSON object"};
  check_keys(root, "",
             {"listen", "tls", "admin_listen", "upstream", "clients", "admins", "policy_file",
              "audit", "approvals", "limits", "threads"});

  std::error_code ec;
  fs::path base = base_dir.empty() ? fs::current_path(ec) : fs::absolute(base_dir, ec);
  if (ec)
    throw Fail{"config: cannot resolve the config folder " + quote_str(base_dir) + ": " +
               ec.message()};
  base = base.lexically_normal();

  Config cfg;
  if (const json* j = member(root, "listen")) cfg.listen = parse_listen(*j, "listen");
  if (const json* j = member(root, "tls")) parse_tls(*j, cfg, base);
  if (const json* j = member(root, "admin_listen")) {
    if (j->is_null()) {
      cfg.admin_listen.reset();
    } else {
      if (!j->is_string()) fail("admin_listen", "must be a string or null");
      cfg.admin_listen = parse_listen(*j, "admin_listen");
    }
  }
  if (cfg.admin_listen && cfg.admin_listen->port != 0 &&
      cfg.admin_listen->port == cfg.listen.port &&
      (cfg.admin_listen->host == cfg.listen.host || is_wildcard(cfg.admin_listen->host) ||
       is_wildcard(cfg.listen.host))) {
    fail("admin_listen", "must differ from listen (both are " + cfg.admin_listen->to_string() +
                             " or overlap through a wildcard address)");
  }
  const json* up = member(root, "upstream");
  parse_upstream(up != nullptr ? *up : json::object(), cfg.upstream, base);
  DigestOwners owners;
  if (const json* j = member(root, "clients")) parse_clients(*j, cfg, owners);
  if (const json* j = member(root, "admins")) parse_admins(*j, cfg, owners);
  {
    std::string policy = cfg.policy_file;
    if (const json* j = member(root, "policy_file"))
      policy = read_nonempty_string(*j, "policy_file");
    cfg.policy_file = resolve_path(base, policy).string();
  }
  parse_audit(member(root, "audit"), cfg.audit, base, env);
  parse_approvals(member(root, "approvals"), cfg.approvals, base);
  if (const json* j = member(root, "limits")) parse_limits(*j, cfg.limits);
  if (const json* j = member(root, "threads")) {
    cfg.threads = static_cast<unsigned>(read_uint(*j, "threads", 0, 256));
  }
  // Secrets last, so a config with several mistakes reports the structural ones first.
  parse_upstream_token(cfg.upstream, env);
  cfg.config_sha256 = core::sha256_hex(text);
  return cfg;
}

}  // namespace

std::string ListenAddress::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string Upstream::host_port() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<std::string> process_env(const char* name) {
  if (name == nullptr) return std::nullopt;
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read once at start-up
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

std::variant<Config, LoadError> parse_config(std::string_view text, const std::string& base_dir,
                                             EnvLookup env) {
  try {
    return parse_document(text, base_dir, env);
  } catch (const Fail& f) {
    return LoadError{f.message};
  } catch (const std::exception& e) {
    // nlohmann or the allocator: still a refusal, never an escape.
    return LoadError{std::string("config: ") + e.what()};
  } catch (...) {
    return LoadError{"config: unexpected error while loading"};
  }
}

std::variant<Config, LoadError> load_config(const std::string& path, EnvLookup env) {
  try {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
      return LoadError{"cannot read config file " + path + ": " + std::strerror(errno)};
    }
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
      if (text.size() > kMaxConfigBytes) {
        ::close(fd);
        return LoadError{"cannot read config file " + path + ": larger than " +
                         std::to_string(kMaxConfigBytes) + " bytes"};
      }
    }
    ::close(fd);
    if (err != 0) return LoadError{"cannot read config file " + path + ": " + std::strerror(err)};
    const std::string base = fs::path(path).parent_path().string();
    auto result = parse_config(text, base, env);
    if (auto* cfg = std::get_if<Config>(&result)) cfg->source_path = path;
    return result;
  } catch (const std::exception& e) {
    return LoadError{"cannot read config file " + path + ": " + e.what()};
  }
}

}  // namespace clawgate::config
