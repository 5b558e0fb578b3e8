#include "bench/stream_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/progress.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/live/live_index.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_index.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

FloatMatrix Rows(const FloatMatrix& m, const std::vector<uint64_t>& rows) {
  FloatMatrix out;
  out.rows = rows.size();
  out.dim = m.dim;
  out.data.resize(rows.size() * m.dim);
  for (size_t i = 0; i < rows.size(); ++i) {
    std::copy(m.row(rows[i]), m.row(rows[i]) + m.dim, out.row(i));
  }
  return out;
}

// recall@k of rows found against ground truth given as rows.
double Recall(const std::vector<std::vector<uint64_t>>& found,
              const std::vector<std::vector<uint64_t>>& truth, uint32_t k) {
  double sum = 0;
  for (size_t q = 0; q < found.size(); ++q) {
    size_t hit = 0;
    for (size_t i = 0; i < std::min<size_t>(k, found[q].size()); ++i) {
      hit += std::find(truth[q].begin(), truth[q].begin() + std::min<size_t>(k, truth[q].size()),
                       found[q][i]) != truth[q].end();
    }
    sum += double(hit) / k;
  }
  return found.empty() ? 0 : sum / found.size();
}

// One pass of the queries over an index at the fixed search parameters.
struct Measured {
  double recall = 0;
  LatencyMs latency;
  SearchStats stats;
};

struct Ingest {
  uint64_t mid = 0;  // rows [half, mid) by one writer, [mid, n) by two
  double one_writer_s = 0, two_writers_s = 0, end_to_end_s = 0;
  std::vector<double> search_ms;  // the searcher's, while inserting
};

struct Deletes {
  uint64_t count = 0;
  std::vector<bool> deleted;  // per base row
  double seconds = 0;         // including the flush
};

// The data after the churn, written for the ground truth and the fresh
// build, and its exact top-k in base rows.
struct FinalData {
  std::vector<uint64_t> kept;  // base rows not deleted, in order
  std::string path;
  std::vector<std::vector<uint64_t>> truth;
};

struct Fresh {
  SpannBuildReport report;
  double build_s = 0;
  uint64_t posting_file_bytes = 0;
  Measured measured;
};

struct StreamResults {
  uint64_t n = 0, half = 0;
  uint32_t dim = 0;
  SpannBuildReport half_report;
  Ingest ingest;
  Deletes deletes;
  LiveStats before_compact, after_compact;
  double compact_s = 0;
  double live_replicas = 0;  // posting entries per live vector after compaction
  Measured live, compacted;
  Fresh fresh;
};

// Replaces the work directory; reads the base and at most max_queries
// queries.
absl::Status LoadInputs(const StreamBenchOptions& o, FloatMatrix* base, FloatMatrix* queries) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove_all(o.work_dir, ec);
  fs::create_directories(o.work_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(o.work_dir, ": ", ec.message()));
  CAIRN_ASSIGN_OR_RETURN(*base, ReadFloatMatrix(o.base_path));
  CAIRN_ASSIGN_OR_RETURN(*queries, ReadFloatMatrix(o.query_path));
  if (queries->dim != base->dim) {
    return absl::InvalidArgumentError("queries and base differ in dim");
  }
  if (queries->rows > o.max_queries) {
    queries->rows = o.max_queries;
    queries->data.resize(queries->rows * queries->dim);
  }
  return absl::OkStatus();
}

SpannBuildOptions BuildOptions(const StreamBenchOptions& o) {
  SpannBuildOptions bo;
  bo.metric = o.metric;
  bo.threads = o.build_threads;
  bo.progress = o.progress;
  return bo;
}

// Searches the queries round robin until `done`; latencies in ms.
absl::Status SearchUntil(LiveIndex& live, const FloatMatrix& queries, const SpannSearchParams& sp,
                         const std::atomic<bool>& done, std::vector<double>* ms) {
  CAIRN_ASSIGN_OR_RETURN(auto ctx, live.NewContext());
  std::vector<LiveResult> res;
  for (uint64_t i = 0; !done; ++i) {
    const auto t0 = Clock::now();
    CAIRN_RETURN_IF_ERROR(live.Search(queries.row(i % queries.rows), sp, ctx.get(), &res, nullptr));
    ms->push_back(Nanos(t0, Clock::now()) / 1e6);
  }
  return absl::OkStatus();
}

