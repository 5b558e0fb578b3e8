// Printing and JSON of a `cairn bench soak` report (bench/soak_bench.h).
#include <cmath>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/soak_bench.h"

namespace cairn {

using nlohmann::json;

namespace {

std::string MiB(int64_t bytes) {
  return bytes < 0 ? std::string("?") : absl::StrFormat("%.1f MiB", bytes / 1048576.0);
}

json LatencyJson(const LatencyMs& l) {
  return json{{"mean", l.mean}, {"p50", l.p50}, {"p99", l.p99}, {"p999", l.p999}};
}

}  // namespace

void PrintSoakReport(const SoakReport& r, std::ostream& out) {
  const SoakOptions& o = r.options;
  out << absl::StrFormat("soak: %.1f s, %d connections, collection %s (dim %u), ", r.seconds,
                         o.connections, o.collection, o.dim)
      << (r.pid > 0 ? absl::StrFormat("server pid %d", r.pid) : "server not sampled")
      << (o.prefill ? absl::StrFormat(", %u ids prefilled in %.1f s",
                                      o.ids_per_connection * o.connections, r.prefill_seconds)
                    : std::string())
      << "\n";
  out << absl::StrFormat("%-16s %10s %8s %6s %6s %9s %9s %9s %9s %9s\n", "operation", "requests",
                         "req/s", "4xx", "5xx", "transport", "mean ms", "p50 ms", "p99 ms",
                         "p99.9 ms");
  for (int i = 0; i < kSoakOps; ++i) {
    const SoakOpStats& s = r.ops[i];
    out << absl::StrFormat("%-16s %10d %8.1f %6d %6d %9d %9.3f %9.3f %9.3f %9.3f\n",
                           SoakOpName(static_cast<SoakOp>(i)), s.requests,
                           r.seconds > 0 ? s.requests / r.seconds : 0.0, s.errors_4xx, s.errors_5xx,
                           s.errors_transport, s.latency_ms.mean, s.latency_ms.p50,
                           s.latency_ms.p99, s.latency_ms.p999);
  }
  if (r.pid > 0) {
    out << absl::StrFormat(
        "server RSS: start %s, after warm-up (%.0f s) %s, end %s: %+.1f%% after warm-up; "
        "open fds %d -> %d\n",
        MiB(r.rss_start), r.warm_elapsed_s, MiB(r.rss_warm), MiB(r.rss_end), r.rss_growth_pct,
        r.samples.front().open_fds, r.samples.back().open_fds);
  } else {
    out << "server RSS: not sampled (" << r.pid_note << ")\n";
  }
  const SoakConsistency& c = r.consistency;
  out << absl::StrFormat("consistency: points_count %d, expected %d", c.points_count,
                         c.expected_min);
  if (c.expected_max != c.expected_min) out << ".." << c.expected_max;
  out << (c.count_ok ? " (ok)" : " (OFF)")
      << absl::StrFormat("; %u of %u sampled live points were the top hit of their own vector",
                         c.top_hits, c.sampled)
      << "; retrieve mismatches " << c.retrieve_mismatches << "\n";
  if (!c.not_top.empty()) out << "  not the top hit: " << absl::StrJoin(c.not_top, ", ") << "\n";
  if (!r.first_errors.empty()) {
    out << "first errors:\n";
    for (const std::string& e : r.first_errors) out << "  " << e << "\n";
  }
  if (r.passed()) {
    out << "PASSED\n";
  } else {
    out << "FAILED:\n";
    for (const std::string& f : r.failures) out << "  " << f << "\n";
  }
}

json SoakReportJson(const SoakReport& r) {
  const SoakOptions& o = r.options;
  json ops = json::object();
  for (int i = 0; i < kSoakOps; ++i) {
    const SoakOpStats& s = r.ops[i];
    ops[SoakOpName(static_cast<SoakOp>(i))] = {
        {"requests", s.requests},
        {"requests_per_s", r.seconds > 0 ? s.requests / r.seconds : 0.0},
        {"errors",
         {{"4xx", s.errors_4xx}, {"5xx", s.errors_5xx}, {"transport", s.errors_transport}}},
        {"latency_ms", LatencyJson(s.latency_ms)}};
  }
  json samples = json::array();
  for (const SoakSample& s : r.samples) {
    json rps = json::object();
    for (int i = 0; i < kSoakOps; ++i)
      rps[SoakOpName(static_cast<SoakOp>(i))] = s.requests_per_s[i];
    samples.push_back({{"elapsed_s", s.elapsed_s},
                       {"requests_per_s", rps},
                       {"rss_bytes", s.rss_bytes},
                       {"open_fds", s.open_fds}});
  }
  const SoakConsistency& c = r.consistency;
  return json{{"options",
               {{"url", o.url},
                {"seconds", o.Seconds()},
                {"connections", o.connections},
                {"collection", o.collection},
                {"dim", o.dim},
                {"seed", o.seed},
                {"ids_per_connection", o.ids_per_connection},
                {"upsert_batch", o.upsert_batch},
                {"delete_batch", o.delete_batch},
                {"prefill", o.prefill}}},
              {"prefill_seconds", r.prefill_seconds},
              {"seconds", r.seconds},
              {"pid", r.pid},
              {"pid_note", r.pid_note},
              {"operations", ops},
              {"samples", samples},
              {"rss",
               {{"start_bytes", r.rss_start},
                {"warm_bytes", r.rss_warm},
                {"warm_elapsed_s", r.warm_elapsed_s},
                {"end_bytes", r.rss_end},
                {"growth_after_warmup_pct", r.rss_growth_pct}}},
              {"consistency",
               {{"points_count", c.points_count},
                {"expected_min", c.expected_min},
                {"expected_max", c.expected_max},
                {"count_ok", c.count_ok},
                {"sampled", c.sampled},
                {"top_hits", c.top_hits},
                {"not_top_hit_ids", c.not_top},
                {"retrieve_mismatches", c.retrieve_mismatches}}},
              {"first_errors", r.first_errors},
              {"failures", r.failures},
              {"passed", r.passed()}};
}

}  // namespace cairn
