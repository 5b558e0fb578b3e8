#include "storage/point_store.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn {
namespace {

// Keys longer than std::string's inline buffer live on the heap.
uint64_t KeyHeapBytes(size_t key_bytes) {
  static const size_t kInline = std::string().capacity();
  return key_bytes > kInline ? key_bytes + 1 : 0;
}

// For error messages: keys are arbitrary bytes.
std::string Printable(std::string_view key) {
  constexpr size_t kShown = 64;
  std::string out = absl::CHexEscape(absl::string_view(key.data(), std::min(key.size(), kShown)));
  if (key.size() > kShown) absl::StrAppend(&out, "...");
  return absl::StrCat("\"", out, "\"");
}

absl::Status CheckKey(std::string_view key) {
  if (key.empty() || key.size() > kPointMaxKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("point key ", Printable(key), " has ", key.size(),
                     " bytes (1 to ", kPointMaxKeyBytes, " allowed)"));
  }
  return absl::OkStatus();
}

absl::Status CheckBatch(const std::vector<PointStore::Put>& puts,
                        const std::vector<std::string>& deletes) {
  std::vector<std::string_view> keys;
  keys.reserve(puts.size() + deletes.size());
  for (const auto& [key, record] : puts) {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    const uint64_t body = kPointBodyHeaderBytes + key.size() +
                          record.payload.size() + record.vector.size();
    if (body > kPointMaxBodyBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "point ", Printable(key), ": key, payload and vector take ", body,
          " bytes with their header (limit ", kPointMaxBodyBytes, ")"));
    }
    keys.push_back(key);
  }
  for (const std::string& key : deletes) {
    CAIRN_RETURN_IF_ERROR(CheckKey(key));
    keys.push_back(key);
  }
  // One state per key per batch keeps "all or nothing" unambiguous.
  std::sort(keys.begin(), keys.end());
  if (auto dup = std::adjacent_find(keys.begin(), keys.end());
      dup != keys.end()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "point key ", Printable(*dup), " appears twice in one batch"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status PointStoreOptions::Validate() const {
  if (!(compaction_garbage_fraction >= 0 && compaction_garbage_fraction < 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("compaction_garbage_fraction must be in [0, 1), got ",
                     compaction_garbage_fraction));
  }
  return absl::OkStatus();
}

PointStore::PointStore(Env* env, std::string dir,
                       const PointStoreOptions& options)
    : env_(env),
      dir_(std::move(dir)),
      options_(options),
      map_(std::less<>(), Map::allocator_type(&node_bytes_)) {}

PointStore::~PointStore() {
  absl::MutexLock lock(&write_mu_);
  // Every batch was flushed or synced before Apply returned.
  if (log_ != nullptr) (void)log_->Close();
}

std::string PointStore::PathOf(const std::string& name) const {
  return absl::StrCat(dir_, "/", name);
}

absl::StatusOr<std::unique_ptr<PointStore>> PointStore::Open(
    Env* env, const std::string& dir, const PointStoreOptions& options) {
  CAIRN_RETURN_IF_ERROR(options.Validate());
  CAIRN_RETURN_IF_ERROR(env->CreateDirs(dir));
  CAIRN_ASSIGN_OR_RETURN(const std::vector<std::string> names,
                         env->ListDir(dir));
  uint64_t generation = 0;
  for (const std::string& name : names) {
    bool temp = false;
    const uint64_t g = ParsePointLogName(name, &temp);
    if (g != 0 && !temp) generation = std::max(generation, g);
  }
  std::unique_ptr<PointStore> store(new PointStore(env, dir, options));
  {
    absl::MutexLock lock(&store->write_mu_);
    if (generation == 0) {
      CAIRN_RETURN_IF_ERROR(store->SwitchGeneration(1));
      generation = 1;
    } else {
      CAIRN_RETURN_IF_ERROR(store->Recover(generation));
    }
  }
  // Only now that the highest generation has proved readable: a crash's
  // leftovers. Failing to remove them is harmless (the next Open retries).
  for (const std::string& name : names) {
    bool temp = false;
    const uint64_t g = ParsePointLogName(name, &temp);
    if (g == 0 || (g == generation && !temp)) continue;
    if (absl::Status s = env->RemoveFile(store->PathOf(name));
        !s.ok() && !absl::IsNotFound(s)) {
      std::fprintf(stderr, "point_store: cannot remove stale %s: %s\n",
                   name.c_str(), s.ToString().c_str());
    }
  }
  return store;
}

absl::Status PointStore::Recover(uint64_t generation) {
  const std::string path = PathOf(PointLogName(generation));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> reader,
                         env_->NewRandomAccessFile(path));
  auto file =
      std::make_shared<const LogFile>(path, generation, std::move(reader));
  CAIRN_ASSIGN_OR_RETURN(const uint64_t size, env_->FileSize(path));
  PointLogScan scan;
  {
    absl::WriterMutexLock lock(&mu_);
    CAIRN_RETURN_IF_ERROR(ScanPointLog(
        *file->file, size, generation,
        // Runs inside ScanPointLog, with mu_ held here.
        [this](const std::vector<PointLogOp>& batch)
            ABSL_NO_THREAD_SAFETY_ANALYSIS {
              last_batch_puts_.clear();
              for (const PointLogOp& op : batch) {
                if (op.op == PointOp::kPut) {
                  PutLocked(op.key, op.location);
                  last_batch_puts_.push_back(op.key);
                } else {
                  EraseLocked(op.key);
                }
              }
              return absl::OkStatus();
            },
        &scan));
  }
  if (scan.torn_tail) {
    std::fprintf(stderr,
                 "point_store: dropping torn tail of %s at offset %" PRIu64
                 " (%" PRIu64 " bytes): %s\n",
                 path.c_str(), scan.valid_bytes, size - scan.valid_bytes,
                 scan.torn_reason.c_str());
    CAIRN_RETURN_IF_ERROR(env_->TruncateFile(path, scan.valid_bytes));
  }
  CAIRN_ASSIGN_OR_RETURN(log_, env_->NewAppendableFile(path));
  // The truncation must be durable before new records overwrite the dropped
  // tail (or a crash could leave new records before old garbage, which reads
  // as corruption); and what was replayed may be only in the page cache of
  // a crashed process, so it is made durable before anything builds on it.
  CAIRN_RETURN_IF_ERROR(log_->Sync());
  next_sequence_ = scan.next_sequence;
  absl::WriterMutexLock lock(&mu_);
  file_ = std::move(file);
  file_bytes_ = scan.valid_bytes;
  torn_bytes_dropped_ = size - scan.valid_bytes;
  return absl::OkStatus();
}

