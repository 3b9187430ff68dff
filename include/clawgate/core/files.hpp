#pragma once
// Whole-file reads for start-up and command-line paths (never on the request path).

#include <optional>
#include <string>

namespace clawgate::core {

// The file's bytes, or nullopt when it cannot be opened (errno tells why).
std::optional<std::string> read_file(const std::string& path);

// Syncs the folder holding `file`, so that a new or renamed directory entry is durable.
void sync_parent_dir(const std::string& file);

}  // namespace clawgate::core
