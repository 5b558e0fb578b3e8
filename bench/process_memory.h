// Resident memory of this process, from /proc/self/status (Linux only).
#ifndef CAIRN_BENCH_PROCESS_MEMORY_H_
#define CAIRN_BENCH_PROCESS_MEMORY_H_

#include <cstdint>

namespace cairn {

struct ProcessMemory {
  int64_t rss_bytes = -1;       // VmRSS; -1 when unreadable
  int64_t peak_rss_bytes = -1;  // VmHWM: the high-water mark of VmRSS
};

ProcessMemory ReadProcessMemory();

// Resets VmHWM to the current RSS (writes "5" to /proc/self/clear_refs,
// Linux >= 4.0). False when the kernel or sandbox does not allow it; VmHWM is
// then the peak of the whole process life.
bool ResetPeakRss();

// Returns freed heap pages to the kernel so RSS reflects live memory.
void TrimHeap();

}  // namespace cairn

#endif  // CAIRN_BENCH_PROCESS_MEMORY_H_