void PointStore::PutLocked(std::string_view key, PointLocation location) {
  auto it = map_.find(key);
  if (it == map_.end()) {
    map_.emplace(std::string(key), location);
    key_heap_bytes_ += KeyHeapBytes(key.size());
  } else {
    live_bytes_ -= it->second.bytes;
    it->second = location;
  }
  live_bytes_ += location.bytes;
}

void PointStore::EraseLocked(std::string_view key) {
  auto it = map_.find(key);
  if (it == map_.end()) return;
  live_bytes_ -= it->second.bytes;
  key_heap_bytes_ -= KeyHeapBytes(key.size());
  map_.erase(it);
}

absl::Status PointStore::Fail(absl::Status status) {
  error_ = status;
  absl::WriterMutexLock lock(&mu_);
  failed_ = true;
  return status;
}

absl::Status PointStore::UndoBatch(uint64_t size, absl::Status cause) {
  const std::string path = log_->path();
  // The appender may hold a sticky error and an offset past `size`; a fresh
  // one starts at the truncated end. Its buffer is empty: the batch was
  // flushed or its write failed.
  (void)log_->Close();
  log_.reset();
  absl::Status status = env_->TruncateFile(path, size);
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<WritableFile>> log = env_->NewAppendableFile(path);
    if (log.ok()) {
      log_ = *std::move(log);
    } else {
      status = log.status();
    }
  }
  // Durable before the next batch lands where the cut one was; else a crash
  // could leave the new records followed by the old tail.
  if (status.ok()) status = log_->Sync();
  if (status.ok() && log_->Size() != size) {
    status = absl::InternalError(
        absl::StrCat(path, ": reopened at ", log_->Size(), " bytes, expected ", size));
  }
  if (!status.ok()) {
    std::fprintf(stderr, "point_store: cannot undo a batch in %s: %s\n", path.c_str(),
                 status.ToString().c_str());
    // Later writes are told why the store stopped, not the full disk that
    // started it: space returning does not help, a reopen does.
    (void)Fail(
        absl::InternalError(absl::StrCat(dir_,
                                         ": point store needs a reopen: undoing a failed "
                                         "batch failed: ",
                                         status.message(), " (after: ", cause.message(), ")")));
  }
  return cause;
}

