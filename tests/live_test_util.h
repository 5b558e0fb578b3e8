// Shared by the live-index tests: a small bulk-built index on a real disk and
// deterministic vectors for ids written later, so that a checker (another
// process, even) can recompute what an acknowledged write stored.
#ifndef CAIRN_TESTS_LIVE_TEST_UTIL_H_
#define CAIRN_TESTS_LIVE_TEST_UTIL_H_

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/random.h"
#include "datasets/synthetic.h"
#include "datasets/vector_file.h"
#include "index/live/live_index.h"
#include "index/spann/spann_builder.h"

namespace cairn::testing {

inline constexpr uint32_t kLiveDim = 16;

// Builds an L2 float32 index over `n` synthetic vectors in `dir`/index and
// returns the index directory; the base vectors go to *base.
inline absl::StatusOr<std::string> BuildSmallIndex(
    const std::string& dir, uint64_t n, FloatMatrix* base,
    double closure_epsilon = std::numeric_limits<double>::infinity()) {
  SyntheticOptions so;
  so.n = n;
  so.dim = kLiveDim;
  so.queries = 10;
  so.clusters = 20;
  so.gt_k = 10;
  so.progress = false;
  so.threads = 1;
  if (auto s = GenerateSynthetic(so, dir + "/data"); !s.ok()) return s;
  auto m = ReadFloatMatrix(dir + "/data/base.fbin");
  if (!m.ok()) return m.status();
  *base = std::move(*m);
  SpannBuildOptions bo;
  bo.progress = false;
  bo.threads = 1;
  bo.stored_type = "float32";
  bo.closure_epsilon = closure_epsilon;
  const std::string index = dir + "/index";
  auto report = BuildSpannIndex(dir + "/data/base.fbin", index, bo);
  if (!report.ok()) return report.status();
  return index;
}

// A vector for external id `id`: near base row id % rows, perturbed by a
// seeded offset so that every id's vector is distinct.
inline std::vector<float> VectorFor(uint64_t id, const FloatMatrix& base) {
  std::vector<float> v(base.row(id % base.rows), base.row(id % base.rows) + base.dim);
  Rng rng(id * 7919 + 13);
  for (float& x : v) x += static_cast<float>(rng.Gaussian() * 0.05);
  return v;
}

inline ExternalId LiveId(uint64_t id) {
  return *ExternalId::String("doc-" + std::to_string(id));
}

// The top hit for `v` with k = 1 and a generous posting budget.
inline absl::StatusOr<std::vector<LiveResult>> TopHits(LiveIndex& index, LiveSearchContext* ctx,
                                                      const std::vector<float>& v, uint32_t k = 1) {
  SpannSearchParams p;
  p.k = k;
  p.max_postings = 16;
  std::vector<LiveResult> out;
  if (auto s = index.Search(v.data(), p, ctx, &out, nullptr); !s.ok()) return s;
  return out;
}

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_LIVE_TEST_UTIL_H_
