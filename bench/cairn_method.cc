#include "bench/cairn_method.h"

#include <cstdlib>
#include <filesystem>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"

namespace cairn {

absl::StatusOr<CairnMethodOptions> CairnMethodOptions::FromParams(const SearchParams& params) {
  CAIRN_RETURN_IF_ERROR(params.CheckKnown(
      "cairn", {"head_ratio", "replicas", "candidates", "rng_factor", "closure_epsilon",
                "posting_limit", "hnsw_m", "hnsw_ef_construction", "seed", "head_type",
                "code_bits_per_dim", "code_rotation", "code_sample", "stored_type"}));
  CairnMethodOptions o;
  SpannBuildOptions& b = o.build;
  b.head_ratio = params.GetOr("head_ratio", b.head_ratio);
  b.replicas = static_cast<uint32_t>(params.GetOr("replicas", b.replicas));
  b.candidates = static_cast<uint32_t>(params.GetOr("candidates", b.candidates));
  b.rng_factor = params.GetOr("rng_factor", b.rng_factor);
  if (params.Get("closure_epsilon")) b.closure_epsilon = *params.Get("closure_epsilon");
  b.posting_limit = static_cast<uint32_t>(params.GetOr("posting_limit", b.posting_limit));
  b.hnsw_m = static_cast<uint32_t>(params.GetOr("hnsw_m", b.hnsw_m));
  b.hnsw_ef_construction =
      static_cast<uint32_t>(params.GetOr("hnsw_ef_construction", b.hnsw_ef_construction));
  b.seed = static_cast<uint64_t>(params.GetOr("seed", b.seed));
  // Numeric knobs only in the harness: head_type 0 = centroid, 1 = member.
  if (params.Get("head_type")) {
    b.head_type = *params.Get("head_type") == 0 ? HeadType::kCentroid : HeadType::kMember;
  }
  b.code_bits_per_dim = static_cast<uint32_t>(params.GetOr("code_bits_per_dim", b.code_bits_per_dim));
  // code_rotation 0 = hadamard, 1 = learned (rabitq).
  if (params.Get("code_rotation")) {
    b.code_rotation = *params.Get("code_rotation") == 0 ? "hadamard" : "learned";
  }
  b.code_sample = static_cast<uint32_t>(params.GetOr("code_sample", b.code_sample));
  // stored_type 0 = auto (narrowest lossless), 1 = float32, 2 = uint8, 3 = int8.
  if (params.Get("stored_type")) {
    const double t = *params.Get("stored_type");
    if (t != 0 && t != 1 && t != 2 && t != 3) {
      return absl::InvalidArgumentError("cairn: stored_type must be 0 (auto), 1 (float32), 2 (uint8) or 3 (int8)");
    }
    b.stored_type = t == 1 ? "float32" : t == 2 ? "uint8" : t == 3 ? "int8" : "auto";
  }
  CAIRN_RETURN_IF_ERROR(b.Validate());
  return o;
}

CairnMethod::~CairnMethod() {
  contexts_.clear();
  index_.reset();
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

absl::Status CairnMethod::Build(const FloatMatrix& base, Metric metric, int threads) {
  const char* root = std::getenv("CAIRN_BENCH_DIR");
  std::string tmpl = absl::StrCat(root != nullptr ? root : "/var/tmp", "/cairn-bench-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat(tmpl, ": cannot create a scratch directory"));
  }
  dir_ = tmpl;
  const std::string input = dir_ + "/base.fbin";
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(input, base));
  SpannBuildOptions b = options_.build;
  b.metric = metric;
  b.threads = threads;
  b.progress = false;
  CAIRN_ASSIGN_OR_RETURN(build_report_, BuildSpannIndex(input, dir_ + "/index", b));
  std::filesystem::remove(input);
  std::error_code ec;
  std::filesystem::remove_all(dir_ + "/index/build", ec);
  CAIRN_ASSIGN_OR_RETURN(index_, SpannIndex::Open(dir_ + "/index"));
  return absl::OkStatus();
}

std::vector<SearchParams> CairnMethod::DefaultSweep() const {
  std::vector<SearchParams> sweep;
  if (options_.build.codes != CodeFamily::kNone) {
    // Codes: the posting budget crossed with how far the error bound is
    // trusted (1 = the model's eps0); plan auto.
    for (double mp : {4, 6, 8, 10, 12, 16, 24, 32, 48}) {
      for (double bs : {1.0, 0.7, 0.5}) sweep.push_back({{"max_postings", mp}, {"bound_scale", bs}});
    }
    return sweep;
  }
  for (double mp : {2, 4, 6, 8, 10, 12, 16, 24, 32, 64}) sweep.push_back({{"max_postings", mp}});
  return sweep;
}

std::string CairnMethod::name() const {
  return options_.build.codes == CodeFamily::kNone
             ? "cairn"
             : absl::StrCat("cairn-", CodeFamilyName(options_.build.codes));
}

absl::Status CairnMethod::SetParams(const SearchParams& params) {
  CAIRN_RETURN_IF_ERROR(
      params.CheckKnown(name(), {"max_postings", "epsilon", "head_ef", "rerank_top", "plan", "bound_scale",
                            "merge_gap", "whole_nearest", "batch_cost_kib"}));
  SpannSearchParams p;
  p.rerank_top = static_cast<uint32_t>(params.GetOr("rerank_top", 0));
  p.bound_scale = static_cast<float>(params.GetOr("bound_scale", 1.0));
  p.merge_gap = static_cast<uint32_t>(params.GetOr("merge_gap", 0));
  p.whole_nearest = static_cast<uint32_t>(params.GetOr("whole_nearest", 0));
  p.batch_cost_kib = static_cast<uint32_t>(params.GetOr("batch_cost_kib", p.batch_cost_kib));
  // plan 0 = auto, 1 = two-step, 2 = whole postings.
  const double plan = params.GetOr("plan", 0);
  p.plan = plan == 1 ? SpannSearchParams::Plan::kTwoStep
           : plan == 2 ? SpannSearchParams::Plan::kWhole
                       : SpannSearchParams::Plan::kAuto;
  p.max_postings = static_cast<uint32_t>(params.GetOr("max_postings", p.max_postings));
  p.epsilon = static_cast<float>(params.GetOr("epsilon", p.epsilon));
  p.head_ef = static_cast<uint32_t>(params.GetOr("head_ef", p.head_ef));
  CAIRN_RETURN_IF_ERROR(p.Validate());
  params_ = p;
  return absl::OkStatus();
}

SearchContext* CairnMethod::ContextForThisThread() {
  std::lock_guard<std::mutex> lock(contexts_mu_);
  auto& slot = contexts_[std::this_thread::get_id()];
  if (slot == nullptr) {
    auto ctx = index_->NewContext();
    if (!ctx.ok()) return nullptr;
    slot = std::move(*ctx);
  }
  return slot.get();
}

void CairnMethod::Search(const float* query, uint32_t k, int64_t* ids_out, float* dists_out) {
  thread_local std::vector<Neighbor> out;
  SpannSearchParams p = params_;
  p.k = k;
  SearchStats stats;
  SearchContext* ctx = ContextForThisThread();
  absl::Status s = ctx == nullptr ? absl::InternalError("no context")
                                  : index_->Search(query, p, ctx, &out, &stats);
  if (!s.ok()) {
    ++errors_;
    out.clear();
  }
  for (uint32_t i = 0; i < k; ++i) {
    ids_out[i] = i < out.size() ? out[i].id : -1;
    dists_out[i] = i < out.size() ? out[i].distance : std::numeric_limits<float>::infinity();
  }
  distances_ += stats.entries_scanned;
  two_step_ += stats.two_step_queries;
  reranked_ += stats.reranked;
  lists_ += stats.postings_read;
  bytes_ += stats.bytes_read;
}

uint64_t CairnMethod::ResidentBytes() const { return index_ ? index_->ResidentBytes() : 0; }
uint64_t CairnMethod::DiskBytes() const { return index_ ? index_->PostingFileBytes() : 0; }

std::string CairnMethod::Notes() const {
  if (!index_) return "not built";
  const IndexManifest& m = index_->manifest();
  return absl::StrFormat(
      "SPANN on SSD: %u heads (%.1f%% of vectors), %.2f replicas/vector, postings %s read with "
      "O_DIRECT; RAM = head graph (vectors + links) + directory; build peak RSS %.0f MiB; "
      "search errors %llu%s",
      m.num_heads, 100.0 * m.num_heads / m.num_vectors,
      static_cast<double>(m.total_entries) / m.num_vectors, StoredTypeName(m.stored_type),
      build_report_.peak_rss_bytes / 1048576.0, (unsigned long long)errors_.load(),
      index_->code_model() == nullptr
          ? ""
          : absl::StrCat("; codes ", index_->code_model()->Describe(), " (",
                         index_->code_model()->entry_bytes(),
                         " B/entry); over the whole run ", two_step_.load(),
                         " queries read code sections first, ", reranked_.load(),
                         " entries reranked")
                .c_str());
}

WorkCounters CairnMethod::Counters() const {
  WorkCounters c;
  c.available = true;
  c.distances = distances_.load();
  c.io_available = true;
  c.lists_read = lists_.load();
  c.bytes_read = bytes_.load();
  return c;
}

}  // namespace cairn
