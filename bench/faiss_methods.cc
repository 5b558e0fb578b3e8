#include "bench/faiss_methods.h"

#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexRefine.h>
#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/faiss_support.h"

namespace cairn {

using faiss_support::idx_t;
using faiss_support::kLibraryNote;

namespace {

// The divisor of dim closest to dim / 4 (ties go to the smaller, cheaper one).
uint32_t AutoSubquantizers(uint32_t dim) {
  const double target = dim / 4.0;
  uint32_t best = 1;
  for (uint32_t m = 1; m <= dim; ++m) {
    if (dim % m == 0 && std::fabs(m - target) < std::fabs(best - target)) best = m;
  }
  return best;
}

}  // namespace

// ---------------------------------------------------------------------------
// Options

absl::StatusOr<IvfFlatOptions> IvfFlatOptions::FromParams(const SearchParams& params) {
  absl::Status known = params.CheckKnown("faiss-ivf-flat", {"nlist", "max_train", "seed"});
  if (!known.ok()) return known;
  IvfFlatOptions o;
  o.nlist = static_cast<uint32_t>(params.GetOr("nlist", o.nlist));
  o.max_train = static_cast<uint64_t>(params.GetOr("max_train", o.max_train));
  o.seed = static_cast<uint32_t>(params.GetOr("seed", o.seed));
  return o;
}

absl::StatusOr<IvfPqRefineOptions> IvfPqRefineOptions::FromParams(const SearchParams& params) {
  absl::Status known = params.CheckKnown(
      "faiss-ivf-pq-refine", {"nlist", "m", "nbits", "max_train", "seed", "precomputed_table"});
  if (!known.ok()) return known;
  IvfPqRefineOptions o;
  o.nlist = static_cast<uint32_t>(params.GetOr("nlist", o.nlist));
  o.m = static_cast<uint32_t>(params.GetOr("m", o.m));
  o.nbits = static_cast<uint32_t>(params.GetOr("nbits", o.nbits));
  o.max_train = static_cast<uint64_t>(params.GetOr("max_train", o.max_train));
  o.seed = static_cast<uint32_t>(params.GetOr("seed", o.seed));
  o.precomputed_table = params.GetOr("precomputed_table", 1) != 0;
  if (o.nbits < 1 || o.nbits > 16) {
    return absl::InvalidArgumentError("faiss-ivf-pq-refine: nbits must be in [1, 16]");
  }
  return o;
}

// ---------------------------------------------------------------------------
// faiss-ivf-flat

FaissIvfFlatMethod::FaissIvfFlatMethod(IvfFlatOptions options) : options_(options) {}
FaissIvfFlatMethod::~FaissIvfFlatMethod() = default;

absl::Status FaissIvfFlatMethod::Build(const FloatMatrix& base, Metric metric, int threads) {
  if (base.rows == 0 || base.dim == 0) {
    return absl::InvalidArgumentError(absl::StrCat(name(), ": the base is empty"));
  }
  absl::StatusOr<uint32_t> nlist = faiss_support::ChooseNlist(name(), base.rows, options_.nlist);
  if (!nlist.ok()) return nlist.status();
  metric_ = metric;
  index_.reset();
  distances_ = 0;
  failed_searches_ = 0;

  faiss_support::BuildThreads build_threads(std::max(1, threads));
  const bool normalize = metric == Metric::kCosine;
  const uint64_t train_n = faiss_support::TrainCount(base.rows, *nlist, options_.max_train);
  std::unique_ptr<faiss::IndexIVFFlat> index;
  absl::Status status = faiss_support::CatchFaiss(name(), "build", [&] {
    faiss::Index* quantizer = faiss_support::NewFlatQuantizer(metric, base.dim);
    index = std::make_unique<faiss::IndexIVFFlat>(quantizer, base.dim, *nlist,
                                                  faiss_support::FaissMetric(metric));
    index->own_fields = true;
    index->cp.seed = static_cast<int>(options_.seed);
    const std::vector<float> sample =
        faiss_support::TrainingSample(base, train_n, options_.seed, normalize);
    index->train(static_cast<idx_t>(train_n), sample.data());
    faiss_support::AddAll(index.get(), base, normalize, "faiss-ivf-flat add");
  });
  if (!status.ok()) return status;
  index_ = std::move(index);
  nprobe_ = 1;
  return absl::OkStatus();
}

std::vector<SearchParams> FaissIvfFlatMethod::DefaultSweep() const {
  return faiss_support::NprobeSweep(index_ == nullptr ? 0 : index_->nlist);
}

absl::Status FaissIvfFlatMethod::SetParams(const SearchParams& params) {
  absl::Status known = params.CheckKnown(name(), {"nprobe"});
  if (!known.ok()) return known;
  if (index_ == nullptr) return absl::FailedPreconditionError(name() + ": SetParams before Build");
  absl::StatusOr<uint32_t> nprobe = faiss_support::ParseNprobe(name(), params, index_->nlist);
  if (!nprobe.ok()) return nprobe.status();
  nprobe_ = *nprobe;
  index_->nprobe = nprobe_;  // search_preassigned reads it when given no params
  return absl::OkStatus();
}

void FaissIvfFlatMethod::Search(const float* query, uint32_t k, int64_t* ids_out,
                                float* dists_out) {
  if (index_ == nullptr) return faiss_support::FailResults(k, ids_out, dists_out);
  faiss_support::PinSearchThreadToOneOmpThread();
  query = faiss_support::PrepareQuery(metric_, query, index_->d);
  // What IndexIVF::search does for one query, but with per-call statistics
  // instead of faiss's unsynchronised global ones.
  thread_local std::vector<idx_t> coarse_ids;
  thread_local std::vector<float> coarse_dis;
  coarse_ids.resize(nprobe_);
  coarse_dis.resize(nprobe_);
  try {
    index_->quantizer->search(1, query, nprobe_, coarse_dis.data(), coarse_ids.data());
    faiss::IndexIVFStats stats;
    index_->search_preassigned(1, query, k, coarse_ids.data(), coarse_dis.data(), dists_out,
                               ids_out, /*store_pairs=*/false, /*params=*/nullptr, &stats);
    distances_.fetch_add(index_->nlist + stats.ndis, std::memory_order_relaxed);
    faiss_support::ConvertResults(metric_, k, ids_out, dists_out);
  } catch (const std::exception&) {
    failed_searches_.fetch_add(1, std::memory_order_relaxed);
    faiss_support::FailResults(k, ids_out, dists_out);
  }
}

uint64_t FaissIvfFlatMethod::ResidentBytes() const {
  if (index_ == nullptr) return 0;
  return faiss_support::InvertedListBytes(index_->invlists) +
         faiss_support::FlatBytes(index_->quantizer);
}

std::string FaissIvfFlatMethod::Notes() const {
  std::string notes = absl::StrCat(kLibraryNote);
  if (index_ != nullptr) {
    const double n = std::max<double>(1, index_->ntotal);
    absl::StrAppendFormat(&notes,
                          "; nlist=%zu, flat quantizer; dist/q = nlist centroid distances + "
                          "vectors scanned; resident bytes/vector: lists (codes+ids) %.1f + "
                          "centroids %.1f",
                          index_->nlist, faiss_support::InvertedListBytes(index_->invlists) / n,
                          faiss_support::FlatBytes(index_->quantizer) / n);
  }
  if (const uint64_t failed = failed_searches_.load(); failed > 0) {
    absl::StrAppend(&notes, "; ", failed, " searches threw and returned nothing");
  }
  return notes;
}

WorkCounters FaissIvfFlatMethod::Counters() const {
  WorkCounters c;
  c.available = true;
  c.distances = distances_.load(std::memory_order_relaxed);
  return c;
}

// ---------------------------------------------------------------------------
// faiss-ivf-pq-refine

FaissIvfPqRefineMethod::FaissIvfPqRefineMethod(IvfPqRefineOptions options) : options_(options) {}
FaissIvfPqRefineMethod::~FaissIvfPqRefineMethod() = default;

absl::Status FaissIvfPqRefineMethod::Build(const FloatMatrix& base, Metric metric, int threads) {
  if (base.rows == 0 || base.dim == 0) {
    return absl::InvalidArgumentError(absl::StrCat(name(), ": the base is empty"));
  }
  absl::StatusOr<uint32_t> nlist = faiss_support::ChooseNlist(name(), base.rows, options_.nlist);
  if (!nlist.ok()) return nlist.status();
  const uint32_t m = options_.m != 0 ? options_.m : AutoSubquantizers(base.dim);
  if (m == 0 || base.dim % m != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(name(), ": m=", m, " sub-quantizers do not divide dim ", base.dim));
  }
  const uint64_t train_n = faiss_support::TrainCount(base.rows, *nlist, options_.max_train);
  // Each sub-quantizer's k-means needs at least 2^nbits points.
  const uint32_t nbits =
      std::min<uint32_t>(options_.nbits, std::max(1.0, std::floor(std::log2(double(train_n)))));
  metric_ = metric;
  index_.reset();
  ivfpq_ = nullptr;
  distances_ = 0;
  code_distances_ = 0;
  failed_searches_ = 0;

