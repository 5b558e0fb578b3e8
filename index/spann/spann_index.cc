#include "index/spann/spann_index.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/aligned_buffer.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "kernels/distance.h"
#include "index/spann/posting_format.h"
#include "index/spann/posting_scan.h"
#include "index/spann/posting_search.h"
#include "index/spann/coded_search.h"
#include "index/spann/budget_search.h"
#include "storage/posting_file.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

// The calibrated budget of the index in `dir`, if any. A missing file is
// not an error (the index predates calibration or was built without it); an
// unreadable or stale one is reported through *status and the index still
// opens: fixed-count searches do not need it.
std::unique_ptr<PostingBudget> LoadBudget(Env* env, const std::string& dir,
                                          const IndexManifest& m, absl::Status* status) {
  const std::string path = dir + "/" + kPostingBudgetFileName;
  absl::StatusOr<PostingBudget> b = ReadPostingBudget(env, path);
  if (absl::IsNotFound(b.status())) {
    *status = absl::FailedPreconditionError(absl::StrCat(
        dir, " has no routing calibration (", kPostingBudgetFileName,
        "): run `cairn calibrate --index ", dir, " --base <its input>` to search by target recall"));
    return nullptr;
  }
  if (!b.ok()) {
    *status = absl::FailedPreconditionError(
        absl::StrCat(b.status().message(), "; run `cairn calibrate` again to replace it"));
    return nullptr;
  }
  if (b->num_vectors() != m.num_vectors) {
    *status = absl::FailedPreconditionError(
        absl::StrCat(path, " was calibrated for ", b->num_vectors(), " vectors, the index has ",
                     m.num_vectors, ": run `cairn calibrate` again"));
    return nullptr;
  }
  *status = absl::OkStatus();
  return std::make_unique<PostingBudget>(*std::move(b));
}

}  // namespace

struct SearchContext::Impl {
  std::unique_ptr<BlockReader> reader;
  AlignedBuffer buffer{kDirectIoAlignment};
  std::vector<ReadRequest> requests;
  std::vector<HeadHit> hits;
  std::vector<float> query;  // normalised copy for cosine
  VisitedSet visited;
  std::vector<Neighbor> heap;
  std::vector<CodedTarget> targets;
  CodedScratch coded;
};

SearchContext::~SearchContext() = default;
const char* SearchContext::io_kind() const { return impl_->reader->kind(); }
bool SearchContext::direct_io() const { return impl_->reader->direct(); }

absl::Status SpannSearchParams::Validate() const {
  if (k == 0 || k > 100000) return absl::InvalidArgumentError("k must be in [1, 100000]");
  if (max_postings == 0 || max_postings > 100000) {
    return absl::InvalidArgumentError("max_postings must be in [1, 100000]");
  }
  if (!(epsilon >= 0)) return absl::InvalidArgumentError("epsilon must be >= 0");
  if (!(target_recall >= 0 && target_recall <= 1)) {
    return absl::InvalidArgumentError("target_recall must be in (0, 1], or 0 for a fixed count");
  }
  if (batch_cost_kib > (1u << 22)) {
    return absl::InvalidArgumentError("batch_cost_kib must be at most 4194304 (4 GiB)");
  }
  if (!(bound_scale >= 0) || !std::isfinite(bound_scale)) {
    return absl::InvalidArgumentError("bound_scale must be a finite number >= 0");
  }
  return absl::OkStatus();
}

absl::StatusOr<SpannSearchParams::Plan> SpannSearchParams::ParsePlan(std::string_view name) {
  for (Plan plan : {Plan::kAuto, Plan::kTwoStep, Plan::kWhole}) {
    if (name == PlanName(plan)) return plan;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("plan must be auto, two-step or whole, not \"", std::string(name), "\""));
}

const char* SpannSearchParams::PlanName(Plan plan) {
  switch (plan) {
    case Plan::kAuto:
      return "auto";
    case Plan::kTwoStep:
      return "two-step";
    case Plan::kWhole:
      return "whole";
  }
  return "?";
}

void SearchStats::Add(const SearchStats& o) {
  postings_read += o.postings_read;
  bytes_read += o.bytes_read;
  reads += o.reads;
  pages_read += o.pages_read;
  entries_scanned += o.entries_scanned;
  duplicates_skipped += o.duplicates_skipped;
  stale_skipped += o.stale_skipped;
  buffered_scanned += o.buffered_scanned;
  codes_estimated += o.codes_estimated;
  reranked += o.reranked;
  two_step_queries += o.two_step_queries;
  head_ns += o.head_ns;
  io_wait_ns += o.io_wait_ns;
  scan_ns += o.scan_ns;
}

SpannIndex::~SpannIndex() = default;

