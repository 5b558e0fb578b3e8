#include "bench/process_sampler.h"

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace cairn {

namespace fs = std::filesystem;

absl::StatusOr<ProcessSample> SampleProcess(int64_t pid) {
  const std::string dir = absl::StrCat("/proc/", pid);
  std::ifstream status(dir + "/status");
  if (!status) {
    if (!fs::exists(dir)) return absl::NotFoundError(absl::StrCat("process ", pid, " is gone"));
    return absl::PermissionDeniedError(absl::StrCat("cannot read ", dir, "/status"));
  }
  ProcessSample s;
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) != 0) continue;
    std::istringstream in(line.substr(6));
    int64_t kib = -1;
    in >> kib;  // "VmRSS:   12345 kB"
    if (kib >= 0) s.rss_bytes = kib * 1024;
  }
  std::error_code ec;
  int64_t fds = 0;
  for (fs::directory_iterator it(dir + "/fd", ec), end; !ec && it != end; it.increment(ec)) {
    ++fds;
  }
  if (ec) {
    return absl::PermissionDeniedError(absl::StrCat("cannot list ", dir, "/fd: ", ec.message()));
  }
  s.open_fds = fds;
  return s;
}

namespace {

// Inodes of the sockets in state LISTEN (0A) on `port` in a /proc/net/tcp
// table: "sl local_address rem_address st ... uid timeout inode".
void ListeningInodes(const std::string& table, uint16_t port, std::set<std::string>* inodes) {
  std::ifstream in(table);
  std::string line;
  std::getline(in, line);  // the header
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (f.size() < 10 || f[3] != "0A") continue;
    const size_t colon = f[1].rfind(':');
    if (colon == std::string::npos) continue;
    uint32_t local_port = 0;
    if (!absl::SimpleHexAtoi(f[1].substr(colon + 1), &local_port)) continue;
    if (local_port == port && f[9] != "0") inodes->insert(f[9]);
  }
}

}  // namespace

absl::StatusOr<int64_t> FindListeningPid(uint16_t port) {
  std::set<std::string> inodes;
  ListeningInodes("/proc/net/tcp", port, &inodes);
  ListeningInodes("/proc/net/tcp6", port, &inodes);
  if (inodes.empty()) {
    return absl::NotFoundError(absl::StrCat("nothing listens on port ", port, " on this host"));
  }
  std::set<std::string> links;
  for (const std::string& inode : inodes) links.insert(absl::StrCat("socket:[", inode, "]"));
  std::error_code ec;
  for (fs::directory_iterator p("/proc", ec), end; !ec && p != end; p.increment(ec)) {
    int64_t pid = 0;
    if (!absl::SimpleAtoi(p->path().filename().string(), &pid)) continue;
    std::error_code fd_ec;
    for (fs::directory_iterator fd(p->path() / "fd", fd_ec), fd_end; !fd_ec && fd != fd_end;
         fd.increment(fd_ec)) {
      std::error_code link_ec;
      const fs::path target = fs::read_symlink(fd->path(), link_ec);
      if (!link_ec && links.count(target.string())) return pid;
    }
  }
  return absl::NotFoundError(absl::StrCat("port ", port,
                                          " is listened on by a process whose open files this "
                                          "user cannot read; pass --pid"));
}

}  // namespace cairn
