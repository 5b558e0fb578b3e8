#include "index/spann/coded_search.h"

#include <algorithm>
#include <chrono>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/distance.h"
#include "index/spann/posting_search.h"
#include "storage/posting_file.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;
constexpr uint32_t kPage = kPostingPageBytes;

uint64_t Nanos(Clock::time_point a, Clock::time_point b) {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
}

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

absl::Status SearchCodedPostings(BlockReader* reader, const CodedShape& shape, const float* q,
                                 uint32_t k, uint32_t rerank_top, float bound_scale,
                                 uint32_t merge_gap, const std::vector<CodedTarget>& targets, CodedScratch& s,
                                 VisitedSet& visited, std::vector<Neighbor>& heap,
                                 SearchStats& stats, LiveEntryFn live) {
  const std::string& path = *shape.path;
  const CodeModel& model = *shape.model;
  const uint32_t entry_bytes = model.entry_bytes();
  auto t_prep = Clock::now();
  model.PrepareQuery(q, &s.query);
  stats.scan_ns += Nanos(t_prep, Clock::now());

  // ---- Step 1: code sections ----
  const size_t n = targets.size();
  uint64_t head_total = 0;
  for (const CodedTarget& t : targets) {
    head_total += t.whole ? t.record_bytes : uint64_t{t.head_pages} * kPage;
  }
  s.head_buffer.Resize(head_total);
  s.requests.resize(n);
  s.heads.assign(n, PostingView{});
  uint64_t at = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t bytes = targets[i].whole ? targets[i].record_bytes : targets[i].head_pages * kPage;
    s.requests[i] = ReadRequest{targets[i].offset, bytes, s.head_buffer.data() + at, 0, i};
    at += bytes;
  }
  s.candidates.clear();
  s.by_id.clear();
  if (n > 0) {
    absl::Status st = reader->Submit(s.requests.data(), n);
    if (!st.ok()) return st;
  }
  absl::Status error;
  for (size_t done = 0; done < n; ++done) {
    Clock::time_point ts;
    const ReadRequest* r = NextCompletion(reader, stats, &error, &ts);
    if (r == nullptr) continue;
    const uint32_t p = static_cast<uint32_t>(r->user_data);
    ++stats.postings_read;
    stats.bytes_read += r->length;
    ++stats.reads;
    stats.pages_read += r->length / kPage;
    if (targets[p].whole) {
      absl::Status scanned = ScanWhole(shape, *r, q, p, s, stats, live);
      if (!scanned.ok()) error = scanned;
      stats.scan_ns += Nanos(ts, Clock::now());
      continue;
    }
    auto prefix = PostingFileReader::ParseRecordPrefix(
        path, r->offset, static_cast<const uint8_t*>(r->buffer), r->length,
        targets[p].record_bytes);
    if (!prefix.ok()) {
      error = prefix.status();
      continue;
    }
    auto view = DecodeCodedHead(*prefix, shape.dim, shape.stored, entry_bytes, path);
    if (!view.ok()) {
      error = absl::DataLossError(
          absl::StrCat(view.status().message(), " (record at offset ", r->offset, ")"));
      continue;
    }
    if (uint64_t{targets[p].head_pages + view->vector_pages} * kPage != targets[p].record_bytes) {
      error = absl::DataLossError(absl::StrCat(path, ": coded posting at offset ", r->offset,
                                               " does not match its directory size"));
      continue;
    }
    s.heads[p] = *view;
    const uint32_t count = view->count;
    s.est.resize(count);
    s.err.resize(count);
    model.EstimatePosting(s.query, targets[p].terms, view->codes, count, s.est.data(),
                          s.err.data());
    // The model gives -dot for cosine; exact scores are 1 - cos (metric.h).
    const float est_offset = shape.metric == Metric::kCosine ? 1.0f : 0.0f;
    for (uint32_t e = 0; e < count; ++e) {
      const uint32_t id = view->ids[e];
      if (!live(id, view->versions[e])) {
        ++stats.stale_skipped;
        continue;
      }
      ++stats.codes_estimated;
      const float est = s.est[e] + est_offset, err = s.err[e] * bound_scale;
      AddCopy(s, {est - err, est + err, est, id, p, e, false}, stats);
    }
    stats.scan_ns += Nanos(ts, Clock::now());
  }
  if (!error.ok()) return error;

  // ---- Choose what to rerank ----
  auto t_plan = Clock::now();
  auto& cands = s.candidates;
  // Copies scored exactly (postings read whole) go straight to the top k.
  size_t coded = 0;
  for (size_t i = 0; i < cands.size(); ++i) {
    visited.Insert(cands[i].id);  // the caller's set stays complete
    if (cands[i].exact) {
      PushTopK(Neighbor{cands[i].estimate, cands[i].id}, k, heap);
    } else {
      cands[coded++] = cands[i];
    }
  }
  cands.resize(coded);
  size_t keep = cands.size();
  if (rerank_top > 0) {
    keep = std::min<size_t>(rerank_top, cands.size());
    std::nth_element(cands.begin(), cands.begin() + (keep == 0 ? 0 : keep - 1), cands.end(),
                     [](const auto& a, const auto& b) { return a.estimate < b.estimate; });
  } else if (cands.size() + heap.size() > k) {
    // Entries of postings read whole are already scored exactly: their
    // distances are upper bounds too.
    std::vector<float>& uppers = s.est;  // reuse as scratch
    uppers.resize(cands.size());
    for (size_t i = 0; i < cands.size(); ++i) uppers[i] = cands[i].upper;
    for (const Neighbor& nb : heap) uppers.push_back(nb.distance);
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
  stats.reranked += static_cast<uint32_t>(keep);

  // Runs of adjacent vector pages per posting, one read each.
  s.runs.clear();
  for (size_t b = 0; b < cands.size();) {
    size_t e = b;
    const uint32_t p = cands[b].posting;
    while (e < cands.size() && cands[e].posting == p) ++e;
    s.pages.clear();
    for (size_t c = b; c < e; ++c) {
      uint32_t first, count;
      VectorPagesOf(s.heads[p], cands[c].entry, &first, &count);
      for (uint32_t pg = first; pg < first + count; ++pg) s.pages.push_back(pg);
    }
    std::sort(s.pages.begin(), s.pages.end());
    s.pages.erase(std::unique(s.pages.begin(), s.pages.end()), s.pages.end());
    for (size_t i = 0; i < s.pages.size();) {
      size_t j = i + 1;
      while (j < s.pages.size() && s.pages[j] <= s.pages[j - 1] + 1 + merge_gap) ++j;
      s.runs.push_back({p, s.pages[i], s.pages[j - 1] - s.pages[i] + 1, b, e});
      i = j;
    }
    b = e;
  }
  uint64_t page_total = 0;
  for (const auto& run : s.runs) page_total += uint64_t{run.pages} * kPage;
  s.page_buffer.Resize(page_total);
  s.requests.resize(s.runs.size());
  at = 0;
  for (size_t i = 0; i < s.runs.size(); ++i) {
    const auto& run = s.runs[i];
    const CodedTarget& t = targets[run.posting];
    const uint64_t offset = t.offset + uint64_t{t.head_pages + run.first_page} * kPage;
    s.requests[i] = ReadRequest{offset, run.pages * kPage, s.page_buffer.data() + at, 0, i};
    at += uint64_t{run.pages} * kPage;
  }
  stats.scan_ns += Nanos(t_plan, Clock::now());

  // ---- Step 2: vector pages of the candidates ----
  if (!s.runs.empty()) {
    absl::Status st = reader->Submit(s.requests.data(), s.runs.size());
    if (!st.ok()) return st;
  }
  const DistanceKernels& kern = Kernels();
  const uint64_t vb = uint64_t{shape.dim} * StoredTypeSize(shape.stored);
  for (size_t done = 0; done < s.runs.size(); ++done) {
    Clock::time_point ts;
    const ReadRequest* r = NextCompletion(reader, stats, &error, &ts);
    if (r == nullptr) continue;
    const auto& run = s.runs[r->user_data];
    const PostingView& head = s.heads[run.posting];
    const uint8_t* buf = static_cast<const uint8_t*>(r->buffer);
    stats.bytes_read += r->length;
    ++stats.reads;
    stats.pages_read += run.pages;
    for (uint32_t i = 0; i < run.pages; ++i) {
      if (!VectorPageIntact(head, run.first_page + i, buf + uint64_t{i} * kPage)) {
        error = absl::DataLossError(absl::StrCat(path, ": vector page ", run.first_page + i,
                                                 " of the posting at offset ",
                                                 targets[run.posting].offset,
                                                 " fails its checksum"));
        break;
      }
    }
    if (!error.ok()) continue;
    const uint64_t run_begin = uint64_t{run.first_page} * kPage;
    const uint64_t run_end = run_begin + uint64_t{run.pages} * kPage;
    for (size_t c = run.cand_begin; c < run.cand_end; ++c) {
      const uint32_t e = cands[c].entry;
      const uint64_t off = head.vectors_per_page > 0
                               ? uint64_t{e / head.vectors_per_page} * kPage +
                                     uint64_t{e % head.vectors_per_page} * vb
                               : uint64_t{e} * vb;
      if (off < run_begin || off + vb > run_end) continue;  // another run of this posting
      const float d = ExactDistance(kern, shape.stored, shape.metric, q,
                                    buf + (off - run_begin), shape.dim);
      ++stats.entries_scanned;
      PushTopK(Neighbor{d, cands[c].id}, k, heap);
    }
    stats.scan_ns += Nanos(ts, Clock::now());
  }
  if (!error.ok()) Drain(reader);
  return error;
}

}  // namespace cairn