  faiss_support::BuildThreads build_threads(std::max(1, threads));
  const bool normalize = metric == Metric::kCosine;
  std::unique_ptr<faiss::IndexRefineFlat> index;
  faiss::IndexIVFPQ* ivfpq = nullptr;
  absl::Status status = faiss_support::CatchFaiss(name(), "build", [&] {
    faiss::Index* quantizer = faiss_support::NewFlatQuantizer(metric, base.dim);
    auto owned_ivfpq = std::make_unique<faiss::IndexIVFPQ>(quantizer, base.dim, *nlist, m, nbits,
                                                           faiss_support::FaissMetric(metric));
    owned_ivfpq->own_fields = true;
    owned_ivfpq->cp.seed = static_cast<int>(options_.seed);
    owned_ivfpq->pq.cp.seed = static_cast<int>(options_.seed);
    if (!options_.precomputed_table) owned_ivfpq->use_precomputed_table = -1;
    ivfpq = owned_ivfpq.get();
    index = std::make_unique<faiss::IndexRefineFlat>(owned_ivfpq.release());
    index->own_fields = true;
    const std::vector<float> sample =
        faiss_support::TrainingSample(base, train_n, options_.seed, normalize);
    index->train(static_cast<idx_t>(train_n), sample.data());
    faiss_support::AddAll(index.get(), base, normalize, "faiss-ivf-pq-refine add");
  });
  if (!status.ok()) return status;
  index_ = std::move(index);
  ivfpq_ = ivfpq;
  nprobe_ = 1;
  k_factor_ = 1;
  return absl::OkStatus();
}

