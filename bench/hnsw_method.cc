#include "bench/hnsw_method.h"

// hnswlib 0.6.2's headers define non-inline functions and variables (CPU
// feature probes, SIMD dispatch pointers), so a second translation unit that
// includes them (index/spann/head_index.cc does) breaks the link with
// duplicate symbols. They are renamed for this file only; nothing outside
// uses them. index/spann/hnsw_space.h, below, then finds hnswlib included.
#define cpuid cairn_bench_hnswlib_cpuid
#define xgetbv cairn_bench_hnswlib_xgetbv
#define AVXCapable cairn_bench_hnswlib_AVXCapable
#define AVX512Capable cairn_bench_hnswlib_AVX512Capable
#define L2SqrSIMD16Ext cairn_bench_hnswlib_L2SqrSIMD16Ext
#define L2SqrSIMD4Ext cairn_bench_hnswlib_L2SqrSIMD4Ext
#define InnerProductSIMD4Ext cairn_bench_hnswlib_InnerProductSIMD4Ext
#define InnerProductSIMD16Ext cairn_bench_hnswlib_InnerProductSIMD16Ext
#define InnerProductDistanceSIMD4Ext cairn_bench_hnswlib_InnerProductDistanceSIMD4Ext
#define InnerProductDistanceSIMD16Ext cairn_bench_hnswlib_InnerProductDistanceSIMD16Ext
#include <hnswlib/hnswlib.h>
#undef cpuid
#undef xgetbv
#undef AVXCapable
#undef AVX512Capable
#undef L2SqrSIMD16Ext
#undef L2SqrSIMD4Ext
#undef InnerProductSIMD4Ext
#undef InnerProductSIMD16Ext
#undef InnerProductDistanceSIMD4Ext
#undef InnerProductDistanceSIMD16Ext
#include "index/spann/hnsw_space.h"

#include <algorithm>
#include <exception>
#include <limits>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/progress.h"
#include "kernels/distance.h"

namespace cairn {
namespace {

// Results [from, k) become "no result".
void FillEmpty(uint32_t from, uint32_t k, int64_t* ids, float* dists) {
  for (uint32_t j = from; j < k; ++j) {
    ids[j] = -1;
    dists[j] = std::numeric_limits<float>::infinity();
  }
}

}  // namespace

struct HnswMethod::State {
  std::unique_ptr<HnswKernelSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> index;
};

absl::Status HnswOptions::Validate() const {
  if (m < 2 || m > 1024) {
    return absl::InvalidArgumentError(absl::StrCat("hnswlib: M must be in [2, 1024], not ", m));
  }
  if (ef_construction < 1) {
    return absl::InvalidArgumentError("hnswlib: ef_construction must be >= 1");
  }
  return absl::OkStatus();
}

absl::StatusOr<HnswOptions> HnswOptions::FromParams(const SearchParams& params) {
  absl::Status known = params.CheckKnown("hnswlib", {"M", "ef_construction", "efc", "seed"});
  if (!known.ok()) return known;
  HnswOptions options;
  options.m = static_cast<uint32_t>(params.GetOr("M", options.m));
  options.ef_construction = static_cast<uint32_t>(
      params.GetOr("ef_construction", params.GetOr("efc", options.ef_construction)));
  options.seed = static_cast<uint32_t>(params.GetOr("seed", options.seed));
  absl::Status valid = options.Validate();
  if (!valid.ok()) return valid;
  return options;
}

HnswMethod::HnswMethod(HnswOptions options) : options_(options) {}
HnswMethod::~HnswMethod() = default;

absl::Status HnswMethod::Build(const FloatMatrix& base, Metric metric, int threads) {
  absl::Status valid = options_.Validate();
  if (!valid.ok()) return valid;
  if (base.rows == 0 || base.dim == 0) {
    return absl::InvalidArgumentError("hnswlib: the base is empty");
  }
  if (base.rows > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError("hnswlib: more than 2^32 vectors");
  }
  metric_ = metric;
  dim_ = base.dim;
  state_.reset();
  search_distances_ = 0;
  failed_searches_ = 0;

  auto state = std::make_unique<State>();
  try {
    state->space = std::make_unique<HnswKernelSpace>(base.dim, metric, /*count_distances=*/true);
    state->index = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        state->space.get(), base.rows, options_.m, options_.ef_construction, options_.seed);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(
        absl::StrCat("hnswlib: cannot allocate the index: ", e.what()));
  }

  // hnswlib allows concurrent addPoint; threads take rows from a shared
  // counter in small batches so a slow region does not stall one thread.
  const int num_threads = std::max(1, threads);
  constexpr uint64_t kBatch = 256;
  std::atomic<uint64_t> next{0};
  std::mutex error_mu;
  std::string error;
  Progress progress("hnswlib build", base.rows, "vectors");
  auto worker = [&] {
    std::vector<float> normalized(base.dim);
    try {
      for (;;) {
        const uint64_t begin = next.fetch_add(kBatch);
        if (begin >= base.rows) break;
        const uint64_t end = std::min<uint64_t>(begin + kBatch, base.rows);
        for (uint64_t i = begin; i < end; ++i) {
          const float* row = base.row(i);
          if (metric == Metric::kCosine) {
            std::copy(row, row + base.dim, normalized.begin());
            Normalize(normalized.data(), base.dim);
            row = normalized.data();
          }
          state->index->addPoint(row, static_cast<hnswlib::labeltype>(i));
        }
        progress.Add(end - begin);
      }
    } catch (const std::exception& e) {
      std::lock_guard<std::mutex> lock(error_mu);
      if (error.empty()) error = e.what();
      next = base.rows;  // stop the others
    }
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < num_threads; ++t) pool.emplace_back(worker);
  worker();
  for (std::thread& t : pool) t.join();
  progress.Finish();
  if (!error.empty()) return absl::InternalError(absl::StrCat("hnswlib build: ", error));
  state_ = std::move(state);
  return absl::OkStatus();
}

