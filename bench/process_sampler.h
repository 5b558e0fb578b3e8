// Memory and open files of another process (the server under a soak run),
// read from /proc (Linux only), and the process that listens on a TCP port.
#ifndef CAIRN_BENCH_PROCESS_SAMPLER_H_
#define CAIRN_BENCH_PROCESS_SAMPLER_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace cairn {

struct ProcessSample {
  int64_t rss_bytes = -1;  // VmRSS of /proc/PID/status
  int64_t open_fds = -1;   // entries of /proc/PID/fd
};

// NotFound when the process is gone; PermissionDenied when its /proc files
// cannot be read (another user's process).
absl::StatusOr<ProcessSample> SampleProcess(int64_t pid);

// The process owning the socket that listens on `port` (IPv4 or IPv6):
// the listening socket's inode from /proc/net/tcp{,6}, then the process
// with a `socket:[inode]` link in /proc/PID/fd. NotFound when nothing
// listens there or the owner's fds cannot be read (another user).
absl::StatusOr<int64_t> FindListeningPid(uint16_t port);

}  // namespace cairn

#endif  // CAIRN_BENCH_PROCESS_SAMPLER_H_
