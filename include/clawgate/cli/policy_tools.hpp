#pragma once
// `clawgate policy test|explain` and `clawgate classify` (SPEC §8).

#include <string>
#include <vector>

namespace clawgate::cli {

int policy_test(const std::vector<std::string>& args);
int policy_explain(const std::vector<std::string>& args);
int classify_command(const std::vector<std::string>& args);

}  // namespace clawgate::cli
