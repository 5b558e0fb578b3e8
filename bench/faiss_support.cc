#include "bench/faiss_support.h"

#include <faiss/IndexFlat.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>
#include <utility>

#include "common/progress.h"
#include "kernels/distance.h"

// OpenBLAS's own thread control (Debian's libblas is OpenBLAS here).
extern "C" void openblas_set_num_threads(int num_threads);
extern "C" int openblas_get_num_threads(void);

namespace cairn::faiss_support {

BuildThreads::BuildThreads(int n) : omp_(omp_get_max_threads()), blas_(openblas_get_num_threads()) {
  omp_set_num_threads(n);
  openblas_set_num_threads(1);
}

BuildThreads::~BuildThreads() {
  omp_set_num_threads(omp_);
  openblas_set_num_threads(blas_);
}

void PinSearchThreadToOneOmpThread() {
  if (omp_get_max_threads() != 1) omp_set_num_threads(1);
}

faiss::MetricType FaissMetric(Metric metric) {
  return metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
}

faiss::Index* NewFlatQuantizer(Metric metric, uint32_t dim) {
  if (metric == Metric::kL2) return new faiss::IndexFlatL2(dim);
  return new faiss::IndexFlatIP(dim);
}

namespace {

// faiss reports inner products as similarities; ours are distances.
float ToCairnDistance(Metric metric, float faiss_value) {
  switch (metric) {
    case Metric::kL2:
      return faiss_value;
    case Metric::kInnerProduct:
      return -faiss_value;
    case Metric::kCosine:
      return 1.0f - faiss_value;
  }
  return faiss_value;
}

}  // namespace

void ConvertResults(Metric metric, uint32_t k, int64_t* ids, float* dists) {
  for (uint32_t j = 0; j < k; ++j) {
    dists[j] =
        ids[j] < 0 ? std::numeric_limits<float>::infinity() : ToCairnDistance(metric, dists[j]);
  }
}

void FailResults(uint32_t k, int64_t* ids, float* dists) {
  std::fill(ids, ids + k, -1);
  std::fill(dists, dists + k, std::numeric_limits<float>::infinity());
}

const float* PrepareQuery(Metric metric, const float* query, size_t dim) {
  if (metric != Metric::kCosine) return query;
  thread_local std::vector<float> normalized;
  normalized.assign(query, query + dim);
  Normalize(normalized.data(), dim);
  return normalized.data();
}

absl::StatusOr<uint32_t> ChooseNlist(const std::string& method, uint64_t n, uint32_t requested) {
  const uint32_t nlist =
      requested != 0
          ? requested
          : static_cast<uint32_t>(std::max<double>(1.0, std::round(4.0 * std::sqrt(double(n)))));
  if (nlist > n) {
    return absl::InvalidArgumentError(
        absl::StrCat(method, ": nlist ", nlist, " exceeds the ", n, " base vectors"));
  }
  return nlist;
}

// k-means wants ~40 points per centroid; beyond 100k points training gets
// slow without getting better for the list counts used here.
uint64_t TrainCount(uint64_t n, uint32_t nlist, uint64_t max_train) {
  if (max_train != 0) return std::min(n, max_train);
  return std::min<uint64_t>(n, std::max<uint64_t>(100000, 40ull * nlist));
}

std::vector<float> TrainingSample(const FloatMatrix& base, uint64_t count, uint32_t seed,
                                  bool normalize) {
  std::vector<uint64_t> rows(base.rows);
  std::iota(rows.begin(), rows.end(), 0);
  if (count < base.rows) {
    std::mt19937_64 rng(seed);
    for (uint64_t i = 0; i < count; ++i) {
      std::uniform_int_distribution<uint64_t> pick(i, base.rows - 1);
      std::swap(rows[i], rows[pick(rng)]);
    }
    rows.resize(count);
    std::sort(rows.begin(), rows.end());
  }
  std::vector<float> sample(count * base.dim);
  for (uint64_t i = 0; i < count; ++i) {
    float* out = sample.data() + i * base.dim;
    std::copy(base.row(rows[i]), base.row(rows[i]) + base.dim, out);
    if (normalize) Normalize(out, base.dim);
  }
  return sample;
}

void AddAll(faiss::Index* index, const FloatMatrix& base, bool normalize, const char* stage) {
  constexpr uint64_t kChunk = 65536;
  Progress progress(stage, base.rows, "vectors");
  std::vector<float> chunk;
  for (uint64_t begin = 0; begin < base.rows; begin += kChunk) {
    const uint64_t n = std::min(kChunk, base.rows - begin);
    const float* rows = base.row(begin);
    if (normalize) {
      chunk.assign(rows, rows + n * base.dim);
      for (uint64_t i = 0; i < n; ++i) Normalize(chunk.data() + i * base.dim, base.dim);
      rows = chunk.data();
    }
    index->add(static_cast<idx_t>(n), rows);
    progress.Add(n);
  }
}

uint64_t InvertedListBytes(const faiss::InvertedLists* lists) {
  const auto* array = dynamic_cast<const faiss::ArrayInvertedLists*>(lists);
  if (array == nullptr) return 0;
  uint64_t bytes = 0;
  for (size_t i = 0; i < array->nlist; ++i) {
    bytes += array->codes[i].capacity() + array->ids[i].capacity() * sizeof(idx_t);
  }
  return bytes + array->nlist * 2 * sizeof(std::vector<uint8_t>);
}

uint64_t FlatBytes(const faiss::Index* index) {
  const auto* flat = dynamic_cast<const faiss::IndexFlatCodes*>(index);
  return flat == nullptr ? 0 : flat->codes.capacity();
}

std::vector<SearchParams> NprobeSweep(uint32_t nlist) {
  std::vector<SearchParams> sweep;
  for (int nprobe : {1, 2, 4, 8, 16, 32, 64}) {
    if (nlist == 0 || static_cast<uint32_t>(nprobe) <= nlist) {
      sweep.push_back(SearchParams{{"nprobe", nprobe}});
    }
  }
  return sweep;
}

absl::StatusOr<uint32_t> ParseNprobe(const std::string& method, const SearchParams& params,
                                     size_t nlist) {
  const double nprobe = params.GetOr("nprobe", 1);
  if (nprobe < 1 || nprobe > nlist || nprobe != std::floor(nprobe)) {
    return absl::InvalidArgumentError(absl::StrCat(
        method, ": nprobe must be an integer in [1, nlist=", nlist, "], not ", nprobe));
  }
  return static_cast<uint32_t>(nprobe);
}

}  // namespace cairn::faiss_support
