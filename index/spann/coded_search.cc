#include "index/spann/coded_search.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/summary.h"
#include "kernels/distance.h"
#include "index/spann/posting_search.h"
#include "storage/posting_file.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kPage = kPostingPageBytes;

// Exact distance of q to one stored vector (metric.h convention).
float ExactDistance(const DistanceKernels& kern, StoredType type, Metric metric, const float* q,
                    const uint8_t* x, uint32_t dim) {
  const bool l2 = metric == Metric::kL2;
  float d = 0;
  switch (type) {
    case StoredType::kFloat32:
      d = (l2 ? kern.l2_f32 : kern.dot_f32)(q, reinterpret_cast<const float*>(x), dim);
      break;
    case StoredType::kUInt8:
      d = (l2 ? kern.l2_f32_u8 : kern.dot_f32_u8)(q, x, dim);
      break;
    case StoredType::kInt8:
      d = (l2 ? kern.l2_f32_i8 : kern.dot_f32_i8)(q, reinterpret_cast<const int8_t*>(x), dim);
      break;
  }
  if (l2) return d;
  return (metric == Metric::kCosine ? 1.0f : 0.0f) - d;
}

// Drains every request still in flight so none targets our buffers.
void Drain(BlockReader* reader) {
  while (reader->InFlight() > 0) (void)reader->WaitNext();
}

// Keeps one copy per id: the one in the nearest posting (lowest index), so
// the outcome does not depend on the order reads complete in.
void AddCopy(CodedScratch& s, const CodedScratch::Candidate& c, SearchStats& stats) {
  auto [it, inserted] = s.by_id.try_emplace(c.id, static_cast<uint32_t>(s.candidates.size()));
  if (inserted) {
    s.candidates.push_back(c);
    return;
  }
  ++stats.duplicates_skipped;
  CodedScratch::Candidate& kept = s.candidates[it->second];
  if (c.posting < kept.posting) kept = c;
}

// A posting read whole in step 1 (one of the nearest): every live entry is
// scored exactly, as without codes.
absl::Status ScanWhole(const CodedShape& shape, const ReadRequest& r, const float* q,
                       uint32_t posting, CodedScratch& s, SearchStats& stats, LiveEntryFn live) {
  const std::string& path = *shape.path;
  auto payload = PostingFileReader::ParseRecord(path, r.offset,
                                                static_cast<const uint8_t*>(r.buffer), r.length);
  if (!payload.ok()) return payload.status();
  auto view = DecodePosting(*payload, shape.dim, shape.stored, path, shape.model->entry_bytes());
  if (!view.ok()) {
    return absl::DataLossError(
        absl::StrCat(view.status().message(), " (record at offset ", r.offset, ")"));
  }
  const DistanceKernels& kern = Kernels();
  for (uint32_t e = 0; e < view->count; ++e) {
    const uint32_t id = view->ids[e];
    if (!live(id, view->versions[e])) {
      ++stats.stale_skipped;
      continue;
    }
    ++stats.entries_scanned;
    const float d = ExactDistance(kern, shape.stored, shape.metric, q, view->vector(e), shape.dim);
    AddCopy(s, {d, d, d, id, posting, e, true}, stats);
  }
  return absl::OkStatus();
}

// One query's two-step read. Step 1 (ReadCodeSections) reads the code
// sections and estimates every entry, ChooseCandidates keeps the entries
// worth scoring exactly, PlanPageReads groups their vector pages into reads,
// and step 2 (ReadVectorPages) reads and scores them.
class CodedSearch {
 public:
  CodedSearch(const CodedShape& shape, const CodedSearchParams& params, const float* q,
              const std::vector<CodedTarget>& targets, const CodedQueryState& state,
              LiveEntryFn live)
      : shape_(shape),
        params_(params),
        q_(q),
        targets_(targets),
        reader_(state.reader),
        s_(*state.scratch),
        visited_(*state.visited),
        heap_(*state.heap),
        stats_(*state.stats),
        live_(live) {}