// One line of maintenance counters every 10 s until `done`.
void LogMaintenance(LiveIndex& live, const std::atomic<bool>& done, bool progress) {
  for (int tick = 0; progress && !done; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (tick % 50 != 49) continue;
    const LiveStats st = live.stats();
    std::fprintf(stderr,
                 "stream: %llu upserts, %llu flushed, %u buffered, %llu splits, %llu merges, "
                 "%llu candidates, %llu reassigned, %llu rewrites, file %.0f MiB\n",
                 (unsigned long long)st.upserts, (unsigned long long)st.flushed_vectors,
                 st.buffered, (unsigned long long)st.splits, (unsigned long long)st.merges,
                 (unsigned long long)st.reassign_candidates, (unsigned long long)st.reassigned,
                 (unsigned long long)st.posting_rewrites, st.store.file_bytes / 1048576.0);
  }
}

// Upserts base rows below `end` in batches claimed from *next, until done
// or until any writer sharing *failed fails.
absl::Status InsertRows(LiveIndex& live, const FloatMatrix& base, uint32_t batch, uint64_t end,
                        std::atomic<uint64_t>* next, std::atomic<bool>* failed) {
  std::vector<LiveIndex::Item> items;
  for (uint64_t b = next->fetch_add(batch); b < end && !*failed; b = next->fetch_add(batch)) {
    items.clear();
    for (uint64_t r = b; r < std::min<uint64_t>(end, b + batch); ++r) {
      items.push_back({ExternalId::Number(r), base.row(r)});
    }
    absl::Status s = live.Upsert(items);
    if (!s.ok()) {
      *failed = true;
      return s;
    }
  }
  return absl::OkStatus();
}

// Inserts the second half, the first quarter of the base with one writer,
// the last with two, while one thread searches; then waits for the flush.
absl::StatusOr<Ingest> RunIngest(const StreamBenchOptions& o, LiveIndex& live,
                                 const FloatMatrix& base, const FloatMatrix& queries,
                                 const SpannSearchParams& sp) {
  const uint64_t n = base.rows, half = n / 2;
  Ingest ingest;
  ingest.mid = half + (n - half) / 2;
  std::atomic<bool> done{false};
  absl::Status search_error;
  std::thread searcher(
      [&] { search_error = SearchUntil(live, queries, sp, done, &ingest.search_ms); });
  std::thread monitor([&] { LogMaintenance(live, done, o.progress); });
  std::atomic<uint64_t> next{half};
  std::atomic<bool> failed{false};
  Progress progress("stream inserts", n - half, "vectors", o.progress);
  const auto t1 = Clock::now();
  absl::Status write_error = InsertRows(live, base, o.batch, ingest.mid, &next, &failed);
  const auto t2 = Clock::now();
  next = ingest.mid;
  absl::Status error2, error3;
  std::thread w2([&] { error2 = InsertRows(live, base, o.batch, n, &next, &failed); });
  std::thread w3([&] { error3 = InsertRows(live, base, o.batch, n, &next, &failed); });
  w2.join();
  w3.join();
  const auto t3 = Clock::now();
  write_error.Update(error2);
  write_error.Update(error3);
  absl::Status flushed = write_error.ok() ? live.Flush() : write_error;
  const auto t4 = Clock::now();
  progress.Add(n - half);
  progress.Finish();
  done = true;
  searcher.join();
  monitor.join();
  CAIRN_RETURN_IF_ERROR(flushed);
  CAIRN_RETURN_IF_ERROR(search_error);
  ingest.one_writer_s = Nanos(t1, t2) / 1e9;
  ingest.two_writers_s = Nanos(t2, t3) / 1e9;
  ingest.end_to_end_s = Nanos(t1, t4) / 1e9;
  return ingest;
}

// Deletes a seeded fraction of all rows, 256 ids per call, and flushes.
absl::StatusOr<Deletes> DeleteFraction(LiveIndex& live, uint64_t n, double fraction) {
  Rng rng(20261125);
  std::vector<uint64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.Next() % i]);
  Deletes d;
  d.count = static_cast<uint64_t>(fraction * n);
  d.deleted.assign(n, false);
  const auto t0 = Clock::now();
  for (uint64_t b = 0; b < d.count; b += 256) {
    std::vector<ExternalId> ids;
    for (uint64_t i = b; i < std::min(d.count, b + 256); ++i) {
      ids.push_back(ExternalId::Number(order[i]));
      d.deleted[order[i]] = true;
    }
    uint64_t got = 0;
    CAIRN_RETURN_IF_ERROR(live.Delete(ids, &got));
  }
  CAIRN_RETURN_IF_ERROR(live.Flush());
  d.seconds = Nanos(t0, Clock::now()) / 1e9;
  return d;
}

