// One search method under benchmark = one small adapter implementing
// SearchMethod. The harness (bench/harness.h) builds it, sweeps its search
// knobs and measures it; nothing in the harness knows about any one library.
//
// Life cycle and threading:
//   Build() once, then any number of rounds of { SetParams(); concurrent
//   Search() calls }. SetParams() and Build() must not run concurrently with
//   anything else on the same object; Search() is safe to call from many
//   threads at once between two SetParams() calls.
//
// Result convention: ids are row numbers of the base matrix given to Build();
// distances follow index/metric.h (squared L2, -dot, 1 - cos), nearest first.
// When fewer than k results exist, the rest are id -1 and distance +inf.
#ifndef CAIRN_BENCH_METHOD_H_
#define CAIRN_BENCH_METHOD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "bench/search_params.h"
#include "datasets/vector_file.h"
#include "kernels/metric.h"

namespace cairn {

// Work done by searches, cumulative since Build(). The harness reports the
// per-query difference over a pass.
struct WorkCounters {
  bool available = false;
  // Full-precision float vector distances (including centroid distances of
  // an IVF quantizer and exact re-ranking).
  uint64_t distances = 0;
  // Distance estimates from compressed codes (PQ lookups); not in `distances`.
  uint64_t code_distances = 0;
  // Disk-resident methods: posting lists and bytes read from storage.
  bool io_available = false;
  uint64_t lists_read = 0;
  uint64_t bytes_read = 0;
};

class SearchMethod {
 public:
  virtual ~SearchMethod() = default;

  // Stable name used on the command line and in reports ("hnswlib").
  virtual std::string name() const = 0;

  // Builds the index over base (row i gets id i). threads > 0 bounds the
  // build's parallelism. The method keeps its own copy of what it needs;
  // base may be freed afterwards.
  virtual absl::Status Build(const FloatMatrix& base, Metric metric, int threads) = 0;

  // The settings swept when the user gives none, cheapest first.
  virtual std::vector<SearchParams> DefaultSweep() const = 0;

  // InvalidArgument for unknown knobs or values the index cannot honour.
  virtual absl::Status SetParams(const SearchParams& params) = 0;

  // Top-k of one query (dim floats, un-normalised even for cosine). Writes k
  // ids and k distances. Thread-safe after SetParams(); runs single-threaded
  // inside (no library thread pools), so the harness controls parallelism.
  virtual void Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) = 0;

  // Bytes of RAM the built index holds (vectors, codes, graph, ids,
  // centroids, bookkeeping); Notes() says what exactly is counted.
  virtual uint64_t ResidentBytes() const = 0;

  // Free text for reports: build parameters, what ResidentBytes counts,
  // caveats about the library build.
  virtual std::string Notes() const = 0;

  virtual WorkCounters Counters() const { return {}; }

  // Bytes the index keeps on SSD (disk-resident methods); 0 for in-RAM ones.
  virtual uint64_t DiskBytes() const { return 0; }
};

}  // namespace cairn

#endif  // CAIRN_BENCH_METHOD_H_
