// The query path shared by the bulk-built index (SpannIndex) and the live
// index: query checks, the (1 + eps) ratio pruning of heads, and the batched
// read + scan of the chosen postings. The callers differ only in where the
// postings' extents come from and in which entries count as live.
//
// Thread-safety: pure functions over per-query state owned by the caller.
#ifndef CAIRN_INDEX_SPANN_POSTING_SEARCH_H_
#define CAIRN_INDEX_SPANN_POSTING_SEARCH_H_

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "kernels/distance.h"
#include "index/spann/head_index.h"
#include "kernels/metric.h"
#include "index/spann/posting_format.h"
#include "index/spann/posting_scan.h"
#include "storage/block_reader.h"
#include "storage/posting_file.h"

namespace cairn {

// InvalidArgument for a non-finite value; for cosine, *q points at a
// normalised copy in *scratch, else at `query`.
inline absl::Status PrepareQuery(const float* query, uint32_t dim, Metric metric,
                                 std::vector<float>* scratch, const float** q) {
  for (uint32_t d = 0; d < dim; ++d) {
    if (!std::isfinite(query[d])) {
      return absl::InvalidArgumentError(absl::StrCat("query value ", d, " is not finite"));
    }
  }
  *q = query;
  if (metric == Metric::kCosine) {
    scratch->assign(query, query + dim);
    Normalize(scratch->data(), dim);
    *q = scratch->data();
  }
  return absl::OkStatus();
}

// How many of the nearest-first `hits` are within (1 + epsilon) of the first
// on true (not squared) distances; all of them when epsilon is infinite or
// the metric is plain inner product. For cosine the graph distance is -dot of
// unit vectors and sqrt(2 + 2 * (-dot)) their L2 distance.
inline size_t PruneByRatio(const std::vector<HeadHit>& hits, float epsilon, Metric metric) {
  if (hits.empty() || !std::isfinite(epsilon) || metric == Metric::kInnerProduct) {
    return hits.size();
  }
  auto true_dist = [&](float d) {
    return metric == Metric::kL2 ? std::sqrt(std::max(0.0f, d))
                                 : std::sqrt(std::max(0.0f, 2.0f + 2.0f * d));
  };
  const float limit = (1.0f + epsilon) * true_dist(hits[0].distance);
  size_t keep = 1;
  while (keep < hits.size() && true_dist(hits[keep].distance) <= limit) ++keep;
  return keep;
}

// Waits for the next completed read, adding the wait to stats.io_wait_ns.
// Returns null when the read failed or an earlier one did (the first error
// is kept in *error): the caller skips it but keeps draining. *done_at is
// when the wait ended, for the caller's scan timing.
inline const ReadRequest* NextCompletion(BlockReader* reader, SearchStats& stats,
                                         absl::Status* error,
                                         std::chrono::steady_clock::time_point* done_at) {
  const auto tw = std::chrono::steady_clock::now();
  auto req = reader->WaitNext();
  *done_at = std::chrono::steady_clock::now();
  stats.io_wait_ns += static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(*done_at - tw).count());
  if (!req.ok()) {
    if (error->ok()) *error = req.status();
    return nullptr;
  }
  return error->ok() ? *req : nullptr;
}

// Submits `n` reads in one batch and scans each posting as its read
// completes (frame checksum, payload sizes, then the SIMD kernel of the
// stored type) into the top-k heap. `on_scanned(request, stale, count)` is
// called per posting (the live index uses it to find mostly stale ones).
// entry_bytes: the code bytes per entry of a coded index (its whole
// postings are read here when the planner finds that cheaper), else 0.
// Every submitted read is drained even after an error, so none is left
// targeting the caller's buffers.
template <typename LiveFn, typename OnScanned>
absl::Status ReadAndScanPostings(BlockReader* reader, ReadRequest* requests, size_t n,
                                 const std::string& path, uint32_t dim, StoredType stored,
                                 Metric metric, const float* q, uint32_t k, VisitedSet& visited,
                                 std::vector<Neighbor>& heap, SearchStats& stats,
                                 const LiveFn& live, const OnScanned& on_scanned,
                                 uint32_t entry_bytes = 0) {
  using Clock = std::chrono::steady_clock;
  auto nanos = [](Clock::time_point a, Clock::time_point b) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(b - a).count());
  };
  const DistanceKernels& kern = Kernels();
  const bool l2 = metric == Metric::kL2;
  const float dist_offset = metric == Metric::kCosine ? 1.0f : 0.0f;
  if (n > 0) {
    absl::Status s = reader->Submit(requests, n);
    if (!s.ok()) return s;
  }
  absl::Status error;
  for (size_t done = 0; done < n; ++done) {
    Clock::time_point ts;
    const ReadRequest* r = NextCompletion(reader, stats, &error, &ts);
    if (r == nullptr) continue;
    ++stats.postings_read;
    stats.bytes_read += r->length;
    ++stats.reads;
    stats.pages_read += r->length / kPostingPageBytes;
    auto payload = PostingFileReader::ParseRecord(
        path, r->offset, static_cast<const uint8_t*>(r->buffer), r->length);
    if (!payload.ok()) {
      error = payload.status();
      continue;
    }
    // The file name alone on the hot path; the offset is added on error only.
    auto view = DecodePosting(*payload, dim, stored, path, entry_bytes);
    if (!view.ok()) {
      error = absl::DataLossError(
          absl::StrCat(view.status().message(), " (record at offset ", r->offset, ")"));
      continue;
    }
    const uint32_t stale_before = stats.stale_skipped;
    switch (view->type) {
      case StoredType::kFloat32:
        ScanPosting<float>(l2 ? kern.l2_f32 : kern.dot_f32, q, *view, !l2, dist_offset, k,
                           visited, heap, stats, live);
        break;
      case StoredType::kUInt8:
        ScanPosting<uint8_t>(l2 ? kern.l2_f32_u8 : kern.dot_f32_u8, q, *view, !l2, dist_offset,
                             k, visited, heap, stats, live);
        break;
      case StoredType::kInt8:
        ScanPosting<int8_t>(l2 ? kern.l2_f32_i8 : kern.dot_f32_i8, q, *view, !l2, dist_offset,
                            k, visited, heap, stats, live);
        break;
    }
    on_scanned(*r, stats.stale_skipped - stale_before, view->count);
    stats.scan_ns += nanos(ts, Clock::now());
  }
  return error;
}

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_POSTING_SEARCH_H_
