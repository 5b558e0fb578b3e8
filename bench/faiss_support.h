// Pieces the faiss adapters (bench/faiss_methods.h) share: thread control,
// exception conversion, training samples, result conversion and memory
// accounting. Internal to bench/; includes faiss headers.
#ifndef CAIRN_BENCH_FAISS_SUPPORT_H_
#define CAIRN_BENCH_FAISS_SUPPORT_H_

#include <faiss/Index.h>
#include <faiss/invlists/InvertedLists.h>

#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "bench/search_params.h"
#include "datasets/vector_file.h"
#include "kernels/metric.h"

namespace cairn::faiss_support {

using idx_t = faiss::Index::idx_t;

inline constexpr char kLibraryNote[] =
    "Debian faiss 1.7.3 is a generic build without AVX: its times are pessimistic";

// faiss runs n OpenMP threads while this lives (the calling thread's OpenMP
// setting only), and OpenBLAS runs one: its own pthread pool fights faiss's
// spinning OpenMP workers for the cores. Measured on 2 cores, IVFPQ training
// on 20k x 64 took 37 s with both pools at 2 threads and 4.4 s like this.
class BuildThreads {
 public:
  explicit BuildThreads(int n);
  ~BuildThreads();
  BuildThreads(const BuildThreads&) = delete;
  BuildThreads& operator=(const BuildThreads&) = delete;

 private:
  const int omp_;
  const int blas_;
};

// The OpenMP team size is per thread; every searching thread pins its own to
// 1 so a query never fans out (IndexRefine and others open parallel regions
// even for one query).
void PinSearchThreadToOneOmpThread();

// Runs f, turning whatever faiss throws into a Status naming method and step.
template <typename F>
absl::Status CatchFaiss(const std::string& method, const char* step, F&& f) {
  try {
    f();
    return absl::OkStatus();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(method, ": out of memory in ", step));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(method, ": faiss failed in ", step, ": ", e.what()));
  }
}

faiss::MetricType FaissMetric(Metric metric);
// A new flat quantizer for metric (L2, else inner product); caller owns it.
faiss::Index* NewFlatQuantizer(Metric metric, uint32_t dim);

// Rewrites faiss results in place into the SearchMethod convention (faiss
// reports inner products as similarities; missing results get +inf).
void ConvertResults(Metric metric, uint32_t k, int64_t* ids, float* dists);
// All k results empty (id -1, +inf).
void FailResults(uint32_t k, int64_t* ids, float* dists);
// query itself, or for cosine a normalised copy in a per-thread buffer.
const float* PrepareQuery(Metric metric, const float* query, size_t dim);

// requested, or round(4 sqrt(n)); InvalidArgument when it exceeds n.
absl::StatusOr<uint32_t> ChooseNlist(const std::string& method, uint64_t n, uint32_t requested);
// Training sample size: max_train if set, else min(n, max(100000, 40 nlist)).
uint64_t TrainCount(uint64_t n, uint32_t nlist, uint64_t max_train);
// A uniform sample of count rows (all when count == rows), in row order.
std::vector<float> TrainingSample(const FloatMatrix& base, uint64_t count, uint32_t seed,
                                  bool normalize);
// Adds all rows in chunks, so cosine needs only a chunk-sized normalised copy.
void AddAll(faiss::Index* index, const FloatMatrix& base, bool normalize, const char* stage);

// Codes + ids of ArrayInvertedLists by capacity (growth slack is resident
// too) plus per-list vector headers; 0 for other list types.
uint64_t InvertedListBytes(const faiss::InvertedLists* lists);
// Stored codes of an IndexFlatCodes (e.g. a flat quantizer); 0 otherwise.
uint64_t FlatBytes(const faiss::Index* index);

// nprobe in {1, 2, 4, ..., 64}, those <= nlist (all when nlist is 0).
std::vector<SearchParams> NprobeSweep(uint32_t nlist);
// The "nprobe" knob, an integer in [1, nlist].
absl::StatusOr<uint32_t> ParseNprobe(const std::string& method, const SearchParams& params,
                                     size_t nlist);

}  // namespace cairn::faiss_support

#endif  // CAIRN_BENCH_FAISS_SUPPORT_H_
