#include "storage/file_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "storage/env.h"

namespace cairn {
namespace {

// What the current holder wrote into the file ("pid 123: cairn serve"), or
// "" if it cannot be read.
std::string Holder(int fd) {
  char buf[256];
  const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
  if (n <= 0) return "";
  std::string s(buf, static_cast<size_t>(n));
  while (!s.empty() && (s.back() == '\n' || s.back() == '\0')) s.pop_back();
  return s;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DirLock>> DirLock::Acquire(const std::string& dir,
                                                          const std::string& holder) {
  const std::string path = dir + "/LOCK";
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return IOError(absl::StrCat(path, ": open"), errno);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error == EWOULDBLOCK) {
      const std::string by = Holder(fd);
      ::close(fd);
      return absl::FailedPreconditionError(
          absl::StrCat(dir, " is in use", by.empty() ? "" : absl::StrCat(" by ", by),
                       " (", path, " is locked); stop that process or choose another directory"));
    }
    ::close(fd);
    return IOError(absl::StrCat(path, ": flock"), error);
  }
  // Record who holds it; a failure here only makes a later message vaguer.
  const std::string who = absl::StrCat("pid ", ::getpid(), ": ", holder, "\n");
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, who.data(), who.size(), 0);
  return std::unique_ptr<DirLock>(new DirLock(fd, path));
}

DirLock::~DirLock() { ::close(fd_); }

}  // namespace cairn
