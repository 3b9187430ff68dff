#pragma once
// The approvals journal (approvals.state_file): JSON Lines, one entry per transition, each
// appended with one write() and fdatasync'ed before the operation is reported done. Replaying
// the entries in order rebuilds the store. Private to the approval module.

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>

#include "clawgate/approval/store.hpp"

namespace clawgate::approval::journal {

using Map = std::unordered_map<std::string, Approval>;

// One entry each, as canonical JSON ending in '\n'.
std::string create_entry(const Approval& a);
std::string decide_entry(std::string_view id, bool approve, const std::string& reviewer,
                         const std::optional<std::string>& note, std::int64_t at_us);
std::string use_entry(std::string_view id, std::int64_t at_us);
std::string expire_entry(std::string_view id, std::int64_t at_us);

// The state changes themselves, shared by live operations and replay so both agree.
void apply_decide(Approval& a, bool approve, std::string reviewer, std::optional<std::string> note,
                  std::int64_t at_us);
void apply_use(Approval& a, std::int64_t at_us);
void apply_expire(Approval& a);

// Applies one complete line (without its '\n') to `map`; on error says what is wrong with it
// and leaves `map` unchanged.
std::optional<std::string> replay_line(std::string_view line, Map& map);

// The open journal file. Not thread-safe: the store serialises calls under its mutex.
class File {
 public:
  struct Opened {
    std::unique_ptr<File> file;
    std::string text;  // every complete line, for replay
  };
  // Creates missing parent folders (0700) and the file (0600), takes an exclusive lock (one
  // writer per journal) and moves a torn last line to FILE.torn.
  static std::variant<Opened, std::string> open(const std::string& path);

  // Appends one entry ("...\n") with one write() and fdatasync. On failure the file is cut back
  // to its previous size and the error names the file; if even that fails, the journal refuses
  // all later writes (a half line would make the next entry unreadable).
  std::optional<std::string> append(std::string_view entry);

  const std::string& path() const { return path_; }

  File(std::string path, int fd, off_t size);
  ~File();
  File(const File&) = delete;
  File& operator=(const File&) = delete;

 private:
  std::string path_;
  int fd_;
  off_t size_;  // bytes of complete, acknowledged entries
  std::optional<std::string> broken_;
};

}  // namespace clawgate::approval::journal
