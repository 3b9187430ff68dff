#include "clawgate/core/cpus.hpp"

#include <sched.h>

#include <algorithm>
#include <thread>

namespace clawgate::core {

unsigned usable_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return static_cast<unsigned>(n);
  }
  return std::max(1U, std::thread::hardware_concurrency());
}

}  // namespace clawgate::core