  absl::Status Run() {
    auto t_prep = Clock::now();
    shape_.model->PrepareQuery(q_, &s_.query);
    stats_.scan_ns += Nanos(t_prep, Clock::now());
    absl::Status st = ReadCodeSections();
    if (!st.ok()) return st;
    auto t_plan = Clock::now();
    ChooseCandidates();
    PlanPageReads();
    stats_.scan_ns += Nanos(t_plan, Clock::now());
    return ReadVectorPages();
  }

 private:
  absl::Status ReadCodeSections();
  absl::Status EstimateCodeSection(const ReadRequest& r, uint32_t p);
  void ChooseCandidates();
  void PlanPageReads();
  absl::Status ReadVectorPages();
  absl::Status VerifyRun(const ReadRequest& r) const;
  void ScoreRun(const ReadRequest& r);

  const CodedShape& shape_;
  const CodedSearchParams& params_;
  const float* const q_;
  const std::vector<CodedTarget>& targets_;
  BlockReader* const reader_;
  CodedScratch& s_;
  VisitedSet& visited_;
  std::vector<Neighbor>& heap_;
  SearchStats& stats_;
  LiveEntryFn live_;
};

// Step 1: one batch with every target's code section (or the whole posting
// for targets marked whole).
absl::Status CodedSearch::ReadCodeSections() {
  const size_t n = targets_.size();
  uint64_t head_total = 0;
  for (const CodedTarget& t : targets_) {
    head_total += t.whole ? t.record_bytes : uint64_t{t.head_pages} * kPage;
  }
  s_.head_buffer.Resize(head_total);
  s_.requests.resize(n);
  s_.heads.assign(n, PostingView{});
  uint64_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    const CodedTarget& t = targets_[i];
    const uint32_t bytes = t.whole ? t.record_bytes : t.head_pages * kPage;
    s_.requests[i] = ReadRequest{t.offset, bytes, s_.head_buffer.data() + at, 0, i};
    at += bytes;
  }
  s_.candidates.clear();
  s_.by_id.clear();
  if (n > 0) {
    absl::Status st = reader_->Submit(s_.requests.data(), n);
    if (!st.ok()) return st;
  }
  absl::Status error;
  for (size_t done = 0; done < n; ++done) {
    Clock::time_point ts;
    const ReadRequest* r = NextCompletion(reader_, stats_, &error, &ts);
    if (r == nullptr) continue;
    const uint32_t p = static_cast<uint32_t>(r->user_data);
    ++stats_.postings_read;
    stats_.bytes_read += r->length;
    ++stats_.reads;
    stats_.pages_read += r->length / kPage;
    absl::Status scanned = targets_[p].whole ? ScanWhole(shape_, *r, q_, p, s_, stats_, live_)
                                             : EstimateCodeSection(*r, p);
    if (!scanned.ok()) {
      error = scanned;
      continue;
    }
    stats_.scan_ns += Nanos(ts, Clock::now());
  }
  return error;
}

// Verifies one code section and adds every live entry's estimate and bounds
// to the candidates.
absl::Status CodedSearch::EstimateCodeSection(const ReadRequest& r, uint32_t p) {
  const std::string& path = *shape_.path;
  const CodedTarget& target = targets_[p];
  auto prefix = PostingFileReader::ParseRecordPrefix(
      path, r.offset, static_cast<const uint8_t*>(r.buffer), r.length, target.record_bytes);
  if (!prefix.ok()) return prefix.status();
  auto view =
      DecodeCodedHead(*prefix, shape_.dim, shape_.stored, shape_.model->entry_bytes(), path);
  if (!view.ok()) {
    return absl::DataLossError(
        absl::StrCat(view.status().message(), " (record at offset ", r.offset, ")"));
  }
  if (uint64_t{target.head_pages + view->vector_pages} * kPage != target.record_bytes) {
    return absl::DataLossError(absl::StrCat(path, ": coded posting at offset ", r.offset,
                                            " does not match its directory size"));
  }
  s_.heads[p] = *view;
  const uint32_t count = view->count;
  s_.est.resize(count);
  s_.err.resize(count);
  shape_.model->EstimatePosting(s_.query, target.terms, view->codes, count, s_.est.data(),
                                s_.err.data());
  // The model gives -dot for cosine; exact scores are 1 - cos (metric.h).
  const float est_offset = shape_.metric == Metric::kCosine ? 1.0f : 0.0f;
  for (uint32_t e = 0; e < count; ++e) {
    const uint32_t id = view->ids[e];
    if (!live_(id, view->versions[e])) {
      ++stats_.stale_skipped;
      continue;
    }
    ++stats_.codes_estimated;
    const float est = s_.est[e] + est_offset, err = s_.err[e] * params_.bound_scale;
    AddCopy(s_, {est - err, est + err, est, id, p, e, false}, stats_);
  }
  return absl::OkStatus();
}

