#pragma once
// `clawgate approvals list|show|approve|deny` (SPEC §6, §8): a blocking HTTP/1.1 client for the
// admin listener's approval API. The admin token comes from the environment variable named by
// --token-env, never from the command line (it would show in `ps` and shell history).

#include <string>
#include <vector>

namespace clawgate::cli {

// `args` are the words after `approvals`. Exit codes: 0 success, 1 the admin API answered an
// error or could not be reached, 2 usage error.
int approvals_command(const std::vector<std::string>& args);

}  // namespace clawgate::cli