std::vector<SearchParams> HnswMethod::DefaultSweep() const {
  std::vector<SearchParams> sweep;
  for (int ef : {10, 20, 40, 80, 160, 320}) sweep.push_back(SearchParams{{"ef", ef}});
  return sweep;
}

absl::Status HnswMethod::SetParams(const SearchParams& params) {
  absl::Status known = params.CheckKnown(name(), {"ef"});
  if (!known.ok()) return known;
  if (state_ == nullptr) return absl::FailedPreconditionError("hnswlib: SetParams before Build");
  const double ef = params.GetOr("ef", 10);
  if (ef < 1 || ef > 1e6) {
    return absl::InvalidArgumentError(absl::StrCat("hnswlib: ef must be in [1, 1e6], not ", ef));
  }
  state_->index->setEf(static_cast<size_t>(ef));
  return absl::OkStatus();
}

void HnswMethod::Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) {
  thread_local std::vector<float> normalized;
  if (metric_ == Metric::kCosine) {
    normalized.assign(query, query + dim_);
    Normalize(normalized.data(), dim_);
    query = normalized.data();
  }
  const uint64_t distances_before = HnswKernelSpace::ThreadDistanceCount();
  uint32_t found = 0;
  try {
    if (state_ == nullptr) return FillEmpty(0, k, ids_out, dists_out);  // not built
    auto result = state_->index->searchKnn(query, k);
    // A max-heap: the farthest comes out first, so fill from the back.
    found = static_cast<uint32_t>(std::min<size_t>(result.size(), k));
    while (result.size() > found) result.pop();
    for (uint32_t j = found; j-- > 0;) {
      const float d = result.top().first;
      ids_out[j] = static_cast<int64_t>(result.top().second);
      dists_out[j] = metric_ == Metric::kCosine ? 1.0f + d : d;
      result.pop();
    }
  } catch (const std::exception&) {
    // Search has no error channel; an empty answer shows up as lost recall
    // and the count goes into Notes().
    found = 0;
    failed_searches_.fetch_add(1, std::memory_order_relaxed);
  }
  FillEmpty(found, k, ids_out, dists_out);
  search_distances_.fetch_add(HnswKernelSpace::ThreadDistanceCount() - distances_before,
                              std::memory_order_relaxed);
}

namespace {

// What the index holds, by kind, in bytes (see Notes()).
struct HnswBytes {
  uint64_t vectors = 0;
  uint64_t graph = 0;  // level-0 and upper-level link lists
  uint64_t other = 0;  // labels, per-node pointers/levels/locks, label map, one visited list
  uint64_t total() const { return vectors + graph + other; }
};

HnswBytes CountBytes(const hnswlib::HierarchicalNSW<float>& index) {
  HnswBytes b;
  const uint64_t n = index.max_elements_;
  b.vectors = n * index.data_size_;
  b.graph = n * index.size_links_level0_;
  for (size_t i = 0; i < index.cur_element_count; ++i) {
    const int level = index.element_levels_[i];
    if (level > 0) b.graph += index.size_links_per_element_ * level + 1;  // malloc'd size
  }
  b.other = n * sizeof(hnswlib::labeltype)  // label in the level-0 block
            + n * sizeof(char*)             // linkLists_
            + n * sizeof(int)               // element_levels_
            + n * sizeof(std::mutex)        // link_list_locks_
            + hnswlib::HierarchicalNSW<float>::max_update_element_locks * sizeof(std::mutex) +
            n * sizeof(hnswlib::vl_type);  // one visited list
  // label_lookup_ (std::unordered_map): ~32 bytes per node after malloc
  // rounding, plus the bucket array. An estimate, stated as such in Notes().
  b.other += index.label_lookup_.size() * 32 + index.label_lookup_.bucket_count() * sizeof(void*);
  return b;
}

}  // namespace

uint64_t HnswMethod::ResidentBytes() const {
  return state_ == nullptr ? 0 : CountBytes(*state_->index).total();
}

std::string HnswMethod::Notes() const {
  std::string notes = absl::StrFormat(
      "hnswlib 0.6.2 (Debian headers), M=%u, ef_construction=%u; distance via our %s kernels "
      "(counted per call); search uses max(ef, k)",
      options_.m, options_.ef_construction, SimdLevelName(Kernels().level));
  if (state_ != nullptr) {
    const HnswBytes b = CountBytes(*state_->index);
    const double n = static_cast<double>(state_->index->max_elements_);
    absl::StrAppendFormat(&notes,
                          "; resident bytes/vector: vectors %.1f + graph links %.1f + other %.1f "
                          "(labels, per-node pointer/level/mutex, label map ~estimated, one "
                          "visited list; each extra concurrent searcher adds %zu B/vector)",
                          b.vectors / n, b.graph / n, b.other / n, sizeof(hnswlib::vl_type));
  }
  const uint64_t failed = failed_searches_.load();
  if (failed > 0) absl::StrAppend(&notes, "; ", failed, " searches threw and returned nothing");
  return notes;
}

WorkCounters HnswMethod::Counters() const {
  WorkCounters c;
  c.available = true;
  c.distances = search_distances_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace cairn
