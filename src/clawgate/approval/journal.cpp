#include "clawgate/approval/journal.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <limits>
#include <system_error>
#include <vector>

#include "clawgate/audit/audit_log.hpp"
#include "clawgate/core/crypto.hpp"
#include "clawgate/core/files.hpp"

namespace clawgate::approval::journal {
namespace {

using nlohmann::json;

// strerror() may share a static buffer between threads; std::system_category() does not.
std::string sys_error(int err) { return std::system_category().message(err); }

json opt_json(const std::optional<std::string>& v) { return v ? json(*v) : json(nullptr); }
json opt_json(const std::optional<std::int64_t>& v) { return v ? json(*v) : json(nullptr); }

std::string line_of(const json& entry) { return audit::canonical(entry) + "\n"; }

// The journal's form of a record: the SPEC §6 keys, but times as integer µs so replay is exact.
json record_json(const Approval& a) {
  return {{"id", a.id},
          {"state", std::string(to_string(a.state))},
          {"trace_id", a.trace_id},
          {"identity", a.identity},
          {"route", a.route},
          {"agent", a.agent},
          {"session", opt_json(a.session)},
          {"tool", opt_json(a.tool)},
          {"action", opt_json(a.action)},
          {"summary", a.summary},
          {"request_sha256", a.request_sha256},
          {"policy_sha256", a.policy_sha256},
          {"created_at_us", a.created_at_us},
          {"expires_at_us", a.expires_at_us},
          {"decided_at_us", opt_json(a.decided_at_us)},
          {"reviewer", opt_json(a.reviewer)},
          {"note", opt_json(a.note)},
          {"used_at_us", opt_json(a.used_at_us)}};
}

// Field readers: false when the key is missing or has the wrong type (never throw).
bool read_string(const json& o, const char* key, std::string& out) {
  const auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool read_opt_string(const json& o, const char* key, std::optional<std::string>& out) {
  const auto it = o.find(key);
  if (it == o.end()) return false;
  if (it->is_null()) {
    out.reset();
    return true;
  }
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

bool as_i64(const json& v, std::int64_t& out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
    out = static_cast<std::int64_t>(u);
    return true;
  }
  if (v.is_number_integer()) {
    out = v.get<std::int64_t>();
    return true;
  }
  return false;
}

bool read_i64(const json& o, const char* key, std::int64_t& out) {
  const auto it = o.find(key);
  return it != o.end() && as_i64(*it, out);
}

bool read_opt_i64(const json& o, const char* key, std::optional<std::int64_t>& out) {
  const auto it = o.find(key);
  if (it == o.end()) return false;
  if (it->is_null()) {
    out.reset();
    return true;
  }
  std::int64_t v = 0;
  if (!as_i64(*it, v)) return false;
  out = v;
  return true;
}

bool well_formed_id(std::string_view id) {
  return id.size() == 36 && id.substr(0, 4) == "apr_" && core::is_lower_hex(id.substr(4), 32);
}

std::optional<std::string> read_record(const json& o, Approval& a) {
  const auto bad = [](const char* key) {
    return std::string("missing or ill-typed \"approval.") + key + "\"";
  };
  if (!read_string(o, "id", a.id)) return bad("id");
  if (!well_formed_id(a.id)) return "approval.id \"" + a.id + "\" is not apr_ + 32 hex digits";
  std::string state;
  if (!read_string(o, "state", state)) return bad("state");
  const auto parsed = parse_state(state);
  if (!parsed) return "unknown approval.state \"" + state + "\"";
  a.state = *parsed;
  if (!read_string(o, "trace_id", a.trace_id)) return bad("trace_id");
  if (!read_string(o, "identity", a.identity)) return bad("identity");
  if (!read_string(o, "route", a.route)) return bad("route");
  if (!read_string(o, "agent", a.agent)) return bad("agent");
  if (!read_opt_string(o, "session", a.session)) return bad("session");
  if (!read_opt_string(o, "tool", a.tool)) return bad("tool");
  if (!read_opt_string(o, "action", a.action)) return bad("action");
  if (!read_string(o, "summary", a.summary)) return bad("summary");
  if (!read_string(o, "request_sha256", a.request_sha256)) return bad("request_sha256");
  if (!read_string(o, "policy_sha256", a.policy_sha256)) return bad("policy_sha256");
  if (!read_i64(o, "created_at_us", a.created_at_us)) return bad("created_at_us");
  if (!read_i64(o, "expires_at_us", a.expires_at_us)) return bad("expires_at_us");
  if (!read_opt_i64(o, "decided_at_us", a.decided_at_us)) return bad("decided_at_us");
  if (!read_opt_string(o, "reviewer", a.reviewer)) return bad("reviewer");
  if (!read_opt_string(o, "note", a.note)) return bad("note");
  if (!read_opt_i64(o, "used_at_us", a.used_at_us)) return bad("used_at_us");
  return std::nullopt;
}

std::string state_word(const Approval& a) { return std::string(to_string(a.state)); }

// Creates the missing folders above `path`, each with mode 0700 (SPEC §3).
std::optional<std::string> make_parents(const std::string& path) {
  namespace fs = std::filesystem;
  std::vector<fs::path> missing;
  std::error_code ec;
  for (fs::path p = fs::path(path).parent_path(); !p.empty() && !fs::exists(p, ec);
       p = p.parent_path()) {
    missing.push_back(p);
    if (p == p.parent_path()) break;
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0700) != 0 && errno != EEXIST) {
      return "cannot create folder " + it->string() + ": " + sys_error(errno);
    }
  }
  return std::nullopt;
}


bool write_all(int fd, std::string_view data) {
  std::size_t off = 0;
  while (off < data.size()) {
    const ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::optional<std::string> read_all(int fd, std::string& text) {
  char buf[65536];
  off_t off = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return sys_error(errno);
    if (n == 0) return std::nullopt;
    text.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
}

// Appends the torn bytes to FILE.torn (kept, never dropped: a human may want them).
std::optional<std::string> save_torn(const std::string& torn_path, std::string_view torn) {
  const int tfd = ::open(torn_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (tfd < 0) return sys_error(errno);
  const bool ok = write_all(tfd, torn) && ::fsync(tfd) == 0;
  const int err = errno;
  ::close(tfd);
  if (!ok) return sys_error(err);
  core::sync_parent_dir(torn_path);
  return std::nullopt;
}

}  // namespace

std::string create_entry(const Approval& a) {
  return line_of({{"op", "create"}, {"approval", record_json(a)}});
}

std::string decide_entry(std::string_view id, bool approve, const std::string& reviewer,
                         const std::optional<std::string>& note, std::int64_t at_us) {
  return line_of({{"op", approve ? "approve" : "deny"},
                  {"id", std::string(id)},
                  {"reviewer", reviewer},
                  {"note", opt_json(note)},
                  {"at", at_us}});
}

std::string use_entry(std::string_view id, std::int64_t at_us) {
  return line_of({{"op", "use"}, {"id", std::string(id)}, {"at", at_us}});
}

std::string expire_entry(std::string_view id, std::int64_t at_us) {
  return line_of({{"op", "expire"}, {"id", std::string(id)}, {"at", at_us}});
}

void apply_decide(Approval& a, bool approve, std::string reviewer, std::optional<std::string> note,
                  std::int64_t at_us) {
  a.state = approve ? State::approved : State::denied;
  a.reviewer = std::move(reviewer);
  a.note = std::move(note);
  a.decided_at_us = at_us;
}

void apply_use(Approval& a, std::int64_t at_us) {
  a.state = State::used;
  a.used_at_us = at_us;
}

void apply_expire(Approval& a) { a.state = State::expired; }

std::optional<std::string> replay_line(std::string_view line, Map& map) {
  const json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return "not valid JSON";
  if (!j.is_object()) return "not a JSON object";
  std::string op;
  if (!read_string(j, "op", op)) return "missing or ill-typed \"op\"";

  if (op == "create") {
    const auto it = j.find("approval");
    if (it == j.end() || !it->is_object()) return "create without an \"approval\" object";
    Approval a;
    if (auto err = read_record(*it, a)) return "create: " + *err;
    if (map.contains(a.id)) return "duplicate create of " + a.id;
    if (a.state != State::pending || a.decided_at_us || a.reviewer || a.note || a.used_at_us) {
      return "create of " + a.id + " that is not a fresh pending approval";
    }
    map.emplace(a.id, std::move(a));
    return std::nullopt;
  }

  const bool decide = op == "approve" || op == "deny";
  if (!decide && op != "use" && op != "expire") return "unknown op \"" + op + "\"";
  std::string id;
  if (!read_string(j, "id", id)) return op + " without a string \"id\"";
  std::int64_t at = 0;
  if (!read_i64(j, "at", at)) return op + " of " + id + " without an integer \"at\"";
  const auto it = map.find(id);
  if (it == map.end()) return op + " of unknown id " + id;
  Approval& a = it->second;

  if (decide) {
    std::string reviewer;
    std::optional<std::string> note;
    if (!read_string(j, "reviewer", reviewer))
      return op + " of " + id + " without a string \"reviewer\"";
    if (!read_opt_string(j, "note", note))
      return op + " of " + id + " without a string or null \"note\"";
    if (a.state != State::pending) {
      return op + " of " + id + " which is " + state_word(a) +
             " (only a pending one can be decided)";
    }
    apply_decide(a, op == "approve", std::move(reviewer), std::move(note), at);
  } else if (op == "use") {
    if (a.state != State::approved) {
      return "use of " + id + " which is " + state_word(a) + " (only an approved one can be used)";
    }
    apply_use(a, at);
  } else {
    if (a.state != State::pending && a.state != State::approved) {
      return "expire of " + id + " which is " + state_word(a) +
             " (only a pending or approved one can expire)";
    }
    apply_expire(a);
  }
  return std::nullopt;
}

File::File(std::string path, int fd, off_t size) : path_(std::move(path)), fd_(fd), size_(size) {}

File::~File() {
  if (fd_ >= 0) ::close(fd_);  // also releases the lock
}

std::variant<File::Opened, std::string> File::open(const std::string& path) {
  const std::string where = "approvals.state_file " + path;
  if (auto err = make_parents(path)) return where + ": " + *err;
  struct stat st {};
  const bool existed = ::stat(path.c_str(), &st) == 0;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return where + ": cannot open: " + sys_error(errno);
  auto file = std::make_unique<File>(path, fd, 0);  // closes fd on every return below
  if (::fstat(fd, &st) != 0) return where + ": cannot stat: " + sys_error(errno);
  if (!existed) core::sync_parent_dir(path);

  std::string text;
  if (S_ISREG(st.st_mode)) {
    // Two writers would interleave entries and replay each other's ids as unknown.
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      if (errno == EWOULDBLOCK) return where + ": in use by another clawgate process";
      return where + ": cannot lock: " + sys_error(errno);
    }
    if (auto err = read_all(fd, text)) return where + ": cannot read: " + *err;
  } else if (S_ISCHR(st.st_mode)) {
    // A device has nothing to replay; writes go wherever the device sends them.
    spdlog::warn("approvals: {} is a device, not a file: approvals will not survive a restart",
                 path);
  } else {
    return where + ": not a regular file";
  }

  const auto nl = text.rfind('\n');
  const std::size_t complete = nl == std::string::npos ? 0 : nl + 1;
  if (complete < text.size()) {
    // A crash mid-write left a line that was never acknowledged: keep it aside, not in replay.
    const std::string torn_path = path + ".torn";
    const std::string_view torn = std::string_view(text).substr(complete);
    if (auto err = save_torn(torn_path, torn)) {
      return where + ": cannot move the torn last line to " + torn_path + ": " + *err;
    }
    if (::ftruncate(fd, static_cast<off_t>(complete)) != 0 || ::fdatasync(fd) != 0) {
      return where + ": cannot cut off the torn last line: " + sys_error(errno);
    }
    spdlog::warn("approvals: moved a torn last line ({} bytes) of {} to {}", torn.size(), path,
                 torn_path);
    text.resize(complete);
  }
  file->size_ = static_cast<off_t>(complete);
  return Opened{std::move(file), std::move(text)};
}

std::optional<std::string> File::append(std::string_view entry) {
  if (broken_) return broken_;
  std::size_t off = 0;
  int err = 0;
  const char* what = "write";
  while (off < entry.size()) {
    const ssize_t n = ::write(fd_, entry.data() + off, entry.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      err = n < 0 ? errno : EIO;
      break;
    }
    off += static_cast<std::size_t>(n);
  }
  if (err == 0 && ::fdatasync(fd_) != 0) {
    err = errno;
    what = "fdatasync";
  }
  if (err == 0) {
    size_ += static_cast<off_t>(entry.size());
    return std::nullopt;
  }
  std::string message =
      "approvals.state_file " + path_ + ": " + what + " failed: " + sys_error(err);
  // Unacknowledged bytes must go: half a line would glue onto the next entry and make the
  // journal unreadable, a whole one would replay a change the caller was told had failed.
  if (off > 0) {
    if (::ftruncate(fd_, size_) != 0) {
      broken_ = message + "; the unacknowledged bytes could not be removed (" + sys_error(errno) +
                "), so approvals accept no changes until the file is fixed and clawgate restarts";
      spdlog::error("approvals: {}", *broken_);
      return broken_;
    }
    ::fdatasync(fd_);  // best effort: the cut itself
  }
  return message;
}

}  // namespace clawgate::approval::journal
