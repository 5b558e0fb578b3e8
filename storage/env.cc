#include "storage/env.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

#include "absl/strings/cord.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn {
namespace {

// Appends smaller than this are gathered in user space so that writers may
// append a 24-byte frame header, a payload and padding as separate calls
// without a syscall each.
constexpr size_t kWriteBufferBytes = 64 * 1024;

absl::Status WriteFully(int fd, const std::string& path, const char* data,
                        size_t n, uint64_t offset) {
  while (n > 0) {
    ssize_t w = ::pwrite(fd, data, n, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      return IOError(absl::StrCat(path, ": write at offset ", offset), errno);
    }
    data += w;
    n -= static_cast<size_t>(w);
    offset += static_cast<uint64_t>(w);
  }
  return absl::OkStatus();
}

// Writes with pwrite at tracked offsets (never O_APPEND, whose semantics
// would make WriteAt append on Linux).
class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd, uint64_t size)
      : path_(std::move(path)), fd_(fd), flushed_(size) {
    buffer_.reserve(kWriteBufferBytes);
  }
  ~PosixWritableFile() override {
    if (fd_ >= 0) (void)Close();
  }

  absl::Status Append(const void* data, size_t n) override {
    CAIRN_RETURN_IF_ERROR(CheckOpen());
    const char* p = static_cast<const char*>(data);
    if (buffer_.size() + n <= kWriteBufferBytes) {
      buffer_.append(p, n);
      return absl::OkStatus();
    }
    CAIRN_RETURN_IF_ERROR(FlushBuffer());
    if (n <= kWriteBufferBytes / 2) {
      buffer_.append(p, n);
      return absl::OkStatus();
    }
    absl::Status status = WriteFully(fd_, path_, p, n, flushed_);
    if (!status.ok()) {
      write_error_ = status;
      return status;
    }
    flushed_ += n;
    return absl::OkStatus();
  }

  absl::Status WriteAt(uint64_t offset, const void* data, size_t n) override {
    CAIRN_RETURN_IF_ERROR(CheckOpen());
    if (offset > Size() || n > Size() - offset) {
      return absl::InvalidArgumentError(
          absl::StrCat(path_, ": WriteAt [", offset, ", ", offset + n,
                       ") beyond the ", Size(), " bytes written"));
    }
    CAIRN_RETURN_IF_ERROR(FlushBuffer());
    absl::Status status =
        WriteFully(fd_, path_, static_cast<const char*>(data), n, offset);
    if (!status.ok()) write_error_ = status;
    return status;
  }

  absl::Status Sync() override {
    CAIRN_RETURN_IF_ERROR(CheckOpen());
    CAIRN_RETURN_IF_ERROR(FlushBuffer());
    if (::fdatasync(fd_) != 0) {
      return IOError(absl::StrCat(path_, ": fdatasync"), errno);
    }
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (fd_ < 0) return absl::OkStatus();
    absl::Status status = FlushBuffer();
    if (::close(fd_) != 0 && status.ok()) {
      status = IOError(absl::StrCat(path_, ": close"), errno);
    }
    fd_ = -1;
    buffer_.clear();
    return status;
  }

  absl::Status Flush() override {
    CAIRN_RETURN_IF_ERROR(CheckOpen());
    return FlushBuffer();
  }

  uint64_t Size() const override { return flushed_ + buffer_.size(); }
  const std::string& path() const override { return path_; }

 private:
  absl::Status CheckOpen() const {
    if (fd_ < 0) {
      return absl::FailedPreconditionError(
          absl::StrCat(path_, ": file already closed"));
    }
    return write_error_;
  }

  absl::Status FlushBuffer() {
    if (buffer_.empty()) return absl::OkStatus();
    absl::Status status =
        WriteFully(fd_, path_, buffer_.data(), buffer_.size(), flushed_);
    // After a failed write the file's tail is unknown, so every later write
    // reports the same error rather than writing at a guessed offset.
    if (status.ok())
      flushed_ += buffer_.size();
    else
      write_error_ = status;
    buffer_.clear();
    return status;
  }

  const std::string path_;
  int fd_;
  uint64_t flushed_;  // bytes handed to the kernel
  absl::Status write_error_;
  std::string buffer_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd)
      : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }

  absl::Status Read(uint64_t offset, size_t n, void* buf) const override {
    char* out = static_cast<char*>(buf);
    size_t done = 0;
    while (done < n) {
      const ssize_t r = ::pread(fd_, out + done, n - done,
                                static_cast<off_t>(offset + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        return IOError(absl::StrCat(path_, ": read at offset ", offset + done),
                       errno);
      }
      if (r == 0) {
        return absl::DataLossError(
            absl::StrCat(path_, ": unexpected end of file at offset ",
                         offset + done, " reading ", n, " bytes at offset ",
                         offset));
      }
      done += static_cast<size_t>(r);
    }
    return absl::OkStatus();
  }

  const std::string& path() const override { return path_; }

 private:
  const std::string path_;
  const int fd_;
};

class PosixEnv final : public Env {
 public:
  absl::StatusOr<std::unique_ptr<WritableFile>> NewWritableFile(
      const std::string& path) override {
    int fd =
        ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return IOError(absl::StrCat(path, ": create"), errno);
    return std::make_unique<PosixWritableFile>(path, fd, 0);
  }