absl::Status PointStore::Apply(const std::vector<Put>& puts,
                               const std::vector<std::string>& deletes,
                               const BeforePublish& before_publish) {
  CAIRN_RETURN_IF_ERROR(CheckBatch(puts, deletes));
  absl::MutexLock write_lock(&write_mu_);
  CAIRN_RETURN_IF_ERROR(error_);
  std::vector<const std::string*> erase;
  {
    absl::ReaderMutexLock lock(&mu_);
    for (const std::string& key : deletes) {
      if (map_.contains(key)) erase.push_back(&key);
    }
  }
  const size_t n = erase.size() + puts.size();
  if (n == 0) return absl::OkStatus();

  uint64_t bytes = 0;
  for (const std::string* key : erase)
    bytes += PointRecordBytes(key->size(), 0, 0);
  for (const auto& [key, r] : puts) {
    bytes += PointRecordBytes(key.size(), r.payload.size(), r.vector.size());
  }
  std::string buffer;
  buffer.reserve(bytes);
  const uint64_t base = log_->Size();
  uint64_t sequence = next_sequence_;
  size_t written = 0;
  for (const std::string* key : erase) {
    EncodePointRecord(PointOp::kDelete, ++written == n, sequence++, *key, {},
                      {}, &buffer);
  }
  std::vector<PointLocation> locations;
  locations.reserve(puts.size());
  for (const auto& [key, r] : puts) {
    const size_t start = buffer.size();
    EncodePointRecord(PointOp::kPut, ++written == n, sequence++, key, r.payload,
                      r.vector, &buffer);
    locations.push_back(
        {base + start, static_cast<uint32_t>(buffer.size() - start)});
  }
  absl::Status status = log_->Append(buffer.data(), buffer.size());
  // Flush even without sync: readers pread the file, so the records must
  // have left the user-space buffer before they are published.
  if (status.ok()) status = options_.sync ? log_->Sync() : log_->Flush();
  // Other IO errors leave the disk's state in doubt: poisoned, as below.
  if (!status.ok() && !IsOutOfSpace(status)) return Fail(status);
  if (status.ok() && before_publish) status = before_publish();
  if (!status.ok()) return UndoBatch(base, std::move(status));
  next_sequence_ = sequence;
  {
    absl::WriterMutexLock lock(&mu_);
    last_batch_puts_.clear();
    for (const auto& [key, r] : puts) last_batch_puts_.push_back(key);
    for (const std::string* key : erase) EraseLocked(*key);
    for (size_t i = 0; i < puts.size(); ++i) {
      PutLocked(puts[i].first, locations[i]);
    }
    file_bytes_ = base + buffer.size();
  }
  if (options_.auto_compact) MaybeAutoCompact();
  return absl::OkStatus();
}

void PointStore::MaybeAutoCompact() {
  uint64_t garbage;
  uint64_t records;
  uint64_t generation;
  {
    absl::ReaderMutexLock lock(&mu_);
    records = file_bytes_ - kPointLogHeaderBytes;
    garbage = records - live_bytes_;
    generation = file_->generation;
  }
  if (garbage == 0 || garbage < options_.compaction_min_garbage_bytes ||
      garbage <= auto_compact_floor_ ||
      garbage <= options_.compaction_garbage_fraction * records) {
    return;
  }
  const absl::Status status = SwitchGeneration(generation + 1);
  std::string message;
  if (status.ok()) {
    auto_compact_floor_ = 0;
  } else {
    auto_compact_floor_ =
        garbage +
        std::max<uint64_t>(options_.compaction_min_garbage_bytes, garbage / 2);
    message = status.ToString();
    std::fprintf(stderr, "point_store: automatic compaction of %s failed: %s\n",
                 dir_.c_str(), message.c_str());
  }
  absl::WriterMutexLock lock(&mu_);
  last_compaction_error_ = std::move(message);
}

absl::Status PointStore::Compact() {
  absl::MutexLock write_lock(&write_mu_);
  CAIRN_RETURN_IF_ERROR(error_);
  uint64_t generation;
  {
    absl::ReaderMutexLock lock(&mu_);
    generation = file_->generation;
  }
  return SwitchGeneration(generation + 1);
}

