#include "bench/spann_queries.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_format.h"

namespace cairn {

absl::StatusOr<SpannQueryRun> RunSpannQueries(const SpannIndex& index, const FloatMatrix& q,
                                              const SpannSearchParams& p, int threads) {
  SpannQueryRun run;
  run.ids.assign(q.rows * p.k, -1);
  run.latency_ms.assign(q.rows, 0);
  run.postings.assign(q.rows, 0);
  std::vector<SearchStats> per_thread(threads);
  std::vector<absl::Status> errors(threads);
  std::vector<std::thread> pool;
  const auto start = std::chrono::steady_clock::now();
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto ctx = index.NewContext();
      if (!ctx.ok()) {
        errors[t] = ctx.status();
        return;
      }
      if (t == 0) {
        run.io_kind = absl::StrFormat("%s%s", (*ctx)->io_kind(),
                                      (*ctx)->direct_io() ? "+O_DIRECT" : " (buffered)");
      }
      std::vector<Neighbor> out;
      for (uint64_t i = t; i < q.rows; i += threads) {
        auto t0 = std::chrono::steady_clock::now();
        const uint32_t before = per_thread[t].postings_read;
        absl::Status s = index.Search(q.row(i), p, ctx->get(), &out, &per_thread[t]);
        run.postings[i] = per_thread[t].postings_read - before;
        run.latency_ms[i] = std::chrono::duration<double, std::milli>(
                                std::chrono::steady_clock::now() - t0)
                                .count();
        if (!s.ok()) {
          errors[t] = s;
          return;
        }
        for (size_t j = 0; j < out.size(); ++j) run.ids[i * p.k + j] = out[j].id;
      }
    });
  }
  for (auto& th : pool) th.join();
  run.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& e : errors) {
    if (!e.ok()) return e;
  }
  for (auto& s : per_thread) run.stats.Add(s);
  return run;
}

absl::StatusOr<SpannRecall> MeasureSpannRecall(const SpannIndex& index, const FloatMatrix& q,
                                               const SpannSearchParams& params, int threads,
                                               const GroundTruth& gt, const SpannQueryRun& run) {
  if (gt.num_queries < q.rows) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "ground truth has %u rows for %u queries", gt.num_queries, (unsigned)q.rows));
  }
  SpannRecall recall;
  recall.at_1 = RecallAtK(gt, run.ids, params.k, 1);
  if (params.k >= 10) recall.at_10 = RecallAtK(gt, run.ids, params.k, 10);
  if (gt.k >= 100) {
    SpannSearchParams p100 = params;
    p100.k = 100;
    absl::StatusOr<SpannQueryRun> run100 = RunSpannQueries(index, q, p100, threads);
    if (!run100.ok()) return run100.status();
    recall.at_100 = RecallAtK(gt, run100->ids, 100, 100);
  }
  return recall;
}

std::string PostingsHistogram(const std::vector<uint32_t>& postings) {
  if (postings.empty()) return "no queries";
  std::vector<uint32_t> sorted = postings;
  std::sort(sorted.begin(), sorted.end());
  const size_t n = sorted.size();
  auto at = [&](double f) { return sorted[std::min(n - 1, static_cast<size_t>(f * n))]; };
  double sum = 0;
  for (uint32_t p : sorted) sum += p;
  std::string out = absl::StrFormat("mean %.1f, p50 %u, p90 %u, p99 %u, max %u;", sum / n, at(0.5),
                                    at(0.9), at(0.99), sorted.back());
  // Bins [lo, hi]: 1, 2, 3-4, 5-8, ... up to the largest count.
  for (uint32_t lo = 1, hi = 1; lo <= sorted.back(); lo = hi + 1, hi = 2 * hi) {
    const auto first = std::lower_bound(sorted.begin(), sorted.end(), lo);
    const auto last = std::upper_bound(sorted.begin(), sorted.end(), hi);
    if (first == last) continue;
    const double pct = 100.0 * (last - first) / n;
    out += lo == hi ? absl::StrFormat(" %u:%.0f%%", lo, pct)
                    : absl::StrFormat(" %u-%u:%.0f%%", lo, hi, pct);
  }
  return out;
}

}  // namespace cairn