absl::StatusOr<std::unique_ptr<SpannIndex>> SpannIndex::Open(const std::string& dir,
                                                             const SpannOpenOptions& options) {
  Env* env = Env::Default();
  std::unique_ptr<SpannIndex> index(new SpannIndex());
  index->dir_ = dir;
  index->options_ = options;
  CAIRN_ASSIGN_OR_RETURN(index->manifest_, ReadManifest(env, dir));
  const IndexManifest& m = index->manifest_;
  // The head graph is parsed by hnswlib, which trusts its sizes: check the
  // bytes against the manifest first.
  const std::string heads_path = dir + "/heads.hnsw";
  CAIRN_ASSIGN_OR_RETURN(nlohmann::json fp, FileFingerprint(heads_path));
  if (!m.files.contains("heads.hnsw") || m.files["heads.hnsw"] != fp) {
    return absl::DataLossError(absl::StrCat(heads_path,
                                            ": size or checksum differs from the "
                                            "manifest (corrupt or replaced file)"));
  }
  CAIRN_ASSIGN_OR_RETURN(index->heads_, HeadIndex::Load(heads_path, m.dim, m.metric));
  if (index->heads_->size() != m.num_heads) {
    return absl::DataLossError(absl::StrCat(heads_path, ": ", index->heads_->size(),
                                            " heads, manifest says ", m.num_heads));
  }
  const std::string dir_path = dir + "/directory";
  CAIRN_ASSIGN_OR_RETURN(index->directory_, ReadDirectory(env, dir_path));
  if (index->directory_.size() != m.num_heads) {
    return absl::DataLossError(absl::StrCat(dir_path, ": ", index->directory_.size(),
                                            " entries, manifest says ", m.num_heads, " heads"));
  }
  index->postings_path_ = dir + "/postings.dat";
  CAIRN_ASSIGN_OR_RETURN(auto postings, PostingFileReader::Open(index->postings_path_));
  if (postings->num_records() != m.num_heads) {
    return absl::DataLossError(absl::StrCat(index->postings_path_, ": ", postings->num_records(),
                                            " postings, manifest says ", m.num_heads));
  }
  index->posting_file_bytes_ = postings->file_size();
  if (m.codes != CodeFamily::kNone) {
    const std::string codes_path = dir + "/codes.model";
    CAIRN_ASSIGN_OR_RETURN(nlohmann::json cfp, FileFingerprint(codes_path));
    if (!m.files.contains("codes.model") || m.files["codes.model"] != cfp) {
      return absl::DataLossError(absl::StrCat(codes_path,
                                              ": size or checksum differs from the manifest"));
    }
    CAIRN_ASSIGN_OR_RETURN(index->codes_, ReadCodeModel(env, codes_path));
    if (index->codes_->family() != m.codes || index->codes_->entry_bytes() != m.code_entry_bytes ||
        index->codes_->dim() != m.dim) {
      return absl::DataLossError(
          absl::StrCat(codes_path, ": model does not match the manifest's codes"));
    }
    index->rerank_pages_x16_ = 16 * 2 * 10;  // first guess: two pages per result of k = 10
  }
  index->budget_ = LoadBudget(env, dir, m, &index->budget_status_);
  uint64_t entries = 0;
  for (size_t i = 0; i < index->directory_.size(); ++i) {
    const DirectoryEntry& e = index->directory_[i];
    absl::Status s = postings->CheckLocation({e.offset, e.bytes});
    if (!s.ok()) {
      return absl::DataLossError(absl::StrCat(dir_path, ": entry ", i, ": ", s.message()));
    }
    const uint64_t want = m.codes != CodeFamily::kNone
                              ? ComputeCodedLayout(e.count, m.dim, m.stored_type,
                                                   m.code_entry_bytes, kPostingFrameHeaderBytes)
                                    .record_bytes
                              : PostingRecordBytes(PostingPayloadBytes(e.count, m.dim, m.stored_type));
    if (want != e.bytes) {
      return absl::DataLossError(absl::StrCat(dir_path, ": entry ", i, ": ", e.count,
                                              " entries do not fit ", e.bytes, " bytes"));
    }
    index->max_posting_bytes_ = std::max(index->max_posting_bytes_, e.bytes);
    entries += e.count;
  }
  if (entries != m.total_entries) {
    return absl::DataLossError(
        absl::StrCat(dir_path, ": ", entries, " entries, manifest says ", m.total_entries));
  }
  return index;
}

absl::StatusOr<std::unique_ptr<SearchContext>> SpannIndex::NewContext() const {
  std::unique_ptr<SearchContext> ctx(new SearchContext());
  ctx->impl_ = std::make_unique<SearchContext::Impl>();
  CAIRN_ASSIGN_OR_RETURN(ctx->impl_->reader, OpenBlockReader(postings_path_, options_.io));
  return ctx;
}