absl::Status PointStore::CopyLiveRecords(const LogFile& old_file,
                                         uint64_t generation, WritableFile* out,
                                         std::vector<PointLocation>* locations,
                                         uint64_t* sequence) {
  const std::string header = EncodePointLogHeader(generation);
  CAIRN_RETURN_IF_ERROR(out->Append(header.data(), header.size()));
  // Shared: only this thread (holding write_mu_) changes the map, so map
  // iterators stay valid across the copy.
  absl::ReaderMutexLock lock(&mu_);
  locations->resize(map_.size());
  std::string in;
  std::string encoded;
  auto copy = [&](size_t i, const std::string& key,
                  const PointLocation& location, bool commit) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(
        const PointRecordView r,
        ReadPointRecord(*old_file.file, old_file.path, location, &in));
    if (r.op != PointOp::kPut || r.key != key) {
      return absl::DataLossError(
          absl::StrCat(old_file.path, ": record at offset ", location.offset,
                       " is not the put of key ", Printable(key)));
    }
    encoded.clear();
    EncodePointRecord(PointOp::kPut, commit, (*sequence)++, key, r.payload,
                      r.vector, &encoded);
    (*locations)[i] = {out->Size(), static_cast<uint32_t>(encoded.size())};
    return out->Append(encoded.data(), encoded.size());
  };
  // The last batch's puts go last, as one batch, so that Open finds them
  // again (LastBatchPuts).
  const absl::flat_hash_set<std::string_view> last(last_batch_puts_.begin(),
                                                  last_batch_puts_.end());
  std::vector<std::pair<size_t, Map::const_iterator>> deferred;
  size_t i = 0;
  for (auto it = map_.begin(); it != map_.end(); ++it, ++i) {
    if (last.contains(it->first)) {
      deferred.emplace_back(i, it);
      continue;
    }
    // Each other record is a batch of its own: the file is complete before
    // its name is, so batches need not be kept.
    CAIRN_RETURN_IF_ERROR(copy(i, it->first, it->second, true));
  }
  for (size_t d = 0; d < deferred.size(); ++d) {
    const auto& [at, it] = deferred[d];
    CAIRN_RETURN_IF_ERROR(
        copy(at, it->first, it->second, d + 1 == deferred.size()));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const PointStore::LogFile>>
PointStore::WriteGeneration(uint64_t generation,
                            const std::shared_ptr<const LogFile>& old_file,
                            std::vector<PointLocation>* locations,
                            uint64_t* sequence) {
  const std::string temp_path = PathOf(PointLogTempName(generation));
  const std::string path = PathOf(PointLogName(generation));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> out,
                         env_->NewWritableFile(temp_path));
  absl::Status status;
  if (old_file != nullptr) {
    status = CopyLiveRecords(*old_file, generation, out.get(), locations,
                             sequence);
  } else {
    const std::string header = EncodePointLogHeader(generation);
    status = out->Append(header.data(), header.size());
  }
  if (status.ok()) status = out->Sync();
  if (status.ok()) status = out->Close();
  // Opened before the rename (an open file follows its rename), so that
  // nothing after the rename is needed to serve reads.
  std::shared_ptr<const LogFile> new_file;
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<RandomAccessFile>> reader =
        env_->NewRandomAccessFile(temp_path);
    if (reader.ok()) {
      new_file =
          std::make_shared<const LogFile>(path, generation, *std::move(reader));
    } else {
      status = reader.status();
    }
  }
  if (status.ok()) status = env_->RenameFile(temp_path, path);
  if (!status.ok()) {
    out.reset();
    (void)env_->RemoveFile(temp_path);
    return status;
  }
  return new_file;
}

