#include <cstdio>
#include <fstream>
#include <memory>

#include "absl/strings/str_format.h"
#include "bench/spann_queries.h"
#include "cli/build_command.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/spann/spann_index.h"
#include "index/spann/spann_limits.h"

namespace cairn {
namespace {

struct SearchArgs {
  std::string index, queries, gt, json;
  SpannSearchParams params;
  int threads = 1;
  uint64_t max_queries = 0;
  std::string plan = "auto";
  CLI::Option* max_postings = nullptr;
  CLI::Option* target_recall = nullptr;
};

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "cairn search: %s\n", std::string(s.message()).c_str());
  return 1;
}

void AddSearchFlags(CLI::App* cmd, SearchArgs* a) {
  cmd->add_option("--index", a->index, "Index directory")->required();
  cmd->add_option("--queries", a->queries, "Query vector file")->required();
  cmd->add_option("--k", a->params.k, "Neighbours per query");
  cmd->add_option("--gt", a->gt, "Ground truth (.ibin) for recall");
  cmd->add_option("--threads", a->threads, "Search threads")->check(CLI::Range(1, 256));
  cmd->add_option("--json", a->json, "Write the report as JSON");
  a->max_postings = cmd->add_option("--max-postings", a->params.max_postings,
                                    "Read this many nearest postings per query (a fixed count)");
  a->target_recall =
      cmd->add_option("--target-recall", a->params.target_recall,
                      "Mean recall@k to reach: the index's calibrated budget decides each "
                      "query's postings (default 0.95 on a calibrated index unless "
                      "--max-postings is given)")
          ->check(CLI::Range(0.0, 1.0));
  a->max_postings->excludes(a->target_recall);
  cmd->add_option("--epsilon", a->params.epsilon, "Prune heads beyond (1+eps) x nearest head");
  cmd->add_option("--head-ef", a->params.head_ef, "Head graph beam (0: max(max-postings, 32))");
  cmd->add_option("--max-queries", a->max_queries, "Use only the first N queries");
  cmd->add_option("--plan", a->plan,
                  "Coded indexes: auto | two-step (codes, then candidate pages) | whole")
      ->check(CLI::IsMember({"auto", "two-step", "whole"}));
  cmd->add_option("--batch-cost-kib", a->params.batch_cost_kib,
                  "Coded indexes, plan auto: two-step must save this many KiB (cairn bench io-cost)")
      ->capture_default_str();
  cmd->add_option("--rerank-top", a->params.rerank_top,
                  "Coded indexes: rerank the N best by estimate (0: by the error bound)");
  cmd->add_option("--merge-gap", a->params.merge_gap,
                  "Coded indexes: read candidate pages this many pages apart in one request");
  cmd->add_option("--whole-nearest", a->params.whole_nearest,
                  "Coded indexes: read the N nearest postings whole in the first batch");
  cmd->add_option("--bound-scale", a->params.bound_scale,
                  "Coded indexes: multiply the error bounds (1: the model's confidence)");
}

// The report's figures, under the keys `--json` writes (tests/cli_test.cc
// pins them).
nlohmann::json ReportJson(const SearchArgs& a, const SpannIndex& index, uint64_t num_queries,
                          const SpannQueryRun& run, const SpannRecall& recall) {
  const double nq = static_cast<double>(num_queries);
  const SearchStats& stats = run.stats;
  nlohmann::json j;
  j["threads"] = a.threads;
  j["queries"] = num_queries;
  j["io"] = run.io_kind;
  j["params"] = {{"k", a.params.k}, {"max_postings", a.params.max_postings},
                 {"target_recall", a.params.target_recall},
                 {"epsilon", a.params.epsilon}, {"head_ef", a.params.head_ef},
                 {"plan", SpannSearchParams::PlanName(a.params.plan)},
                 {"rerank_top", a.params.rerank_top}, {"bound_scale", a.params.bound_scale},
                 {"merge_gap", a.params.merge_gap}, {"whole_nearest", a.params.whole_nearest},
                 {"batch_cost_kib", a.params.batch_cost_kib}};
  const CodeModel* codes = index.code_model();
  j["codes"] = codes != nullptr ? codes->Describe() : "none";
  j["two_step_fraction"] = stats.two_step_queries / nq;
  j["codes_estimated_per_query"] = stats.codes_estimated / nq;
  j["reranked_per_query"] = stats.reranked / nq;
  const LatencyMs latency = Summarize(run.latency_ms);
  j["qps"] = nq / run.wall_seconds;
  j["mean_latency_ms"] = latency.mean;
  j["p50_latency_ms"] = latency.p50;
  j["p99_latency_ms"] = latency.p99;
  j["p999_latency_ms"] = latency.p999;
  j["postings_read_per_query"] = stats.postings_read / nq;
  j["postings_histogram"] = PostingsHistogram(run.postings);
  j["kib_read_per_query"] = stats.bytes_read / 1024.0 / nq;
  j["pages_read_per_query"] = stats.pages_read / nq;
  j["reads_per_query"] = stats.reads / nq;
  j["distances_per_query"] = stats.entries_scanned / nq;
  j["duplicates_skipped_per_query"] = stats.duplicates_skipped / nq;
  j["head_ms_per_query"] = stats.head_ns / 1e6 / nq;
  j["io_wait_ms_per_query"] = stats.io_wait_ns / 1e6 / nq;
  j["scan_ms_per_query"] = stats.scan_ns / 1e6 / nq;
  const double nv = static_cast<double>(index.num_vectors());
  j["ram_bytes_per_vector"] = index.ResidentBytes() / nv;
  j["ssd_bytes_per_vector"] = index.PostingFileBytes() / nv;
  j["raw_bytes_per_vector"] = index.dim() * 4.0;
  auto value = [](const std::optional<double>& v) { return v ? nlohmann::json(*v) : nullptr; };
  j["recall_at_1"] = value(recall.at_1);
  j["recall_at_10"] = value(recall.at_10);
  j["recall_at_100"] = value(recall.at_100);
  return j;
}