// Exact ground truth of the final data (rows kept, in row order).
absl::StatusOr<FinalData> FinalTruth(const StreamBenchOptions& o, const FloatMatrix& base,
                                     const FloatMatrix& queries, const std::vector<bool>& deleted) {
  FinalData f;
  for (uint64_t r = 0; r < base.rows; ++r) {
    if (!deleted[r]) f.kept.push_back(r);
  }
  f.path = o.work_dir + "/final.fbin";
  const std::string query_path = o.work_dir + "/queries.fbin";
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(f.path, Rows(base, f.kept)));
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(query_path, queries));
  GroundTruthOptions go;
  go.k = o.k;
  go.metric = o.metric;
  go.progress = o.progress;
  CAIRN_ASSIGN_OR_RETURN(GroundTruth gt, ComputeGroundTruth(f.path, query_path, go));
  f.truth.resize(queries.rows);
  for (uint32_t q = 0; q < queries.rows; ++q) {
    for (uint32_t i = 0; i < gt.k; ++i) {
      if (gt.row(q)[i] >= 0) f.truth[q].push_back(f.kept[gt.row(q)[i]]);
    }
  }
  return f;
}

// Recall and latency of the live index, quiet (no writes).
absl::StatusOr<Measured> MeasureLive(LiveIndex& live, const FloatMatrix& queries,
                                     const SpannSearchParams& sp, const FinalData& final_data) {
  Measured m;
  CAIRN_ASSIGN_OR_RETURN(auto ctx, live.NewContext());
  std::vector<std::vector<uint64_t>> found(queries.rows);
  std::vector<double> ms;
  std::vector<LiveResult> res;
  for (uint32_t q = 0; q < queries.rows; ++q) {
    const auto t0 = Clock::now();
    CAIRN_RETURN_IF_ERROR(live.Search(queries.row(q), sp, ctx.get(), &res, &m.stats));
    ms.push_back(Nanos(t0, Clock::now()) / 1e6);
    for (const auto& r : res) found[q].push_back(r.id.number());
  }
  m.recall = Recall(found, final_data.truth, sp.k);
  m.latency = Summarize(std::move(ms));
  return m;
}

// A fresh bulk build of the final data, searched at the same parameters.
absl::StatusOr<Fresh> BuildAndMeasureFresh(const StreamBenchOptions& o, const FloatMatrix& queries,
                                           const SpannSearchParams& sp,
                                           const FinalData& final_data) {
  Fresh f;
  const std::string fresh_dir = o.work_dir + "/fresh";
  const auto t0 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(f.report, BuildSpannIndex(final_data.path, fresh_dir, BuildOptions(o)));
  f.build_s = Nanos(t0, Clock::now()) / 1e9;
  CAIRN_ASSIGN_OR_RETURN(auto fresh, SpannIndex::Open(fresh_dir));
  CAIRN_ASSIGN_OR_RETURN(auto ctx, fresh->NewContext());
  f.posting_file_bytes = fresh->PostingFileBytes();
  std::vector<std::vector<uint64_t>> found(queries.rows);
  std::vector<double> ms;
  std::vector<Neighbor> res;
  for (uint32_t q = 0; q < queries.rows; ++q) {
    const auto t1 = Clock::now();
    CAIRN_RETURN_IF_ERROR(fresh->Search(queries.row(q), sp, ctx.get(), &res, &f.measured.stats));
    ms.push_back(Nanos(t1, Clock::now()) / 1e6);
    for (const auto& r : res) found[q].push_back(final_data.kept[r.id]);
  }
  f.measured.recall = Recall(found, final_data.truth, sp.k);
  f.measured.latency = Summarize(std::move(ms));
  return f;
}

