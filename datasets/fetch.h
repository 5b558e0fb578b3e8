// Fetchers for real data sets that Debian or npm packages ship. Each writes
// DIR/base.fbin, DIR/query.fbin, DIR/gt.ibin (exact top-k) and DIR/dataset.json
// (written last, so an interrupted fetch is redone), and skips the work when
// DIR already holds a complete set made with the same parameters.
#ifndef CAIRN_DATASETS_FETCH_H_
#define CAIRN_DATASETS_FETCH_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace cairn {

struct FetchOptions {
  int threads = 0;  // 0: all cores
  bool progress = true;
  bool force = false;  // redo even when the directory is complete
  uint32_t gt_k = 100;
};

// Fashion-MNIST from Debian's dataset-fashion-mnist (installed with apt-get if
// missing and we are root): 60,000 train images as base, 10,000 test images as
// queries, 784-d float32 pixel values 0-255, exact L2 ground truth.
absl::Status FetchFashionMnist(const std::string& out_dir, const FetchOptions& options);

// 778 real sentence embeddings (384-d, all-MiniLM-L6-v2, cosine) from the npm
// package @sap-ux/fiori-docs-embeddings. A seeded 10% of rows are held out as
// queries. Also writes DIR/texts.jsonl and DIR/query_texts.jsonl: one JSON
// object per row in file order ({"id", "title", "category", "content"}).
absl::Status FetchFioriDocs(const std::string& out_dir, const FetchOptions& options,
                            uint64_t seed = 1);

// A scale set made from Fashion-MNIST like MNIST8M: the 60,000 originals,
// then deformed copies (see datasets/augment.h) until n rows, all reduced to
// dim by a PCA fitted on the originals; queries are the 10,000 real test
// images through the same PCA. Streamed: RAM stays bounded for any n.
absl::Status FetchFashionMnistAug(const std::string& out_dir, uint64_t n, uint32_t dim,
                                  uint64_t seed, const FetchOptions& options);

}  // namespace cairn

#endif  // CAIRN_DATASETS_FETCH_H_
