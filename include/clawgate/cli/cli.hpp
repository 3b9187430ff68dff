#pragma once
// The `clawgate` command line (SPEC §8). Exit codes: 0 success, 1 the command failed (bad
// config or policy, start-up error), 2 usage error.

namespace clawgate::cli {

int run(int argc, char** argv);

// `clawgate serve --config FILE`: runs until SIGTERM/SIGINT (graceful drain), SIGHUP reloads the
// policy. Returns the process exit code.
int serve(const char* config_path);

}  // namespace clawgate::cli
