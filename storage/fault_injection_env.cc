#include "storage/fault_injection_env.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn {

// Counts and possibly fails each call before forwarding it to the base file.
class FaultInjectionWritableFile final : public WritableFile {
 public:
  FaultInjectionWritableFile(FaultInjectionEnv* env,
                             std::unique_ptr<WritableFile> base)
      : env_(env), base_(std::move(base)) {}

  absl::Status Append(const void* data, size_t n) override {
    absl::Status fault =
        env_->BeginOperation(absl::StrCat("append ", n), path());
    if (!fault.ok()) {
      if (env_->partial_appends() && n > 1) {
        (void)base_->Append(data, n / 2);
      }
      return fault;
    }
    return base_->Append(data, n);
  }

  absl::Status WriteAt(uint64_t offset, const void* data, size_t n) override {
    CAIRN_RETURN_IF_ERROR(env_->BeginOperation(
        absl::StrCat("write-at ", offset, " ", n), path()));
    return base_->WriteAt(offset, data, n);
  }

  absl::Status Flush() override {
    CAIRN_RETURN_IF_ERROR(env_->BeginOperation("flush", path()));
    return base_->Flush();
  }

  absl::Status Sync() override {
    CAIRN_RETURN_IF_ERROR(
        env_->BeginOperation("sync", path(), env_->HasUnsyncedBytes(path(), base_->Size())));
    CAIRN_RETURN_IF_ERROR(base_->Sync());
    env_->RecordSync(path(), base_->Size());
    return absl::OkStatus();
  }

  absl::Status Close() override {
    if (closed_) return absl::OkStatus();
    CAIRN_RETURN_IF_ERROR(env_->BeginOperation("close", path(), false));
    closed_ = true;
    return base_->Close();
  }

  uint64_t Size() const override { return base_->Size(); }
  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv* const env_;
  std::unique_ptr<WritableFile> base_;
  bool closed_ = false;
};

// Counts and possibly fails each read before forwarding it.
class FaultInjectionRandomAccessFile final : public RandomAccessFile {
 public:
  FaultInjectionRandomAccessFile(FaultInjectionEnv* env,
                                 std::unique_ptr<RandomAccessFile> base)
      : env_(env), base_(std::move(base)) {}

  absl::Status Read(uint64_t offset, size_t n, void* buf) const override {
    CAIRN_RETURN_IF_ERROR(env_->BeginRead(
        absl::StrCat("read ", n, " bytes at offset ", offset), path()));
    return base_->Read(offset, n, buf);
  }

  const std::string& path() const override { return base_->path(); }

 private:
  FaultInjectionEnv* const env_;
  const std::unique_ptr<RandomAccessFile> base_;
};

FaultInjectionEnv::FaultInjectionEnv(Env* base) : base_(base) {}

void FaultInjectionEnv::FailNth(uint64_t n, int error_number) {
  absl::MutexLock lock(&mu_);
  fail_at_ = n;
  fail_sticky_ = false;
  error_number_ = error_number;
}

void FaultInjectionEnv::FailFrom(uint64_t n, int error_number) {
  absl::MutexLock lock(&mu_);
  fail_at_ = n;
  fail_sticky_ = true;
  error_number_ = error_number;
}

void FaultInjectionEnv::FailWritesOf(const std::string& path, int error_number) {
  absl::MutexLock lock(&mu_);
  fail_write_paths_.insert(path);
  path_error_number_ = error_number;
}

void FaultInjectionEnv::FailNthRead(uint64_t n, int error_number) {
  absl::MutexLock lock(&mu_);
  fail_read_at_ = n;
  read_error_number_ = error_number;
}

void FaultInjectionEnv::FailReadsOf(const std::string& path,
                                    int error_number) {
  absl::MutexLock lock(&mu_);
  fail_read_paths_.insert(path);
  read_error_number_ = error_number;
}

void FaultInjectionEnv::ClearFaults() {
  absl::MutexLock lock(&mu_);
  fail_at_ = 0;
  fail_sticky_ = false;
  fail_read_at_ = 0;
  fail_read_paths_.clear();
  fail_write_paths_.clear();
}

void FaultInjectionEnv::ResetCounter() {
  absl::MutexLock lock(&mu_);
  count_ = 0;
  read_count_ = 0;
  log_.clear();
}

void FaultInjectionEnv::set_partial_appends(bool partial) {
  absl::MutexLock lock(&mu_);
  partial_appends_ = partial;
}

bool FaultInjectionEnv::partial_appends() const {
  absl::MutexLock lock(&mu_);
  return partial_appends_;
}

uint64_t FaultInjectionEnv::operation_count() const {
  absl::MutexLock lock(&mu_);
  return count_;
}

uint64_t FaultInjectionEnv::read_count() const {
  absl::MutexLock lock(&mu_);
  return read_count_;
}

uint64_t FaultInjectionEnv::failures_injected() const {
  absl::MutexLock lock(&mu_);
  return failures_;
}

std::vector<std::string> FaultInjectionEnv::operation_log() const {
  absl::MutexLock lock(&mu_);
  return log_;
}

bool FaultInjectionEnv::HasUnsyncedBytes(const std::string& path, uint64_t size) const {
  absl::MutexLock lock(&mu_);
  auto it = synced_size_.find(path);
  return it == synced_size_.end() || size > it->second;
}