std::vector<SearchParams> FaissIvfPqRefineMethod::DefaultSweep() const {
  std::vector<SearchParams> sweep;
  for (const SearchParams& p : faiss_support::NprobeSweep(ivfpq_ == nullptr ? 0 : ivfpq_->nlist)) {
    for (int k_factor : {2, 8}) {
      SearchParams q = p;
      q.Set("k_factor", k_factor);
      sweep.push_back(q);
    }
  }
  return sweep;
}

absl::Status FaissIvfPqRefineMethod::SetParams(const SearchParams& params) {
  absl::Status known = params.CheckKnown(name(), {"nprobe", "k_factor"});
  if (!known.ok()) return known;
  if (index_ == nullptr) return absl::FailedPreconditionError(name() + ": SetParams before Build");
  absl::StatusOr<uint32_t> nprobe = faiss_support::ParseNprobe(name(), params, ivfpq_->nlist);
  if (!nprobe.ok()) return nprobe.status();
  const double k_factor = params.GetOr("k_factor", 1);
  if (!(k_factor >= 1 && k_factor <= 1000)) {
    return absl::InvalidArgumentError(
        absl::StrCat(name(), ": k_factor must be in [1, 1000], not ", k_factor));
  }
  nprobe_ = *nprobe;
  ivfpq_->nprobe = nprobe_;  // search_preassigned reads it when given no params
  k_factor_ = k_factor;
  index_->k_factor = static_cast<float>(k_factor);  // keeps the faiss object self-describing
  return absl::OkStatus();
}

