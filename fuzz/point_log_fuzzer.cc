// The point store's log (storage/point_log.cc): ScanPointLog over the whole
// file, then ReadPointRecord of every record it delivered, and the store
// keys as ids (server/point_id.cc FromStoreKey). The first byte's low bit
// reseals the header and frame checksums (see wal_fuzzer.cc); the rest is
// the file, generation 1.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "server/point_id.h"
#include "storage/env.h"
#include "storage/point_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string bytes(cairn::fuzz::Rest(data, size));
  if (data[0] & 1) {
    cairn::fuzz::SealFileHeader(&bytes);
    cairn::fuzz::SealFrames(&bytes, cairn::kPointLogHeaderBytes);
  }
  const std::string path = cairn::fuzz::WriteScratch("points.1.log", bytes);
  cairn::Env* env = cairn::Env::Default();
  absl::StatusOr<std::unique_ptr<cairn::RandomAccessFile>> file = env->NewRandomAccessFile(path);
  if (!file.ok()) __builtin_trap();
  std::vector<cairn::PointLogOp> ops;
  cairn::PointLogScan scan;
  absl::Status s = cairn::ScanPointLog(
      **file, bytes.size(), /*generation=*/1,
      [&](const std::vector<cairn::PointLogOp>& batch) {
        ops.insert(ops.end(), batch.begin(), batch.end());
        return absl::OkStatus();
      },
      &scan);
  if (s.ok() && scan.valid_bytes > bytes.size()) __builtin_trap();
  std::string buffer;
  for (const cairn::PointLogOp& op : ops) {
    (void)cairn::FromStoreKey(op.key);
    absl::StatusOr<cairn::PointRecordView> view =
        cairn::ReadPointRecord(**file, path, op.location, &buffer);
    // A record the scan delivered reads back intact.
    if (!view.ok() || view->key != op.key) __builtin_trap();
  }
  return 0;
}
