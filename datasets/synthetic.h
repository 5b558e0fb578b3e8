// Seeded Gaussian-mixture data sets, streamed to disk so any size up to the
// fbin limit (2^31-1 rows) works in bounded RAM.
//
// The mixture (defaults match ../shared/ANCHORS.md's syn1m): `clusters`
// centres drawn from N(0, center_std^2 I); each cluster has a noise std drawn
// from U(noise_min, noise_max); a point picks a cluster uniformly and adds
// isotropic Gaussian noise of that std. Queries come from the same mixture
// with an independent stream. Output is identical for the same options,
// whatever the thread count.
#ifndef CAIRN_DATASETS_SYNTHETIC_H_
#define CAIRN_DATASETS_SYNTHETIC_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace cairn {

struct SyntheticOptions {
  uint64_t n = 1000000;
  uint32_t dim = 128;
  uint32_t queries = 2000;
  uint32_t clusters = 1000;
  uint64_t seed = 1;
  double center_std = 4.0;  // centres ~ N(0, 16 I)
  double noise_min = 0.5;
  double noise_max = 2.0;
  uint32_t gt_k = 100;
  int threads = 0;  // 0: all cores
  bool progress = true;

  absl::Status Validate() const;
};

// The parameter string stored in dataset.json (a rerun with the same string
// finds the directory complete and skips the work).
std::string SyntheticParams(const SyntheticOptions& options);

// Writes out_dir/base.fbin, query.fbin, gt.ibin (exact top-gt_k, L2) and
// dataset.json.
absl::Status GenerateSynthetic(const SyntheticOptions& options, const std::string& out_dir);

}  // namespace cairn

#endif  // CAIRN_DATASETS_SYNTHETIC_H_