  absl::StatusOr<std::unique_ptr<WritableFile>> NewAppendableFile(
      const std::string& path) override {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return IOError(absl::StrCat(path, ": open for append"), errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      absl::Status status = IOError(absl::StrCat(path, ": fstat"), errno);
      ::close(fd);
      return status;
    }
    return std::make_unique<PosixWritableFile>(
        path, fd, static_cast<uint64_t>(st.st_size));
  }

  absl::Status RenameFile(const std::string& from,
                          const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) {
      return IOError(absl::StrCat("rename ", from, " to ", to), errno);
    }
    return absl::OkStatus();
  }

  absl::Status SyncDir(const std::string& dir) override {
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return IOError(absl::StrCat(dir, ": open directory"), errno);
    absl::Status status;
    if (::fsync(fd) != 0) {
      status = IOError(absl::StrCat(dir, ": fsync directory"), errno);
    }
    ::close(fd);
    return status;
  }

  absl::Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) {
      return IOError(absl::StrCat(path, ": remove"), errno);
    }
    return absl::OkStatus();
  }

  absl::Status TruncateFile(const std::string& path, uint64_t size) override {
    if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) {
      return IOError(absl::StrCat(path, ": truncate to ", size), errno);
    }
    return absl::OkStatus();
  }

  absl::Status CreateDirs(const std::string& dir) override {
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) return IOError(absl::StrCat(dir, ": create directory"), ec.value());
    return absl::OkStatus();
  }

  absl::StatusOr<std::unique_ptr<RandomAccessFile>> NewRandomAccessFile(
      const std::string& path) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IOError(absl::StrCat(path, ": open"), errno);
    return std::make_unique<PosixRandomAccessFile>(path, fd);
  }

  bool FileExists(const std::string& path) override {
    return ::access(path.c_str(), F_OK) == 0;
  }

  absl::StatusOr<uint64_t> FileSize(const std::string& path) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) {
      return IOError(absl::StrCat(path, ": stat"), errno);
    }
    return static_cast<uint64_t>(st.st_size);
  }

  absl::StatusOr<std::string> ReadFile(const std::string& path) override {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return IOError(absl::StrCat(path, ": open"), errno);
    std::string out;
    struct stat st;
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      out.reserve(static_cast<size_t>(st.st_size));
    }
    char chunk[64 * 1024];
    while (true) {
      ssize_t r = ::read(fd, chunk, sizeof(chunk));
      if (r < 0) {
        if (errno == EINTR) continue;
        absl::Status status = IOError(absl::StrCat(path, ": read"), errno);
        ::close(fd);
        return status;
      }
      if (r == 0) break;
      out.append(chunk, static_cast<size_t>(r));
    }
    ::close(fd);
    return out;
  }

  absl::StatusOr<std::vector<std::string>> ListDir(
      const std::string& dir) override {
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return IOError(absl::StrCat(dir, ": list"), errno);
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name != "." && name != "..") names.push_back(std::move(name));
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    return names;
  }
};

}  // namespace

Env* Env::Default() {
  static Env* const env = new PosixEnv();
  return env;
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

absl::Status IOError(const std::string& context, int error_number) {
  const char* reason = std::strerror(error_number);
  switch (error_number) {
    case ENOENT:
      return absl::NotFoundError(absl::StrCat(context, ": ", reason));
    case ENOSPC:
    case EDQUOT:
      return OutOfSpaceError(absl::StrCat(context, ": disk full (", reason, ")"));
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(absl::StrCat(context, ": ", reason));
    default:
      return absl::InternalError(absl::StrCat(context, ": ", reason));
  }
}

namespace {
constexpr char kOutOfSpaceUrl[] = "cairn/storage/out-of-space";
}  // namespace

absl::Status OutOfSpaceError(std::string_view message) {
  absl::Status status =
      absl::ResourceExhaustedError(absl::string_view(message.data(), message.size()));
  status.SetPayload(kOutOfSpaceUrl, absl::Cord("1"));
  return status;
}

bool IsOutOfSpace(const absl::Status& status) {
  return absl::IsResourceExhausted(status) && status.GetPayload(kOutOfSpaceUrl).has_value();
}

std::string TempPathFor(const std::string& path) { return path + ".tmp"; }

absl::Status CommitTempFile(Env* env, std::unique_ptr<WritableFile> tmp,
                            const std::string& path) {
  const std::string tmp_path = tmp->path();
  absl::Status status = tmp->Sync();
  if (status.ok()) status = tmp->Close();
  tmp.reset();
  if (status.ok()) status = env->RenameFile(tmp_path, path);
  if (!status.ok()) {
    // Leave no stale temporary behind; if this also fails the next writer
    // truncates it anyway.
    if (env->FileExists(tmp_path)) (void)env->RemoveFile(tmp_path);
    return status;
  }
  return env->SyncDir(DirName(path));
}

absl::Status WriteFileAtomically(
    Env* env, const std::string& path,
    absl::FunctionRef<absl::Status(WritableFile*)> write) {
  const std::string tmp_path = TempPathFor(path);
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> tmp,
                         env->NewWritableFile(tmp_path));
  if (absl::Status status = write(tmp.get()); !status.ok()) {
    tmp.reset();
    if (env->FileExists(tmp_path)) (void)env->RemoveFile(tmp_path);
    return status;
  }
  return CommitTempFile(env, std::move(tmp), path);
}

absl::Status WriteFileAtomically(Env* env, const std::string& path,
                                 std::string_view contents) {
  return WriteFileAtomically(env, path, [&](WritableFile* file) {
    return file->Append(contents.data(), contents.size());
  });
}

}  // namespace cairn
