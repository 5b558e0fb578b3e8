// routing.gmm: a GaussianMixture in a record file (storage/record_file.h),
// magic "CAIRNGMM", version 1. Body (little-endian, docs/formats.md,
// "Routing mixture"):
//
//   offset        size        field
//   0             4           uint32 dim (>= 1)
//   4             4           uint32 components K (>= 1)
//   8             4 K         float32 mixing weights (positive, sum 1)
//   8 + 4K        4 K dim     float32 means, row-major
//   8 + 4K(1+d)   4 K dim     float32 variances (positive), row-major
//
// The envelope's XXH3 covers the body; the body parser checks the sizes
// and every value again (GaussianMixture::FromParameters), since a corrupted
// version number can slip past the envelope.
//
// Thread-safety: as storage/record_file.h (concurrent calls for different
// paths are safe).
#ifndef CAIRN_INDEX_ROUTING_GMM_FILE_H_
#define CAIRN_INDEX_ROUTING_GMM_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "index/routing/gmm.h"
#include "storage/env.h"

namespace cairn {

inline constexpr char kGmmFileMagic[8] = {'C', 'A', 'I', 'R', 'N', 'G', 'M', 'M'};
inline constexpr uint32_t kGmmFileVersion = 1;

// Replaces `path` atomically (temp, fsync, rename, fsync directory).
absl::Status WriteGmmFile(Env* env, const std::string& path, const GaussianMixture& gmm);
// DataLoss naming the file on a bad envelope or body; NotFound if missing.
absl::StatusOr<GaussianMixture> ReadGmmFile(Env* env, const std::string& path);

}  // namespace cairn

#endif  // CAIRN_INDEX_ROUTING_GMM_FILE_H_
