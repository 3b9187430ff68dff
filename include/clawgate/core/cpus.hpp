#pragma once
// How many CPUs this process may run on: `threads: 0` runs one I/O thread per CPU.

namespace clawgate::core {

// The CPUs in the calling thread's affinity mask (taskset, a container's cpuset), not every CPU
// of the machine as std::thread::hardware_concurrency() counts them: a process limited to one
// CPU would otherwise run threads that only take turns. At least 1.
unsigned usable_cpus();

}  // namespace clawgate::core