absl::Status FaultInjectionEnv::BeginOperation(const std::string& what, const std::string& path,
                                               bool allocates) {
  absl::MutexLock lock(&mu_);
  const uint64_t n = ++count_;
  const auto full = [](int e) { return e == ENOSPC || e == EDQUOT; };
  const bool by_path = fail_write_paths_.contains(path) && (allocates || !full(path_error_number_));
  const bool sticky = fail_sticky_ && n > fail_at_ && (allocates || !full(error_number_));
  const bool fail = by_path || (fail_at_ != 0 && (n == fail_at_ || sticky));
  log_.push_back(absl::StrCat(n, " ", what, " ", path, fail ? " FAILED" : ""));
  if (!fail) return absl::OkStatus();
  ++failures_;
  return IOError(absl::StrCat(path, ": ", what, " (injected fault at operation ", n, ")"),
                 by_path ? path_error_number_ : error_number_);
}

absl::Status FaultInjectionEnv::BeginRead(const std::string& what,
                                          const std::string& path) {
  absl::MutexLock lock(&mu_);
  const uint64_t n = ++read_count_;
  if (n != fail_read_at_ && !fail_read_paths_.contains(path)) {
    return absl::OkStatus();
  }
  ++failures_;
  return IOError(
      absl::StrCat(path, ": ", what, " (injected fault at read ", n, ")"),
      read_error_number_);
}

void FaultInjectionEnv::RecordSync(const std::string& path, uint64_t size) {
  absl::MutexLock lock(&mu_);
  synced_size_[path] = size;
}

absl::Status FaultInjectionEnv::DropUnsyncedData() {
  std::map<std::string, uint64_t> sizes;
  {
    absl::MutexLock lock(&mu_);
    sizes = synced_size_;
  }
  for (const auto& [path, synced] : sizes) {
    if (!base_->FileExists(path)) continue;
    CAIRN_ASSIGN_OR_RETURN(uint64_t size, base_->FileSize(path));
    if (size > synced) CAIRN_RETURN_IF_ERROR(base_->TruncateFile(path, synced));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::NewWritableFile(const std::string& path) {
  CAIRN_RETURN_IF_ERROR(BeginOperation("create", path));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         base_->NewWritableFile(path));
  RecordSync(path, 0);
  return std::unique_ptr<WritableFile>(
      new FaultInjectionWritableFile(this, std::move(file)));
}

absl::StatusOr<std::unique_ptr<WritableFile>>
FaultInjectionEnv::NewAppendableFile(const std::string& path) {
  CAIRN_RETURN_IF_ERROR(BeginOperation("open-append", path, false));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file,
                         base_->NewAppendableFile(path));
  {
    // Whatever was there before is taken as durable.
    absl::MutexLock lock(&mu_);
    synced_size_.emplace(path, file->Size());
  }
  return std::unique_ptr<WritableFile>(
      new FaultInjectionWritableFile(this, std::move(file)));
}

absl::Status FaultInjectionEnv::RenameFile(const std::string& from,
                                           const std::string& to) {
  CAIRN_RETURN_IF_ERROR(BeginOperation(absl::StrCat("rename ", from, " ->"), to, false));
  CAIRN_RETURN_IF_ERROR(base_->RenameFile(from, to));
  absl::MutexLock lock(&mu_);
  auto it = synced_size_.find(from);
  if (it != synced_size_.end()) {
    synced_size_[to] = it->second;
    synced_size_.erase(from);
  } else {
    synced_size_.erase(to);
  }
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::SyncDir(const std::string& dir) {
  CAIRN_RETURN_IF_ERROR(BeginOperation("sync-dir", dir, false));
  return base_->SyncDir(dir);
}

absl::Status FaultInjectionEnv::RemoveFile(const std::string& path) {
  CAIRN_RETURN_IF_ERROR(BeginOperation("remove", path, false));
  CAIRN_RETURN_IF_ERROR(base_->RemoveFile(path));
  absl::MutexLock lock(&mu_);
  synced_size_.erase(path);
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::TruncateFile(const std::string& path,
                                             uint64_t size) {
  CAIRN_RETURN_IF_ERROR(BeginOperation(absl::StrCat("truncate ", size), path, false));
  CAIRN_RETURN_IF_ERROR(base_->TruncateFile(path, size));
  absl::MutexLock lock(&mu_);
  auto it = synced_size_.find(path);
  if (it != synced_size_.end()) it->second = std::min(it->second, size);
  return absl::OkStatus();
}

absl::Status FaultInjectionEnv::CreateDirs(const std::string& dir) {
  CAIRN_RETURN_IF_ERROR(BeginOperation("mkdir", dir));
  return base_->CreateDirs(dir);
}

absl::StatusOr<std::unique_ptr<RandomAccessFile>>
FaultInjectionEnv::NewRandomAccessFile(const std::string& path) {
  CAIRN_RETURN_IF_ERROR(BeginRead("open for reading", path));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                         base_->NewRandomAccessFile(path));
  return std::unique_ptr<RandomAccessFile>(
      new FaultInjectionRandomAccessFile(this, std::move(file)));
}

bool FaultInjectionEnv::FileExists(const std::string& path) {
  return base_->FileExists(path);
}

absl::StatusOr<uint64_t> FaultInjectionEnv::FileSize(const std::string& path) {
  return base_->FileSize(path);
}

absl::StatusOr<std::string> FaultInjectionEnv::ReadFile(
    const std::string& path) {
  CAIRN_RETURN_IF_ERROR(BeginRead("read file", path));
  return base_->ReadFile(path);
}

absl::StatusOr<std::vector<std::string>> FaultInjectionEnv::ListDir(
    const std::string& dir) {
  return base_->ListDir(dir);
}

}  // namespace cairn
