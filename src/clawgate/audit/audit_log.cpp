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
#include <sstream>

#include <spdlog/spdlog.h>

#include "clawgate/core/crypto.hpp"
#include "clawgate/core/files.hpp"
#include "clawgate/json/walk.hpp"

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

void sync_parent_dir(const std::string& file) {
  const auto dir = std::filesystem::path(file).parent_path();
  const int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// The last complete line of `text` ("" if none).
std::string_view last_line(std::string_view text) {
  if (text.empty()) return {};
  const auto end = text.size() - 1;  // text ends with '\n'
  const auto start = text.rfind('\n', end - 1);
  return text.substr(start == std::string_view::npos ? 0 : start + 1,
                     end - (start == std::string_view::npos ? 0 : start + 1));
}

// FILE.NNNNNN, the name of the n-th rotated file.
std::string rotated_name(const std::string& file, unsigned n) {
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, ".%06u", n);
  return file + suffix;
}

// Highest N among the rotated files FILE.NNNNNN (0 when there are none).
unsigned highest_rotation(const std::string& file) {
  namespace fs = std::filesystem;
  const fs::path p(file);
  const std::string prefix = p.filename().string() + ".";
  unsigned best = 0;
  std::error_code ec;
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() != prefix.size() + 6 || name.rfind(prefix, 0) != 0) continue;
    const std::string digits = name.substr(prefix.size());
    if (digits.find_first_not_of("0123456789") != std::string::npos) continue;
    best = std::max(best, static_cast<unsigned>(std::stoul(digits)));
  }
  return best;
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
           std::string prev, std::uint64_t size, unsigned next_index, bool rotatable)
      : cfg_(std::move(cfg)), secrets_(std::move(secrets)), fd_(fd), seq_(seq),
        prev_(std::move(prev)), size_(size), next_index_(next_index), rotatable_(rotatable) {}
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
    const std::string hash = chain_hash(prev_, r, cfg_.hmac_key);
    r["hash"] = hash;
    std::string line = canonical(r);
    line.push_back('\n');
    if (rotatable_ && cfg_.rotate_bytes > 0 && size_ > 0 && size_ + line.size() > cfg_.rotate_bytes &&
        !rotate()) {
      return fail("rotation");
    }
    if (!write_all(line)) return fail("write");
    size_ += line.size();
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

  // The full file becomes FILE.NNNNNN and FILE starts anew; the chain simply continues, so
  // `audit verify FILE.000001 … FILE` checks across the boundary.
  bool rotate() {
    if (::fdatasync(fd_) != 0) return false;
    const std::string target = rotated_name(cfg_.file, next_index_);
    if (::rename(cfg_.file.c_str(), target.c_str()) != 0) return false;
    const int nfd = ::open(cfg_.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (nfd < 0) {
      ::rename(target.c_str(), cfg_.file.c_str());  // keep writing where we were
      return false;
    }
    ::close(fd_);
    fd_ = nfd;
    size_ = 0;
    ++next_index_;
    sync_parent_dir(cfg_.file);
    spdlog::info("audit: rotated to {}", target);
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
  std::uint64_t size_;
  unsigned next_index_;
  bool rotatable_;
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
  json::rewrite_strings(value, [&secrets](std::string& s) { redact_string(s, secrets); });
}

std::string chain_hash(const std::string& prev, const nlohmann::json& record,
                       const std::optional<std::string>& key) {
  const std::string material = prev + "\n" + canonical(record);
  return key ? core::hmac_sha256_hex(*key, material) : core::sha256_hex(material);
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
  // Resume the chain from the last complete record: of FILE, or of the newest rotated file when
  // FILE is new. A torn last line (a crash mid-write) is moved to FILE.torn, never dropped.
  std::uint64_t seq = 0;
  std::string prev(64, '0');
  std::uint64_t size = 0;
  std::string torn;
  const bool regular = !fs::exists(path, ec) || fs::is_regular_file(path, ec);
  const unsigned rotated = regular ? highest_rotation(cfg.file) : 0;
  std::string tail_source;
  std::string tail;
  if (regular && fs::exists(path, ec)) {
    auto text = core::read_file(cfg.file);
    if (!text) return OpenError{"audit.file: cannot read " + cfg.file + ": " + std::strerror(errno)};
    const auto complete = text->rfind('\n') == std::string::npos ? 0 : text->rfind('\n') + 1;
    torn = text->substr(complete);
    text->resize(complete);
    size = complete;
    tail = std::string(last_line(*text));
    tail_source = cfg.file;
    if (!torn.empty()) {
      const std::string torn_path = cfg.file + ".torn";
      const int tfd = ::open(torn_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
      const bool saved = tfd >= 0 &&
                         ::write(tfd, torn.data(), torn.size()) == static_cast<ssize_t>(torn.size()) &&
                         ::fsync(tfd) == 0;
      if (tfd >= 0) ::close(tfd);
      if (!saved || ::truncate(cfg.file.c_str(), static_cast<off_t>(complete)) != 0) {
        return OpenError{"audit.file: cannot move the torn last line of " + cfg.file + " to " +
                         torn_path + ": " + std::strerror(errno)};
      }
      spdlog::warn("audit: moved a torn last line ({} bytes) of {} to {}", torn.size(), cfg.file,
                   torn_path);
    }
  }
  if (tail.empty() && rotated > 0) {
    tail_source = rotated_name(cfg.file, rotated);
    const auto text = core::read_file(tail_source);
    if (text && !text->empty() && text->back() == '\n') tail = std::string(last_line(*text));
  }
  if (!tail.empty()) {
    auto j = nlohmann::json::parse(tail, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("seq") || !j.contains("hash") ||
        !j.contains("prev") || !j["seq"].is_number_unsigned() || !j["hash"].is_string() ||
        !j["prev"].is_string()) {
      return OpenError{"audit.file: the last record of " + tail_source +
                       " is not a valid audit record; run `clawgate audit verify` on it"};
    }
    const std::string hash = j["hash"].get<std::string>();
    nlohmann::json body = j;
    body.erase("hash");
    if (!core::constant_time_equal(chain_hash(j["prev"].get<std::string>(), body, cfg.hmac_key),
                                   hash)) {
      return OpenError{"audit.file: the last record of " + tail_source +
                       " does not verify with the configured key (a different audit.hmac_key_env "
                       "value, or the file was altered); run `clawgate audit verify`"};
    }
    seq = j["seq"].get<std::uint64_t>();
    prev = hash;
  }
  const int fd = ::open(cfg.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    return OpenError{"audit.file: cannot open " + cfg.file + ": " + std::strerror(errno)};
  }
  auto log = std::make_shared<JsonlLog>(cfg, std::move(secrets), fd, seq, std::move(prev), size,
                                        rotated + 1, regular);
  if (!torn.empty() &&
      !log->append({"", "recovered", std::nullopt, "",
                    {{"torn_bytes", torn.size()}, {"moved_to", cfg.file + ".torn"}}},
                   true)) {
    return OpenError{"audit.file: cannot write to " + cfg.file + ": " + std::strerror(errno)};
  }
  return AuditLogPtr(std::move(log));
}

}  // namespace clawgate::audit