void PrintReport(const StreamBenchOptions& o, const StreamResults& r, uint64_t queries,
                 std::ostream& out) {
  const uint64_t n = r.n, half = r.half, mid = r.ingest.mid;
  const double q = static_cast<double>(queries);
  const double live_n = static_cast<double>(n - r.deletes.count);
  const LatencyMs during = Summarize(r.ingest.search_ms);
  const LiveStats& bc = r.before_compact;
  out << absl::StrFormat("base %s: %d x %d; bulk build on %d, insert %d, delete %d (%.0f%%)\n",
                         o.base_path, n, r.dim, half, n - half, r.deletes.count,
                         o.delete_fraction * 100);
  out << absl::StrFormat(
      "insert 1 writer : %10.0f vectors/s acknowledged (fsync per batch of %d)\n",
      (mid - half) / r.ingest.one_writer_s, o.batch);
  out << absl::StrFormat("insert 2 writers: %10.0f vectors/s acknowledged\n",
                         (n - mid) / r.ingest.two_writers_s);
  out << absl::StrFormat("all inserts in postings after %.1f s (%.0f vectors/s end to end)\n",
                         r.ingest.end_to_end_s, (n - half) / r.ingest.end_to_end_s);
  out << absl::StrFormat("search during ingest (1 thread, max_postings %d): mean %.3f ms, p50 "
                         "%.3f, p99 %.3f over %d queries\n",
                         o.max_postings, during.mean, during.p50, during.p99,
                         r.ingest.search_ms.size());
  out << absl::StrFormat("deletes: %d in %.2f s including the flush\n", r.deletes.count,
                         r.deletes.seconds);
  out << absl::StrFormat(
      "maintenance: %d flushes, %d posting rewrites, %d splits, %d merges, %d reassign "
      "candidates, %d reassigned, %d stale entries cleaned, %d checkpoints\n",
      bc.flushes, bc.posting_rewrites, bc.splits, bc.merges, bc.reassign_candidates,
      bc.reassigned, bc.cleaned_entries, bc.checkpoints);
  out << absl::StrFormat(
      "heads: %d live of %d (bulk build on half: %d); RAM %.1f bytes/live vector\n",
      bc.live_heads, bc.total_heads, r.half_report.num_heads,
      double(bc.resident_bytes) / live_n);
  out << absl::StrFormat(
      "SSD bytes per live vector: after churn %.0f (file %.1f MiB, free %.1f MiB), after "
      "compaction %.0f (%.1f s); fresh bulk build %.0f\n",
      bc.store.file_bytes / live_n, bc.store.file_bytes / 1048576.0,
      bc.store.free_bytes / 1048576.0, r.after_compact.store.file_bytes / live_n, r.compact_s,
      double(r.fresh.posting_file_bytes) / live_n);
  out << absl::StrFormat("%-28s %8s %9s %9s %9s %9s\n", "final data, same params", "R@10",
                         "mean ms", "p99 ms", "lists/q", "KiB/q");
  auto row = [&](const char* name, const Measured& m) {
    out << absl::StrFormat("%-28s %8.4f %9.3f %9.3f %9.1f %9.1f\n", name, m.recall,
                           m.latency.mean, m.latency.p99, m.stats.postings_read / q,
                           m.stats.bytes_read / 1024.0 / q);
  };
  row("live, after churn", r.live);
  row("live, after compaction", r.compacted);
  row("fresh bulk build", r.fresh.measured);
  out << absl::StrFormat("fresh build: %.1f s, %d heads; recall gap live - fresh = %+.4f\n",
                         r.fresh.build_s, r.fresh.report.num_heads,
                         r.live.recall - r.fresh.measured.recall);
  std::printf("replicas per vector: live %.2f, fresh bulk build %.2f\n", r.live_replicas,
              r.fresh.report.replicas_per_vector);
}