// Copies scored exactly go to the top k; of the rest, keeps the entries to
// rerank (the rerank_top best estimates, or every entry whose lower bound
// beats tau, the k-th smallest upper bound), sorted by posting and entry.
void CodedSearch::ChooseCandidates() {
  const uint32_t k = params_.k;
  auto& cands = s_.candidates;
  size_t coded = 0;
  for (size_t i = 0; i < cands.size(); ++i) {
    visited_.Insert(cands[i].id);  // the caller's set stays complete
    if (cands[i].exact) {
      PushTopK(Neighbor{cands[i].estimate, cands[i].id}, k, heap_);
    } else {
      cands[coded++] = cands[i];
    }
  }
  cands.resize(coded);
  size_t keep = cands.size();
  if (params_.rerank_top > 0) {
    keep = std::min<size_t>(params_.rerank_top, cands.size());
    std::nth_element(cands.begin(), cands.begin() + (keep == 0 ? 0 : keep - 1), cands.end(),
                     [](const auto& a, const auto& b) { return a.estimate < b.estimate; });
  } else if (cands.size() + heap_.size() > k) {
    // Entries of postings read whole are already scored exactly: their
    // distances are upper bounds too.
    std::vector<float>& uppers = s_.est;  // reuse as scratch
    uppers.resize(cands.size());
    for (size_t i = 0; i < cands.size(); ++i) uppers[i] = cands[i].upper;
    for (const Neighbor& nb : heap_) uppers.push_back(nb.distance);
    std::nth_element(uppers.begin(), uppers.begin() + (k - 1), uppers.end());
    const float tau = uppers[k - 1];
    auto mid = std::partition(cands.begin(), cands.end(),
                              [tau](const auto& c) { return c.lower <= tau; });
    keep = static_cast<size_t>(mid - cands.begin());
  }
  cands.resize(keep);
  std::sort(cands.begin(), cands.end(), [](const auto& a, const auto& b) {
    return a.posting != b.posting ? a.posting < b.posting : a.entry < b.entry;
  });
  stats_.reranked += static_cast<uint32_t>(keep);
}

// Runs of vector pages per posting (pages at most merge_gap apart merged),
// one read request each, into the page buffer.
void CodedSearch::PlanPageReads() {
  const auto& cands = s_.candidates;
  s_.runs.clear();
  for (size_t b = 0; b < cands.size();) {
    size_t e = b;
    const uint32_t p = cands[b].posting;
    while (e < cands.size() && cands[e].posting == p) ++e;
    s_.pages.clear();
    for (size_t c = b; c < e; ++c) {
      uint32_t first, count;
      VectorPagesOf(s_.heads[p], cands[c].entry, &first, &count);
      for (uint32_t pg = first; pg < first + count; ++pg) s_.pages.push_back(pg);
    }
    std::sort(s_.pages.begin(), s_.pages.end());
    s_.pages.erase(std::unique(s_.pages.begin(), s_.pages.end()), s_.pages.end());
    for (size_t i = 0; i < s_.pages.size();) {
      size_t j = i + 1;
      while (j < s_.pages.size() && s_.pages[j] <= s_.pages[j - 1] + 1 + params_.merge_gap) ++j;
      s_.runs.push_back({p, s_.pages[i], s_.pages[j - 1] - s_.pages[i] + 1, b, e});
      i = j;
    }
    b = e;
  }
  uint64_t page_total = 0;
  for (const auto& run : s_.runs) page_total += uint64_t{run.pages} * kPage;
  s_.page_buffer.Resize(page_total);
  s_.requests.resize(s_.runs.size());
  uint64_t at = 0;
  for (size_t i = 0; i < s_.runs.size(); ++i) {
    const auto& run = s_.runs[i];
    const CodedTarget& t = targets_[run.posting];
    const uint64_t offset = t.offset + uint64_t{t.head_pages + run.first_page} * kPage;
    s_.requests[i] = ReadRequest{offset, run.pages * kPage, s_.page_buffer.data() + at, 0, i};
    at += uint64_t{run.pages} * kPage;
  }
}

