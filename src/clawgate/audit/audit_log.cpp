#include "clawgate/audit/audit_log.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>

#include "clawgate/core/crypto.hpp"

namespace clawgate::audit {
namespace {

std::string now_ts() {
  using namespace std::chrono;
  const auto now = system_clock::now();
  const auto us = duration_cast<microseconds>(now.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<long long>(us % 1000000));
  return buf;
}

void redact_string(std::string& s, const std::vector<std::string>& secrets) {
  for (const auto& secret : secrets) {
    if (secret.empty()) continue;
    for (auto pos = s.find(secret); pos != std::string::npos; pos = s.find(secret, pos)) {
      s.replace(pos, secret.size(), "[REDACTED]");
      pos += 10;
    }
  }
}

class JsonlLog final : public AuditLog {
 public:
  JsonlLog(config::Audit cfg, std::vector<std::string> secrets, int fd, std::uint64_t seq,
           std::string prev)
      : cfg_(std::move(cfg)), secrets_(std::move(secrets)), fd_(fd), seq_(seq),
        prev_(std::move(prev)) {}
  ~JsonlLog() override {
    if (fd_ >= 0) ::close(fd_);
  }
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;

  bool append(Record record, bool durable) override {
    redact_secrets(record.data, secrets_);
    std::lock_guard lock(mu_);
    nlohmann::json r = {{"seq", seq_ + 1},
                        {"ts", now_ts()},
                        {"trace_id", record.trace_id},
                        {"stage", record.stage},
                        {"identity", record.identity ? nlohmann::json(*record.identity) : nullptr},
                        {"route", record.route},
                        {"data", std::move(record.data)},
                        {"prev", prev_}};
    const std::string body = canonical(r);
    const std::string material = prev_ + "\n" + body;
    const std::string hash = cfg_.hmac_key ? core::hmac_sha256_hex(*cfg_.hmac_key, material)
                                           : core::sha256_hex(material);
    r["hash"] = hash;
    std::string line = canonical(r);
    line.push_back('\n');
    if (!write_all(line)) return fail("write");
    if (durable && cfg_.fsync == config::FsyncMode::always && ::fdatasync(fd_) != 0) {
      return fail("fdatasync");
    }
    ++seq_;
    prev_ = hash;
    healthy_ = true;
    return true;
  }

  bool healthy() const override {
    std::lock_guard lock(mu_);
    return healthy_;
  }

 private:
  bool write_all(const std::string& line) {
    std::size_t off = 0;
    while (off < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A partial line would break the chain for every later record: cut it off again.
        if (off > 0 && ::ftruncate(fd_, ::lseek(fd_, 0, SEEK_END) - static_cast<off_t>(off)) != 0) {
          spdlog::error("audit: could not remove a partial record: {}", std::strerror(errno));
        }
        return false;
      }
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  bool fail(const char* what) {
    const int err = errno;
    if (healthy_) spdlog::error("audit: {} of {} failed: {}", what, cfg_.file, std::strerror(err));
    healthy_ = false;
    return false;
  }

  const config::Audit cfg_;
  const std::vector<std::string> secrets_;
  mutable std::mutex mu_;
  int fd_;
  std::uint64_t seq_;
  std::string prev_;
  bool healthy_ = true;
};

}  // namespace

std::string canonical(const nlohmann::json& value) {
  // nlohmann's objects are std::map (keys sorted by byte = code point order); dump() without
  // indent and with ensure_ascii=false is the canonical form SPEC §7 describes. Client bytes
  // that are not UTF-8 (a body, a path) become U+FFFD: the record is still written, and the
  // file's text is exactly what was hashed, so `audit verify` recomputes the same hash.
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void redact_secrets(nlohmann::json& value, const std::vector<std::string>& secrets) {
  if (value.is_string()) {
    redact_string(value.get_ref<std::string&>(), secrets);
  } else if (value.is_array()) {
    for (auto& v : value) redact_secrets(v, secrets);
  } else if (value.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto& [k, v] : value.items()) {
      std::string key = k;
      redact_string(key, secrets);
      redact_secrets(v, secrets);
      out[key] = std::move(v);
    }
    value = std::move(out);
  }
}

std::variant<AuditLogPtr, OpenError> open_jsonl_log(const config::Audit& cfg,
                                                    std::vector<std::string> secrets) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path path(cfg.file);
  if (path.has_parent_path() && !fs::exists(path.parent_path(), ec)) {
    fs::create_directories(path.parent_path(), ec);
    if (ec) return OpenError{"audit.file: cannot create " + path.parent_path().string() + ": " +
                             ec.message()};
    fs::permissions(path.parent_path(), fs::perms::owner_all, ec);
  }
  // Resume the chain from the last complete record.
  std::uint64_t seq = 0;
  std::string prev(64, '0');
  if (fs::is_regular_file(path, ec)) {  // a device such as /dev/full has no chain to resume
    std::ifstream in(cfg.file, std::ios::binary);
    std::string line, last;
    while (std::getline(in, line)) {
      if (!line.empty()) last = line;
    }
    if (!last.empty()) {
      auto j = nlohmann::json::parse(last, nullptr, false);
      if (j.is_discarded() || !j.contains("seq") || !j.contains("hash") ||
          !j["seq"].is_number_unsigned() || !j["hash"].is_string()) {
        return OpenError{"audit.file: the last record of " + cfg.file +
                         " is not a valid audit record; move the file aside or repair it"};
      }
      seq = j["seq"].get<std::uint64_t>();
      prev = j["hash"].get<std::string>();
    }
  }
  const int fd = ::open(cfg.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return OpenError{"audit.file: cannot open " + cfg.file + ": " + std::strerror(errno)};
  }
  return AuditLogPtr(std::make_shared<JsonlLog>(cfg, std::move(secrets), fd, seq, std::move(prev)));
}

}  // namespace clawgate::audit