nlohmann::json JsonReport(const StreamBenchOptions& o, const StreamResults& r) {
  const uint64_t n = r.n, half = r.half, mid = r.ingest.mid;
  const double live_n = static_cast<double>(n - r.deletes.count);
  const LatencyMs during = Summarize(r.ingest.search_ms);
  return {
      {"base", o.base_path},
      {"n", n},
      {"inserted", n - half},
      {"deleted", r.deletes.count},
      {"insert_vectors_per_s_1_writer", (mid - half) / r.ingest.one_writer_s},
      {"insert_vectors_per_s_2_writers", (n - mid) / r.ingest.two_writers_s},
      {"insert_end_to_end_vectors_per_s", (n - half) / r.ingest.end_to_end_s},
      {"search_during_ingest_mean_ms", during.mean},
      {"search_during_ingest_p99_ms", during.p99},
      {"splits", r.before_compact.splits},
      {"merges", r.before_compact.merges},
      {"reassigned", r.before_compact.reassigned},
      {"reassign_candidates", r.before_compact.reassign_candidates},
      {"ssd_bytes_per_live_vector_after_churn", r.before_compact.store.file_bytes / live_n},
      {"ssd_bytes_per_live_vector_after_compaction", r.after_compact.store.file_bytes / live_n},
      {"recall_live", r.live.recall},
      {"recall_live_after_compaction", r.compacted.recall},
      {"replicas_per_vector_live", r.live_replicas},
      {"replicas_per_vector_fresh", r.fresh.report.replicas_per_vector},
      {"recall_fresh_build", r.fresh.measured.recall},
      {"max_postings", o.max_postings},
  };
}

}  // namespace

absl::Status StreamBenchOptions::Validate() const {
  if (base_path.empty() || query_path.empty() || work_dir.empty()) {
    return absl::InvalidArgumentError("--base, --queries and --out are required");
  }
  if (!(delete_fraction >= 0 && delete_fraction < 1)) {
    return absl::InvalidArgumentError("--delete-fraction must be in [0, 1)");
  }
  if (k == 0 || max_postings == 0 || batch == 0) {
    return absl::InvalidArgumentError("--k, --max-postings and --batch must be positive");
  }
  return absl::OkStatus();
}

absl::Status RunStreamBench(const StreamBenchOptions& o, std::ostream& out, nlohmann::json* json) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  FloatMatrix base, queries;
  CAIRN_RETURN_IF_ERROR(LoadInputs(o, &base, &queries));
  StreamResults r;
  r.n = base.rows;
  r.half = r.n / 2;
  r.dim = base.dim;

  // 1. Bulk build on the first half.
  std::vector<uint64_t> first(r.half);
  std::iota(first.begin(), first.end(), 0);
  const std::string half_path = o.work_dir + "/half.fbin";
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(half_path, Rows(base, first)));
  const std::string live_dir = o.work_dir + "/live";
  CAIRN_ASSIGN_OR_RETURN(r.half_report, BuildSpannIndex(half_path, live_dir, BuildOptions(o)));

  // 2. Inserts, one writer then two, with one thread searching throughout.
  CAIRN_ASSIGN_OR_RETURN(auto live, LiveIndex::Open(live_dir, LiveOptions()));
  SpannSearchParams sp;
  sp.k = o.k;
  sp.max_postings = o.max_postings;
  CAIRN_ASSIGN_OR_RETURN(r.ingest, RunIngest(o, *live, base, queries, sp));

  // 3. Deletes; 4. the exact ground truth of what is left.
  CAIRN_ASSIGN_OR_RETURN(r.deletes, DeleteFraction(*live, r.n, o.delete_fraction));
  CAIRN_ASSIGN_OR_RETURN(FinalData final_data, FinalTruth(o, base, queries, r.deletes.deleted));

  // 5. The live index after the churn, then after compaction.
  CAIRN_ASSIGN_OR_RETURN(r.live, MeasureLive(*live, queries, sp, final_data));
  r.before_compact = live->stats();
  const auto t0 = Clock::now();
  CAIRN_RETURN_IF_ERROR(live->Compact());
  r.compact_s = Nanos(t0, Clock::now()) / 1e9;
  r.after_compact = live->stats();
  // Copies per live vector (the live index's replication against the bulk
  // build's): reads every posting once.
  CAIRN_ASSIGN_OR_RETURN(uint64_t live_entries, live->CountPostingEntries());
  r.live_replicas =
      double(live_entries) / double(std::max<uint64_t>(1, r.after_compact.live_vectors));
  CAIRN_ASSIGN_OR_RETURN(r.compacted, MeasureLive(*live, queries, sp, final_data));

  // 6. A fresh bulk build of the final data, same search parameters.
  CAIRN_ASSIGN_OR_RETURN(r.fresh, BuildAndMeasureFresh(o, queries, sp, final_data));

  PrintReport(o, r, queries.rows, out);
  if (json != nullptr) *json = JsonReport(o, r);
  return absl::OkStatus();
}

}  // namespace cairn
