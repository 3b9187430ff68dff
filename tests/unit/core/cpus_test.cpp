#include "clawgate/core/cpus.hpp"

#include <gtest/gtest.h>
#include <sched.h>

#include <thread>

namespace {

TEST(UsableCpus, FollowsTheAffinityMask) {
  cpu_set_t all;
  CPU_ZERO(&all);
  ASSERT_EQ(sched_getaffinity(0, sizeof all, &all), 0);
  EXPECT_EQ(clawgate::core::usable_cpus(), static_cast<unsigned>(CPU_COUNT(&all)));
  // On a thread of its own pinned to one CPU (as `taskset -c N` pins a process), one.
  unsigned pinned = 0;
  std::thread t([&pinned, &all] {
    cpu_set_t one;
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &all)) {
        CPU_SET(c, &one);
        break;
      }
    }
    if (sched_setaffinity(0, sizeof one, &one) == 0) pinned = clawgate::core::usable_cpus();
  });
  t.join();
  EXPECT_EQ(pinned, 1U);
}

}  // namespace
