#include "bench/stream_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <numeric>
#include <cstdio>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "common/progress.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/live/live_index.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_index.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

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

struct Latencies {
  std::vector<double> ms;
  double Mean() const {
    return ms.empty() ? 0 : std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
  }
  double Pct(double p) {
    if (ms.empty()) return 0;
    std::sort(ms.begin(), ms.end());
    return ms[std::min(ms.size() - 1, static_cast<size_t>(p * ms.size()))];
  }
};

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
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove_all(o.work_dir, ec);
  fs::create_directories(o.work_dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(o.work_dir, ": ", ec.message()));
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix base, ReadFloatMatrix(o.base_path));
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix queries, ReadFloatMatrix(o.query_path));
  if (queries.dim != base.dim) return absl::InvalidArgumentError("queries and base differ in dim");
  if (queries.rows > o.max_queries) {
    queries.rows = o.max_queries;
    queries.data.resize(queries.rows * queries.dim);
  }
  const uint64_t n = base.rows, half = n / 2;
  const uint32_t dim = base.dim;

  // 1. Bulk build on the first half.
  std::vector<uint64_t> first(half);
  std::iota(first.begin(), first.end(), 0);
  const std::string half_path = o.work_dir + "/half.fbin";
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(half_path, Rows(base, first)));
  SpannBuildOptions bo;
  bo.metric = o.metric;
  bo.threads = o.build_threads;
  bo.progress = o.progress;
  const std::string live_dir = o.work_dir + "/live";
  CAIRN_ASSIGN_OR_RETURN(SpannBuildReport half_report, BuildSpannIndex(half_path, live_dir, bo));

  // 2. Inserts, one writer then two, with one thread searching throughout.
  LiveOptions lo;
  CAIRN_ASSIGN_OR_RETURN(auto live, LiveIndex::Open(live_dir, lo));
  SpannSearchParams sp;
  sp.k = o.k;
  sp.max_postings = o.max_postings;
  std::atomic<bool> ingest_done{false};
  Latencies during;
  absl::Status search_error;
  std::thread searcher([&] {
    auto ctx = live->NewContext();
    if (!ctx.ok()) {
      search_error = ctx.status();
      return;
    }
    std::vector<LiveResult> res;
    for (uint64_t i = 0; !ingest_done; ++i) {
      auto t0 = Clock::now();
      absl::Status s = live->Search(queries.row(i % queries.rows), sp, ctx->get(), &res, nullptr);
      if (!s.ok()) {
        search_error = s;
        return;
      }
      during.ms.push_back(Seconds(t0, Clock::now()) * 1e3);
    }
  });
  std::thread monitor([&] {
    // One line of maintenance counters every 10 s while inserting.
    for (int tick = 0; o.progress && !ingest_done; ++tick) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      if (tick % 50 != 49) continue;
      const LiveStats st = live->stats();
      std::fprintf(stderr,
                   "stream: %llu upserts, %llu flushed, %u buffered, %llu splits, %llu merges, "
                   "%llu candidates, %llu reassigned, %llu rewrites, file %.0f MiB\n",
                   (unsigned long long)st.upserts, (unsigned long long)st.flushed_vectors,
                   st.buffered, (unsigned long long)st.splits, (unsigned long long)st.merges,
                   (unsigned long long)st.reassign_candidates, (unsigned long long)st.reassigned,
                   (unsigned long long)st.posting_rewrites, st.store.file_bytes / 1048576.0);
    }
  });
  std::atomic<uint64_t> next{half};
  std::atomic<bool> failed{false};
  absl::Status write_error;
  absl::Mutex err_mu;
  auto writer = [&](uint64_t end) {
    std::vector<LiveIndex::Item> items;
    for (uint64_t b = next.fetch_add(o.batch); b < end && !failed; b = next.fetch_add(o.batch)) {
      items.clear();
      for (uint64_t r = b; r < std::min<uint64_t>(end, b + o.batch); ++r) {
        items.push_back({ExternalId::Number(r), base.row(r)});
      }
      absl::Status s = live->Upsert(items);
      if (!s.ok()) {
        absl::MutexLock lock(&err_mu);
        write_error = s;
        failed = true;
      }
    }
  };
  const uint64_t mid = half + (n - half) / 2;
  Progress progress("stream inserts", n - half, "vectors", o.progress);
  auto t1 = Clock::now();
  writer(mid);
  auto t2 = Clock::now();
  next = mid;
  std::thread w2(writer, n), w3(writer, n);
  w2.join();
  w3.join();
  auto t3 = Clock::now();
  CAIRN_RETURN_IF_ERROR(write_error);
  CAIRN_RETURN_IF_ERROR(live->Flush());
  auto t4 = Clock::now();
  progress.Add(n - half);
  progress.Finish();
  ingest_done = true;
  searcher.join();
  monitor.join();
  CAIRN_RETURN_IF_ERROR(search_error);

  // 3. Deletes: a seeded fraction of all rows.
  Rng rng(20261125);
  std::vector<uint64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (uint64_t i = n; i > 1; --i) std::swap(order[i - 1], order[rng.Next() % i]);
  const uint64_t n_del = static_cast<uint64_t>(o.delete_fraction * n);
  std::vector<bool> deleted(n, false);
  auto t5 = Clock::now();
  for (uint64_t b = 0; b < n_del; b += 256) {
    std::vector<ExternalId> ids;
    for (uint64_t i = b; i < std::min(n_del, b + 256); ++i) {
      ids.push_back(ExternalId::Number(order[i]));
      deleted[order[i]] = true;
    }
    uint64_t got = 0;
    CAIRN_RETURN_IF_ERROR(live->Delete(ids, &got));
  }
  CAIRN_RETURN_IF_ERROR(live->Flush());
  auto t6 = Clock::now();

  // 4. Exact ground truth of the final data (rows kept, in row order).
  std::vector<uint64_t> kept;
  for (uint64_t r = 0; r < n; ++r) {
    if (!deleted[r]) kept.push_back(r);
  }
  const std::string final_path = o.work_dir + "/final.fbin";
  const std::string query_path = o.work_dir + "/queries.fbin";
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(final_path, Rows(base, kept)));
  CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(query_path, queries));
  GroundTruthOptions go;
  go.k = o.k;
  go.metric = o.metric;
  go.progress = o.progress;
  CAIRN_ASSIGN_OR_RETURN(GroundTruth gt, ComputeGroundTruth(final_path, query_path, go));
  std::vector<std::vector<uint64_t>> truth(queries.rows);
  for (uint32_t q = 0; q < queries.rows; ++q) {
    for (uint32_t i = 0; i < gt.k; ++i) {
      if (gt.row(q)[i] >= 0) truth[q].push_back(kept[gt.row(q)[i]]);
    }
  }

  // 5. Recall and latency of the live index after the churn (quiet).
  auto measure_live = [&](Latencies* lat, SearchStats* st) -> absl::StatusOr<double> {
    CAIRN_ASSIGN_OR_RETURN(auto ctx, live->NewContext());
    std::vector<std::vector<uint64_t>> found(queries.rows);
    std::vector<LiveResult> res;
    for (uint32_t q = 0; q < queries.rows; ++q) {
      auto t0 = Clock::now();
      CAIRN_RETURN_IF_ERROR(live->Search(queries.row(q), sp, ctx.get(), &res, st));
      lat->ms.push_back(Seconds(t0, Clock::now()) * 1e3);
      for (const auto& r : res) found[q].push_back(r.id.number());
    }
    return Recall(found, truth, o.k);
  };
  Latencies live_lat;
  SearchStats live_st;
  CAIRN_ASSIGN_OR_RETURN(double live_recall, measure_live(&live_lat, &live_st));
  const LiveStats before_compact = live->stats();
  auto t7 = Clock::now();
  CAIRN_RETURN_IF_ERROR(live->Compact());
  auto t8 = Clock::now();
  const LiveStats after_compact = live->stats();
  // Copies per live vector (the live index's replication against the bulk
  // build's): reads every posting once.
  CAIRN_ASSIGN_OR_RETURN(uint64_t live_entries, live->CountPostingEntries());
  const double live_replicas =
      double(live_entries) / double(std::max<uint64_t>(1, after_compact.live_vectors));
  Latencies compact_lat;
  SearchStats compact_st;
  CAIRN_ASSIGN_OR_RETURN(double compact_recall, measure_live(&compact_lat, &compact_st));

  // 6. A fresh bulk build of the final data, same search parameters.
  const std::string fresh_dir = o.work_dir + "/fresh";
  auto t9 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(SpannBuildReport fresh_report, BuildSpannIndex(final_path, fresh_dir, bo));
  auto t10 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(auto fresh, SpannIndex::Open(fresh_dir));
  CAIRN_ASSIGN_OR_RETURN(auto fctx, fresh->NewContext());
  std::vector<std::vector<uint64_t>> ffound(queries.rows);
  Latencies fresh_lat;
  SearchStats fresh_st;
  std::vector<Neighbor> nres;
  for (uint32_t q = 0; q < queries.rows; ++q) {
    auto t0 = Clock::now();
    CAIRN_RETURN_IF_ERROR(fresh->Search(queries.row(q), sp, fctx.get(), &nres, &fresh_st));
    fresh_lat.ms.push_back(Seconds(t0, Clock::now()) * 1e3);
    for (const auto& r : nres) ffound[q].push_back(kept[r.id]);
  }
  const double fresh_recall = Recall(ffound, truth, o.k);

  const double q = queries.rows;
  const double live_n = static_cast<double>(kept.size());
  out << absl::StrFormat("base %s: %d x %d; bulk build on %d, insert %d, delete %d (%.0f%%)\n",
                         o.base_path, n, dim, half, n - half, n_del, o.delete_fraction * 100);
  out << absl::StrFormat("insert 1 writer : %10.0f vectors/s acknowledged (fsync per batch of %d)\n",
                         (mid - half) / Seconds(t1, t2), o.batch);
  out << absl::StrFormat("insert 2 writers: %10.0f vectors/s acknowledged\n",
                         (n - mid) / Seconds(t2, t3));
  out << absl::StrFormat("all inserts in postings after %.1f s (%.0f vectors/s end to end)\n",
                         Seconds(t1, t4), (n - half) / Seconds(t1, t4));
  out << absl::StrFormat("search during ingest (1 thread, max_postings %d): mean %.3f ms, p50 "
                         "%.3f, p99 %.3f over %d queries\n",
                         o.max_postings, during.Mean(), during.Pct(0.5), during.Pct(0.99),
                         during.ms.size());
  out << absl::StrFormat("deletes: %d in %.2f s including the flush\n", n_del, Seconds(t5, t6));
  out << absl::StrFormat(
      "maintenance: %d flushes, %d posting rewrites, %d splits, %d merges, %d reassign "
      "candidates, %d reassigned, %d stale entries cleaned, %d checkpoints\n",
      before_compact.flushes, before_compact.posting_rewrites, before_compact.splits,
      before_compact.merges, before_compact.reassign_candidates, before_compact.reassigned,
      before_compact.cleaned_entries, before_compact.checkpoints);
  out << absl::StrFormat(
      "heads: %d live of %d (bulk build on half: %d); RAM %.1f bytes/live vector\n",
      before_compact.live_heads, before_compact.total_heads, half_report.num_heads,
      double(before_compact.resident_bytes) / live_n);
  out << absl::StrFormat(
      "SSD bytes per live vector: after churn %.0f (file %.1f MiB, free %.1f MiB), after "
      "compaction %.0f (%.1f s); fresh bulk build %.0f\n",
      before_compact.store.file_bytes / live_n, before_compact.store.file_bytes / 1048576.0,
      before_compact.store.free_bytes / 1048576.0, after_compact.store.file_bytes / live_n,
      Seconds(t7, t8), double(fresh->PostingFileBytes()) / live_n);
  out << absl::StrFormat("%-28s %8s %9s %9s %9s %9s\n", "final data, same params", "R@10",
                         "mean ms", "p99 ms", "lists/q", "KiB/q");
  auto row = [&](const char* name, double recall, Latencies& lat, const SearchStats& st) {
    out << absl::StrFormat("%-28s %8.4f %9.3f %9.3f %9.1f %9.1f\n", name, recall, lat.Mean(),
                           lat.Pct(0.99), st.postings_read / q, st.bytes_read / 1024.0 / q);
  };
  row("live, after churn", live_recall, live_lat, live_st);
  row("live, after compaction", compact_recall, compact_lat, compact_st);
  row("fresh bulk build", fresh_recall, fresh_lat, fresh_st);
  out << absl::StrFormat("fresh build: %.1f s, %d heads; recall gap live - fresh = %+.4f\n",
                         Seconds(t9, t10), fresh_report.num_heads, live_recall - fresh_recall);
  std::printf("replicas per vector: live %.2f, fresh bulk build %.2f\n", live_replicas,
              fresh_report.replicas_per_vector);
  if (json != nullptr) {
    *json = {
        {"base", o.base_path},
        {"n", n},
        {"inserted", n - half},
        {"deleted", n_del},
        {"insert_vectors_per_s_1_writer", (mid - half) / Seconds(t1, t2)},
        {"insert_vectors_per_s_2_writers", (n - mid) / Seconds(t2, t3)},
        {"insert_end_to_end_vectors_per_s", (n - half) / Seconds(t1, t4)},
        {"search_during_ingest_mean_ms", during.Mean()},
        {"search_during_ingest_p99_ms", during.Pct(0.99)},
        {"splits", before_compact.splits},
        {"merges", before_compact.merges},
        {"reassigned", before_compact.reassigned},
        {"reassign_candidates", before_compact.reassign_candidates},
        {"ssd_bytes_per_live_vector_after_churn", before_compact.store.file_bytes / live_n},
        {"ssd_bytes_per_live_vector_after_compaction", after_compact.store.file_bytes / live_n},
        {"recall_live", live_recall},
        {"recall_live_after_compaction", compact_recall},
        {"replicas_per_vector_live", live_replicas},
        {"replicas_per_vector_fresh", fresh_report.replicas_per_vector},
        {"recall_fresh_build", fresh_recall},
        {"max_postings", o.max_postings},
    };
  }
  return absl::OkStatus();
}

}  // namespace cairn