// Step 2: the planned page reads in one batch, each run scored as it lands.
absl::Status CodedSearch::ReadVectorPages() {
  if (!s_.runs.empty()) {
    absl::Status st = reader_->Submit(s_.requests.data(), s_.runs.size());
    if (!st.ok()) return st;
  }
  absl::Status error;
  for (size_t done = 0; done < s_.runs.size(); ++done) {
    Clock::time_point ts;
    const ReadRequest* r = NextCompletion(reader_, stats_, &error, &ts);
    if (r == nullptr) continue;
    const auto& run = s_.runs[r->user_data];
    stats_.bytes_read += r->length;
    ++stats_.reads;
    stats_.pages_read += run.pages;
    absl::Status intact = VerifyRun(*r);
    if (!intact.ok()) error = intact;
    if (!error.ok()) continue;
    ScoreRun(*r);
    stats_.scan_ns += Nanos(ts, Clock::now());
  }
  if (!error.ok()) Drain(reader_);
  return error;
}

// DataLoss naming the first page of the run that fails its checksum.
absl::Status CodedSearch::VerifyRun(const ReadRequest& r) const {
  const auto& run = s_.runs[r.user_data];
  const uint8_t* buf = static_cast<const uint8_t*>(r.buffer);
  for (uint32_t i = 0; i < run.pages; ++i) {
    if (!VectorPageIntact(s_.heads[run.posting], run.first_page + i, buf + uint64_t{i} * kPage)) {
      return absl::DataLossError(absl::StrCat(*shape_.path, ": vector page ",
                                              run.first_page + i, " of the posting at offset ",
                                              targets_[run.posting].offset,
                                              " fails its checksum"));
    }
  }
  return absl::OkStatus();
}

// Scores the candidates a verified run holds.
void CodedSearch::ScoreRun(const ReadRequest& r) {
  const auto& run = s_.runs[r.user_data];
  const PostingView& head = s_.heads[run.posting];
  const uint8_t* buf = static_cast<const uint8_t*>(r.buffer);
  const DistanceKernels& kern = Kernels();
  const uint64_t vb = uint64_t{shape_.dim} * StoredTypeSize(shape_.stored);
  const uint64_t run_begin = uint64_t{run.first_page} * kPage;
  const uint64_t run_end = run_begin + uint64_t{run.pages} * kPage;
  for (size_t c = run.cand_begin; c < run.cand_end; ++c) {
    const uint32_t e = s_.candidates[c].entry;
    const uint64_t off = head.vectors_per_page > 0
                             ? uint64_t{e / head.vectors_per_page} * kPage +
                                   uint64_t{e % head.vectors_per_page} * vb
                             : uint64_t{e} * vb;
    if (off < run_begin || off + vb > run_end) continue;  // another run of this posting
    const float d = ExactDistance(kern, shape_.stored, shape_.metric, q_,
                                  buf + (off - run_begin), shape_.dim);
    ++stats_.entries_scanned;
    PushTopK(Neighbor{d, s_.candidates[c].id}, params_.k, heap_);
  }
}

}  // namespace

PostingQueryTerms TermsFromHeadDistance(Metric metric, float head_distance) {
  PostingQueryTerms t;
  if (metric == Metric::kL2) {
    t.q_head_l2 = head_distance;
  } else {
    // Inner product: -dot. Cosine: the head graph ranks unit vectors by -dot.
    t.q_dot_head = -head_distance;
  }
  return t;
}

absl::Status SearchCodedPostings(const CodedShape& shape, const CodedSearchParams& params,
                                 const float* q, const std::vector<CodedTarget>& targets,
                                 const CodedQueryState& state, LiveEntryFn live) {
  return CodedSearch(shape, params, q, targets, state, live).Run();
}

}  // namespace cairn