void FaissIvfPqRefineMethod::Search(const float* query, uint32_t k, int64_t* ids_out,
                                    float* dists_out) {
  if (index_ == nullptr) return faiss_support::FailResults(k, ids_out, dists_out);
  faiss_support::PinSearchThreadToOneOmpThread();
  const size_t dim = index_->d;
  query = faiss_support::PrepareQuery(metric_, query, dim);
  // IndexRefineFlat::search for one query, with per-call IVF statistics: PQ
  // codes choose k * k_factor candidates, exact distances from the flat copy
  // re-rank them.
  const idx_t k_base = std::max<idx_t>(k, static_cast<idx_t>(k * k_factor_));
  thread_local std::vector<idx_t> coarse_ids, base_ids;
  thread_local std::vector<float> coarse_dis, base_dis;
  thread_local std::vector<std::pair<float, idx_t>> refined;
  coarse_ids.resize(nprobe_);
  coarse_dis.resize(nprobe_);
  base_ids.resize(k_base);
  base_dis.resize(k_base);
  try {
    ivfpq_->quantizer->search(1, query, nprobe_, coarse_dis.data(), coarse_ids.data());
    faiss::IndexIVFStats stats;
    ivfpq_->search_preassigned(1, query, k_base, coarse_ids.data(), coarse_dis.data(),
                               base_dis.data(), base_ids.data(), /*store_pairs=*/false,
                               /*params=*/nullptr, &stats);
    const auto* flat = static_cast<const faiss::IndexFlat*>(index_->refine_index);
    const float* xb = flat->get_xb();
    refined.clear();
    for (idx_t j = 0; j < k_base; ++j) {
      const idx_t id = base_ids[j];
      if (id < 0) continue;
      // Stored as a distance (smaller = closer) so one sort serves both metrics.
      const float d = metric_ == Metric::kL2
                          ? faiss::fvec_L2sqr(query, xb + id * dim, dim)
                          : -faiss::fvec_inner_product(query, xb + id * dim, dim);
      refined.emplace_back(d, id);
    }
    const size_t keep = std::min<size_t>(k, refined.size());
    std::partial_sort(refined.begin(), refined.begin() + keep, refined.end());
    for (uint32_t j = 0; j < k; ++j) {
      if (j < keep) {
        ids_out[j] = refined[j].second;
        const float d = refined[j].first;
        dists_out[j] = metric_ == Metric::kCosine ? 1.0f + d : d;
      } else {
        ids_out[j] = -1;
        dists_out[j] = std::numeric_limits<float>::infinity();
      }
    }
    distances_.fetch_add(ivfpq_->nlist + refined.size(), std::memory_order_relaxed);
    code_distances_.fetch_add(stats.ndis, std::memory_order_relaxed);
  } catch (const std::exception&) {
    failed_searches_.fetch_add(1, std::memory_order_relaxed);
    faiss_support::FailResults(k, ids_out, dists_out);
  }
}

namespace {

struct PqBytes {
  uint64_t lists = 0;      // PQ codes + ids
  uint64_t centroids = 0;  // coarse quantizer
  uint64_t codebooks = 0;  // PQ centroids
  uint64_t table = 0;      // precomputed residual table
  uint64_t refine = 0;     // full float copy for re-ranking
  uint64_t total() const { return lists + centroids + codebooks + table + refine; }
};

PqBytes CountPqBytes(const faiss::IndexRefineFlat& index, const faiss::IndexIVFPQ& ivfpq) {
  PqBytes b;
  b.lists = faiss_support::InvertedListBytes(ivfpq.invlists);
  b.centroids = faiss_support::FlatBytes(ivfpq.quantizer);
  b.codebooks = (ivfpq.pq.centroids.capacity() + ivfpq.pq.transposed_centroids.capacity() +
                 ivfpq.pq.centroids_sq_lengths.capacity()) *
                sizeof(float);
  b.table = ivfpq.precomputed_table.size() * sizeof(float);
  b.refine = faiss_support::FlatBytes(index.refine_index);
  return b;
}

}  // namespace

uint64_t FaissIvfPqRefineMethod::ResidentBytes() const {
  return index_ == nullptr ? 0 : CountPqBytes(*index_, *ivfpq_).total();
}

std::string FaissIvfPqRefineMethod::Notes() const {
  std::string notes = absl::StrCat(kLibraryNote);
  if (index_ != nullptr) {
    const PqBytes b = CountPqBytes(*index_, *ivfpq_);
    const double n = std::max<double>(1, index_->ntotal);
    absl::StrAppendFormat(
        &notes,
        "; nlist=%zu, PQ m=%zu x %zu bits, precomputed table %s; dist/q = nlist centroid "
        "distances + exact re-ranks, PQ estimates counted separately; resident bytes/vector: "
        "lists (codes+ids) %.1f + centroids %.1f + codebooks %.1f + precomputed table %.1f + "
        "full vectors for re-ranking %.1f",
        ivfpq_->nlist, ivfpq_->pq.M, ivfpq_->pq.nbits,
        ivfpq_->use_precomputed_table > 0 ? "on" : "off", b.lists / n, b.centroids / n,
        b.codebooks / n, b.table / n, b.refine / n);
  }
  if (const uint64_t failed = failed_searches_.load(); failed > 0) {
    absl::StrAppend(&notes, "; ", failed, " searches threw and returned nothing");
  }
  return notes;
}

WorkCounters FaissIvfPqRefineMethod::Counters() const {
  WorkCounters c;
  c.available = true;
  c.distances = distances_.load(std::memory_order_relaxed);
  c.code_distances = code_distances_.load(std::memory_order_relaxed);
  return c;
}

}  // namespace cairn