absl::Status SpannIndex::Search(const float* query, const SpannSearchParams& params,
                                SearchContext* context, std::vector<Neighbor>* out,
                                SearchStats* stats) const {
  CAIRN_RETURN_IF_ERROR(params.Validate());
  SearchContext::Impl& c = *context->impl_;
  SearchStats local;
  const float* q = nullptr;
  CAIRN_RETURN_IF_ERROR(PrepareQuery(query, manifest_.dim, manifest_.metric, &c.query, &q));

  auto t0 = Clock::now();
  size_t keep = 0;
  if (params.target_recall > 0) {
    if (budget_ == nullptr) return budget_status_;
    keep = RoutedHeads(
        *budget_, params, manifest_.metric, q, manifest_.dim,
        [&](uint32_t n, uint32_t ef, std::vector<HeadHit>* hits) { heads_->Search(q, n, ef, hits); },
        &c.hits);
  } else {
    const uint32_t ef = std::max(params.head_ef > 0 ? params.head_ef : 32u, params.max_postings);
    heads_->Search(q, params.max_postings, ef, &c.hits);
    keep = c.hits.size();
  }
  local.head_ns = Nanos(t0, Clock::now());
  keep = std::min(keep, PruneByRatio(c.hits, params.epsilon, manifest_.metric));

  uint64_t total_bytes = 0, total_entries = 0, head_bytes = 0;
  const uint32_t entry_bytes = manifest_.code_entry_bytes;
  for (size_t i = 0; i < keep; ++i) {
    const DirectoryEntry& e = directory_[c.hits[i].head];
    total_bytes += e.bytes;
    total_entries += e.count;
    if (codes_ != nullptr) {
      // Bytes of the two-step read's first batch: code sections, or whole
      // postings for the nearest whole_nearest.
      head_bytes += i < params.whole_nearest
                        ? e.bytes
                        : uint64_t{ComputeCodedLayout(e.count, manifest_.dim,
                                                      manifest_.stored_type, entry_bytes,
                                                      kPostingFrameHeaderBytes)
                                       .head_pages} *
                              kPostingPageBytes;
    }
  }
  c.visited.Reset(total_entries);
  c.heap.clear();
  bool two_step = false;
  if (codes_ != nullptr) {
    const uint64_t predicted =
        head_bytes + uint64_t{rerank_pages_x16_.load(std::memory_order_relaxed)} *
                         kPostingPageBytes / 16;
    two_step = params.plan == SpannSearchParams::Plan::kTwoStep ||
               (params.plan == SpannSearchParams::Plan::kAuto &&
                predicted + uint64_t{params.batch_cost_kib} * 1024 < total_bytes);
  }
  if (two_step) {
    c.targets.resize(keep);
    for (size_t i = 0; i < keep; ++i) {
      const DirectoryEntry& e = directory_[c.hits[i].head];
      const CodedLayout l = ComputeCodedLayout(e.count, manifest_.dim, manifest_.stored_type,
                                               entry_bytes, kPostingFrameHeaderBytes);
      c.targets[i] = {e.offset, e.bytes, l.head_pages,
                      TermsFromHeadDistance(manifest_.metric, c.hits[i].distance),
                      i < params.whole_nearest};
    }
    const CodedShape shape{&postings_path_, manifest_.dim, manifest_.stored_type,
                           manifest_.metric, codes_.get()};
    const CodedSearchParams coded{params.k, params.rerank_top, params.bound_scale,
                                  params.merge_gap};
    const uint32_t pages_before = local.pages_read;
    CAIRN_RETURN_IF_ERROR(SearchCodedPostings(
        shape, coded, q, c.targets, {c.reader.get(), &c.coded, &c.visited, &c.heap, &local},
        [](uint32_t, uint8_t version) { return (version & kVersionDeletedBit) == 0; }));
    ++local.two_step_queries;
    const uint32_t head_pages = static_cast<uint32_t>(head_bytes / kPostingPageBytes);
    const uint32_t candidate_pages = local.pages_read - pages_before - head_pages;
    const uint32_t old = rerank_pages_x16_.load(std::memory_order_relaxed);
    rerank_pages_x16_.store(old - old / 8 + 2 * candidate_pages, std::memory_order_relaxed);
  } else {
    c.buffer.Resize(total_bytes);
    c.requests.resize(keep);
    uint64_t offset = 0;
    for (size_t i = 0; i < keep; ++i) {
      const DirectoryEntry& e = directory_[c.hits[i].head];
      c.requests[i] = ReadRequest{e.offset, e.bytes, c.buffer.data() + offset, 0, i};
      offset += e.bytes;
    }
    CAIRN_RETURN_IF_ERROR(ReadAndScanPostings(
        c.reader.get(), c.requests.data(), keep, postings_path_, manifest_.dim,
        manifest_.stored_type, manifest_.metric, q, params.k, c.visited, c.heap, local,
        NotDeleted{}, [](const ReadRequest&, uint32_t, uint32_t) {}, entry_bytes));
  }
  std::sort_heap(c.heap.begin(), c.heap.end(), Worse);
  out->assign(c.heap.begin(), c.heap.end());
  if (stats != nullptr) stats->Add(local);
  return absl::OkStatus();
}

uint64_t SpannIndex::ResidentBytes() const {
  return heads_->MemoryBytes() + directory_.size() * sizeof(DirectoryEntry) + sizeof(*this) +
         (codes_ != nullptr ? codes_->ram_bytes() : 0) +
         (budget_ != nullptr ? budget_->ram_bytes() : 0);
}

uint64_t SpannIndex::PostingFileBytes() const { return posting_file_bytes_; }

}  // namespace cairn