absl::Status PointStore::SwitchGeneration(uint64_t generation) {
  std::vector<PointLocation> locations;
  uint64_t sequence = 1;
  std::shared_ptr<const LogFile> old_file;
  {
    absl::ReaderMutexLock lock(&mu_);
    old_file = file_;
  }
  // Before the rename every failure leaves the current generation as it
  // was (WriteGeneration removes its temporary file).
  CAIRN_ASSIGN_OR_RETURN(
      std::shared_ptr<const LogFile> new_file,
      WriteGeneration(generation, old_file, &locations, &sequence));
  // The new generation exists: a reopen picks it, so appends must never go
  // to the old one again, and must wait until the name is durable.
  absl::Status status = env_->SyncDir(dir_);
  std::unique_ptr<WritableFile> new_log;
  if (status.ok()) {
    absl::StatusOr<std::unique_ptr<WritableFile>> log =
        env_->NewAppendableFile(new_file->path);
    if (log.ok()) {
      new_log = *std::move(log);
    } else {
      status = log.status();
    }
  }
  // The old log's batches were all flushed or synced, and are in the new.
  if (log_ != nullptr) (void)log_->Close();
  log_ = std::move(new_log);
  next_sequence_ = sequence;
  {
    absl::WriterMutexLock lock(&mu_);
    size_t i = 0;
    uint64_t live = 0;
    for (auto& [key, location] : map_) {
      location = locations[i++];
      live += location.bytes;
    }
    live_bytes_ = live;
    uint64_t end = kPointLogHeaderBytes;
    for (const PointLocation& l : locations) end = std::max(end, l.offset + l.bytes);
    file_bytes_ = end;
    file_ = std::move(new_file);
    if (old_file != nullptr) ++compactions_;
  }
  if (!status.ok()) return Fail(status);
  if (old_file != nullptr) {
    // Readers still holding old_file keep its descriptor, so they can finish.
    if (absl::Status s = env_->RemoveFile(old_file->path); !s.ok()) {
      std::fprintf(stderr, "point_store: cannot remove %s: %s\n",
                   old_file->path.c_str(), s.ToString().c_str());
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<PointRecord>> PointStore::Get(
    std::string_view key) const {
  std::shared_ptr<const LogFile> file;
  PointLocation location;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return std::nullopt;
    location = it->second;
    file = file_;
  }
  std::string buffer;
  CAIRN_ASSIGN_OR_RETURN(
      const PointRecordView r,
      ReadPointRecord(*file->file, file->path, location, &buffer));
  if (r.op != PointOp::kPut || r.key != key) {
    return absl::DataLossError(
        absl::StrCat(file->path, ": record at offset ", location.offset,
                     " is not the put of key ", Printable(key)));
  }
  return PointRecord{std::string(r.payload), std::string(r.vector)};
}

bool PointStore::Contains(std::string_view key) const {
  absl::ReaderMutexLock lock(&mu_);
  return map_.contains(key);
}

std::vector<std::string> PointStore::Keys(std::string_view start,
                                          size_t limit) const {
  std::vector<std::string> keys;
  absl::ReaderMutexLock lock(&mu_);
  for (auto it = map_.lower_bound(start);
       it != map_.end() && keys.size() < limit; ++it) {
    keys.push_back(it->first);
  }
  return keys;
}

void PointStore::ForEachKey(
    const std::function<bool(const std::string&)>& fn) const {
  constexpr size_t kPage = 1024;
  std::string start;
  while (true) {
    const std::vector<std::string> keys = Keys(start, kPage);
    for (const std::string& key : keys) {
      if (!fn(key)) return;
    }
    if (keys.size() < kPage) return;
    // The smallest key after the last one.
    start = keys.back();
    start.push_back('\0');
  }
}

std::vector<std::string> PointStore::LastBatchPuts() const {
  absl::ReaderMutexLock lock(&mu_);
  return last_batch_puts_;
}

uint64_t PointStore::size() const {
  absl::ReaderMutexLock lock(&mu_);
  return map_.size();
}

PointStoreStats PointStore::stats() const {
  absl::ReaderMutexLock lock(&mu_);
  PointStoreStats s;
  s.points = map_.size();
  s.generation = file_ != nullptr ? file_->generation : 0;
  s.file_bytes = file_bytes_;
  s.live_bytes = live_bytes_;
  s.garbage_bytes = file_bytes_ - kPointLogHeaderBytes - live_bytes_;
  s.ram_bytes = node_bytes_ + key_heap_bytes_;
  s.ram_bytes_per_point =
      s.points == 0 ? 0.0 : static_cast<double>(s.ram_bytes) / s.points;
  s.compactions = compactions_;
  s.torn_bytes_dropped = torn_bytes_dropped_;
  s.last_compaction_error = last_compaction_error_;
  s.failed = failed_;
  return s;
}

absl::Status PointStore::CopyLog(
    std::string* name, const std::function<absl::Status(std::string_view)>& sink) const {
  std::shared_ptr<const LogFile> file;
  uint64_t end = 0;
  {
    absl::ReaderMutexLock lock(&mu_);
    file = file_;
    end = file_bytes_;
  }
  *name = file->path.substr(file->path.rfind('/') + 1);
  std::string chunk;
  for (uint64_t offset = 0; offset < end;) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(end - offset, uint64_t{1} << 20));
    chunk.resize(n);
    CAIRN_RETURN_IF_ERROR(file->file->Read(offset, n, chunk.data()));
    CAIRN_RETURN_IF_ERROR(sink(chunk));
    offset += n;
  }
  return absl::OkStatus();
}

}  // namespace cairn
