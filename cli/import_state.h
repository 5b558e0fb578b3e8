// The resume state of `cairn import`: which batches of an input the server
// acknowledged, so that a rerun of the same import sends only the others.
//
// File layout (little-endian; docs/formats.md, "Import state"):
//
//   offset  size  field
//   0       8     magic "CAIRNIMP"
//   8       4     version (1)
//   12      4     reserved, 0
//   16      8     job fingerprint (the inputs' paths, sizes and mtimes, the
//                 collection, the batch size: see ImportJobFingerprint)
//   24      8     batch size (lines per batch)
//   32      8     number of batches
//   40      8     points in the collection before the first run
//   48      8     points sent in acknowledged batches
//   56      8     bad lines in acknowledged batches
//   64      B     bitmap, bit k (byte k / 8, bit k % 8) = batch k acknowledged;
//                 B = ceil(batches / 8)
//   64+B    8     XXH3-64 of bytes [0, 64 + B)
//
// The file is replaced whole (write-temp, fsync, rename, fsync-directory),
// so a kill at any moment leaves the previous state or the new one. A state
// that is damaged or belongs to another job is not used: the import starts
// over (upserts by id repeat safely) and says why.
//
// Thread-safety: ImportState is guarded by its own mutex; Ack and Save may
// be called from any thread.
#ifndef CAIRN_CLI_IMPORT_STATE_H_
#define CAIRN_CLI_IMPORT_STATE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace cairn {

struct ImportProgressTotals {
  uint64_t acked_batches = 0;
  uint64_t acked_points = 0;
  uint64_t acked_bad_lines = 0;
};

class ImportState {
 public:
  ImportState(uint64_t fingerprint, uint64_t batch_size, uint64_t batches, uint64_t points_before);

  // Reads `path`. NotFound when there is no file; DataLoss naming what is
  // wrong when it is damaged (bad magic, version, size or checksum).
  static absl::StatusOr<ImportState> Load(const std::string& path);
  // Atomically replaces `path` with the current state.
  absl::Status Save(const std::string& path) const;

  bool Matches(uint64_t fingerprint, uint64_t batch_size, uint64_t batches) const {
    return fingerprint == fingerprint_ && batch_size == batch_size_ && batches == batches_;
  }
  bool Acked(uint64_t batch) const;
  void Ack(uint64_t batch, uint64_t points, uint64_t bad_lines);
  ImportProgressTotals Totals() const;
  uint64_t points_before() const { return points_before_; }
  uint64_t batches() const { return batches_; }

  ImportState(ImportState&& other);
  ImportState& operator=(ImportState&&) = delete;

 private:
  std::string Encode() const;

  uint64_t fingerprint_;
  uint64_t batch_size_;
  uint64_t batches_;
  uint64_t points_before_;
  mutable absl::Mutex mu_;
  std::vector<uint8_t> bitmap_ ABSL_GUARDED_BY(mu_);
  ImportProgressTotals totals_ ABSL_GUARDED_BY(mu_);
};

// XXH3-64 of the job's identity: each input's absolute path, size and
// modification time, the collection and the batch size. Editing an input
// changes it, so a state is never applied to different data.
absl::StatusOr<uint64_t> ImportJobFingerprint(const std::vector<std::string>& inputs,
                                              const std::string& collection, uint64_t batch_size);

}  // namespace cairn

#endif  // CAIRN_CLI_IMPORT_STATE_H_