void PrintReport(const SearchArgs& a, const nlohmann::json& j, const SpannIndex& index) {
  auto num = [&](const char* key) {
    return j[key].is_null() ? std::string("-") : absl::StrFormat("%.4f", j[key].get<double>());
  };
  auto get = [&](const char* key) { return j[key].get<double>(); };
  const std::string budget =
      a.params.target_recall > 0 ? absl::StrFormat("target_recall=%g", a.params.target_recall)
                                 : absl::StrFormat("max_postings=%u", a.params.max_postings);
  std::printf("%u queries, k=%u, %s, epsilon=%g, %d thread(s), io %s\n",
              j["queries"].get<unsigned>(), a.params.k, budget.c_str(), a.params.epsilon,
              a.threads, j["io"].get<std::string>().c_str());
  std::printf("recall@1 %s  recall@10 %s  recall@100 %s\n", num("recall_at_1").c_str(),
              num("recall_at_10").c_str(), num("recall_at_100").c_str());
  std::printf("latency ms: mean %.3f p50 %.3f p99 %.3f p99.9 %.3f; %.0f QPS\n",
              get("mean_latency_ms"), get("p50_latency_ms"), get("p99_latency_ms"),
              get("p999_latency_ms"), get("qps"));
  std::printf("per query: %.1f postings, %.1f KiB, %.1f pages in %.1f reads, %.0f distances, "
              "%.0f duplicates skipped; head %.3f ms, IO wait %.3f ms, scan %.3f ms\n",
              get("postings_read_per_query"), get("kib_read_per_query"),
              get("pages_read_per_query"), get("reads_per_query"), get("distances_per_query"),
              get("duplicates_skipped_per_query"), get("head_ms_per_query"),
              get("io_wait_ms_per_query"), get("scan_ms_per_query"));
  std::printf("postings per query: %s\n", j["postings_histogram"].get<std::string>().c_str());
  if (const CodeModel* codes = index.code_model(); codes != nullptr) {
    std::printf("codes %s: %.0f%% of queries read code sections first (plan %s); per query "
                "%.0f entries estimated, %.1f reranked\n",
                codes->Describe().c_str(), 100.0 * get("two_step_fraction"),
                SpannSearchParams::PlanName(a.params.plan), get("codes_estimated_per_query"),
                get("reranked_per_query"));
  }
  std::printf("RAM %.1f bytes/vector (raw %.0f), SSD %.1f bytes/vector\n",
              get("ram_bytes_per_vector"), get("raw_bytes_per_vector"),
              get("ssd_bytes_per_vector"));
}

// Returns the exit code.
int RunSearch(SearchArgs& a) {
  auto plan = SpannSearchParams::ParsePlan(a.plan);
  if (!plan.ok()) return Fail(plan.status());
  a.params.plan = *plan;
  if (absl::Status valid = a.params.Validate(); !valid.ok()) return Fail(valid);
  auto index = SpannIndex::Open(a.index);
  if (!index.ok()) return Fail(index.status());
  // No budget asked for: a calibrated index aims at recall 0.95; one without
  // calibration reads a fixed count, and says why.
  if (a.max_postings->count() == 0 && a.target_recall->count() == 0) {
    if ((*index)->posting_budget() != nullptr) {
      a.params.target_recall = kDefaultTargetRecall;
    } else {
      std::fprintf(stderr, "cairn search: %s; reading %u postings per query\n",
                   std::string((*index)->budget_status().message()).c_str(),
                   a.params.max_postings);
    }
  }
  auto q = ReadFloatMatrix(a.queries, 0, a.max_queries > 0 ? a.max_queries : UINT64_MAX);
  if (!q.ok()) return Fail(q.status());
  if (q->dim != (*index)->dim()) {
    return Fail(absl::InvalidArgumentError(absl::StrFormat(
        "%s: dimension %u, the index has %u", a.queries, q->dim, (*index)->dim())));
  }
  auto run = RunSpannQueries(**index, *q, a.params, a.threads);
  if (!run.ok()) return Fail(run.status());
  SpannRecall recall;
  if (!a.gt.empty()) {
    auto gt = ReadGroundTruth(a.gt);
    if (!gt.ok()) return Fail(gt.status());
    if (gt->num_queries < q->rows) {
      return Fail(absl::InvalidArgumentError(a.gt + ": fewer ground-truth rows than queries"));
    }
    auto measured = MeasureSpannRecall(**index, *q, a.params, a.threads, *gt, *run);
    if (!measured.ok()) return Fail(measured.status());
    recall = *measured;
  }
  const nlohmann::json j = ReportJson(a, **index, q->rows, *run, recall);
  PrintReport(a, j, **index);
  if (!a.json.empty()) {
    std::ofstream out(a.json);
    out << j.dump(2) << "\n";
    if (!out) return Fail(absl::InternalError(a.json + ": write failed"));
  }
  return 0;
}

}  // namespace

void AddSearchCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand("search", "Search a built index with a query file");
  AddSearchFlags(cmd, a.get());
  cmd->callback([a, exit_code] { *exit_code = RunSearch(*a); });
}

}  // namespace cairn
