#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <memory>
#include <thread>

#include "absl/strings/str_format.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "cli/build_command.h"
#include "index/spann/spann_index.h"

namespace cairn {
namespace {

struct SearchArgs {
  std::string index, queries, gt, json;
  SpannSearchParams params;
  int threads = 1;
  uint64_t max_queries = 0;
  std::string plan = "auto";
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(std::ceil(p * v.size())) - 1;
  return v[std::min(i, v.size() - 1)];
}

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "cairn search: %s\n", std::string(s.message()).c_str());
  return 1;
}

// Runs every query (split across `threads`), filling ids and per-query
// latency; returns summed stats.
absl::Status RunQueries(const SpannIndex& index, const FloatMatrix& q, const SpannSearchParams& p,
                        int threads, std::vector<int64_t>* ids, std::vector<double>* latency_ms,
                        SearchStats* stats, std::string* io_kind) {
  ids->assign(q.rows * p.k, -1);
  latency_ms->assign(q.rows, 0);
  std::vector<SearchStats> per_thread(threads);
  std::vector<absl::Status> errors(threads);
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto ctx = index.NewContext();
      if (!ctx.ok()) {
        errors[t] = ctx.status();
        return;
      }
      if (t == 0) *io_kind = absl::StrFormat("%s%s", (*ctx)->io_kind(), (*ctx)->direct_io() ? "+O_DIRECT" : " (buffered)");
      std::vector<Neighbor> out;
      for (uint64_t i = t; i < q.rows; i += threads) {
        auto t0 = std::chrono::steady_clock::now();
        absl::Status s = index.Search(q.row(i), p, ctx->get(), &out, &per_thread[t]);
        (*latency_ms)[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        if (!s.ok()) {
          errors[t] = s;
          return;
        }
        for (size_t j = 0; j < out.size(); ++j) (*ids)[i * p.k + j] = out[j].id;
      }
    });
  }
  for (auto& th : pool) th.join();
  for (auto& e : errors)
    if (!e.ok()) return e;
  for (auto& s : per_thread) stats->Add(s);
  return absl::OkStatus();
}

}  // namespace

void AddSearchCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<SearchArgs>();
  CLI::App* cmd = app.add_subcommand("search", "Search a built index with a query file");
  cmd->add_option("--index", a->index, "Index directory")->required();
  cmd->add_option("--queries", a->queries, "Query vector file")->required();
  cmd->add_option("--k", a->params.k, "Neighbours per query");
  cmd->add_option("--gt", a->gt, "Ground truth (.ibin) for recall");
  cmd->add_option("--threads", a->threads, "Search threads")->check(CLI::Range(1, 256));
  cmd->add_option("--json", a->json, "Write the report as JSON");
  cmd->add_option("--max-postings", a->params.max_postings, "Postings read at most per query");
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
  cmd->callback([a, exit_code] {
    a->params.plan = a->plan == "two-step" ? SpannSearchParams::Plan::kTwoStep
                     : a->plan == "whole"  ? SpannSearchParams::Plan::kWhole
                                           : SpannSearchParams::Plan::kAuto;
    auto index = SpannIndex::Open(a->index);
    if (!index.ok()) return void(*exit_code = Fail(index.status()));
    auto q = ReadFloatMatrix(a->queries, 0, a->max_queries > 0 ? a->max_queries : UINT64_MAX);
    if (!q.ok()) return void(*exit_code = Fail(q.status()));
    if (q->dim != (*index)->dim()) {
      return void(*exit_code = Fail(absl::InvalidArgumentError(absl::StrFormat(
                      "%s: dimension %u, the index has %u", a->queries, q->dim, (*index)->dim()))));
    }
    std::vector<int64_t> ids;
    std::vector<double> lat;
    SearchStats stats;
    std::string io_kind;
    auto t0 = std::chrono::steady_clock::now();
    absl::Status s = RunQueries(**index, *q, a->params, a->threads, &ids, &lat, &stats, &io_kind);
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!s.ok()) return void(*exit_code = Fail(s));
    const double nq = static_cast<double>(q->rows);
    nlohmann::json j;
    j["threads"] = a->threads;
    j["queries"] = q->rows;
    j["io"] = io_kind;
    j["params"] = {{"k", a->params.k}, {"max_postings", a->params.max_postings},
                   {"epsilon", a->params.epsilon}, {"head_ef", a->params.head_ef},
                   {"plan", a->plan}, {"rerank_top", a->params.rerank_top},
                   {"bound_scale", a->params.bound_scale}, {"merge_gap", a->params.merge_gap},
                   {"whole_nearest", a->params.whole_nearest},
                   {"batch_cost_kib", a->params.batch_cost_kib}};
    const CodeModel* codes = (*index)->code_model();
    j["codes"] = codes != nullptr ? codes->Describe() : "none";
    j["two_step_fraction"] = stats.two_step_queries / nq;
    j["codes_estimated_per_query"] = stats.codes_estimated / nq;
    j["reranked_per_query"] = stats.reranked / nq;
    double mean = 0;
    for (double v : lat) mean += v;
    j["qps"] = nq / wall;
    j["mean_latency_ms"] = mean / nq;
    j["p50_latency_ms"] = Percentile(lat, 0.5);
    j["p99_latency_ms"] = Percentile(lat, 0.99);
    j["p999_latency_ms"] = Percentile(lat, 0.999);
    j["postings_read_per_query"] = stats.postings_read / nq;
    j["kib_read_per_query"] = stats.bytes_read / 1024.0 / nq;
    j["pages_read_per_query"] = stats.pages_read / nq;
    j["reads_per_query"] = stats.reads / nq;
    j["distances_per_query"] = stats.entries_scanned / nq;
    j["duplicates_skipped_per_query"] = stats.duplicates_skipped / nq;
    j["head_ms_per_query"] = stats.head_ns / 1e6 / nq;
    j["io_wait_ms_per_query"] = stats.io_wait_ns / 1e6 / nq;
    j["scan_ms_per_query"] = stats.scan_ns / 1e6 / nq;
    const double nv = static_cast<double>((*index)->num_vectors());
    j["ram_bytes_per_vector"] = (*index)->ResidentBytes() / nv;
    j["ssd_bytes_per_vector"] = (*index)->PostingFileBytes() / nv;
    j["raw_bytes_per_vector"] = (*index)->dim() * 4.0;
    j["recall_at_1"] = nullptr;
    j["recall_at_10"] = nullptr;
    j["recall_at_100"] = nullptr;
    if (!a->gt.empty()) {
      auto gt = ReadGroundTruth(a->gt);
      if (!gt.ok()) return void(*exit_code = Fail(gt.status()));
      if (gt->num_queries < q->rows) {
        return void(*exit_code = Fail(absl::InvalidArgumentError(
                        a->gt + ": fewer ground-truth rows than queries")));
      }
      j["recall_at_1"] = RecallAtK(*gt, ids, a->params.k, 1);
      if (a->params.k >= 10) j["recall_at_10"] = RecallAtK(*gt, ids, a->params.k, 10);
      // recall@100 from a separate, untimed pass with k = 100.
      if (gt->k >= 100) {
        SpannSearchParams p100 = a->params;
        p100.k = 100;
        std::vector<int64_t> ids100;
        std::vector<double> lat100;
        SearchStats ignored;
        std::string unused;
        s = RunQueries(**index, *q, p100, a->threads, &ids100, &lat100, &ignored, &unused);
        if (!s.ok()) return void(*exit_code = Fail(s));
        j["recall_at_100"] = RecallAtK(*gt, ids100, 100, 100);
      }
    }
    auto num = [&](const char* key) {
      return j[key].is_null() ? std::string("-") : absl::StrFormat("%.4f", j[key].get<double>());
    };
    std::printf("%u queries, k=%u, max_postings=%u, epsilon=%g, %d thread(s), io %s\n",
                (unsigned)q->rows, a->params.k, a->params.max_postings, a->params.epsilon,
                a->threads, io_kind.c_str());
    std::printf("recall@1 %s  recall@10 %s  recall@100 %s\n", num("recall_at_1").c_str(),
                num("recall_at_10").c_str(), num("recall_at_100").c_str());
    std::printf("latency ms: mean %.3f p50 %.3f p99 %.3f p99.9 %.3f; %.0f QPS\n",
                j["mean_latency_ms"].get<double>(), j["p50_latency_ms"].get<double>(),
                j["p99_latency_ms"].get<double>(), j["p999_latency_ms"].get<double>(),
                j["qps"].get<double>());
    std::printf("per query: %.1f postings, %.1f KiB, %.1f pages in %.1f reads, %.0f distances, %.0f duplicates "
                "skipped; head %.3f ms, IO wait %.3f ms, scan %.3f ms\n",
                j["postings_read_per_query"].get<double>(), j["kib_read_per_query"].get<double>(),
                j["pages_read_per_query"].get<double>(), j["reads_per_query"].get<double>(),
                j["distances_per_query"].get<double>(),
                j["duplicates_skipped_per_query"].get<double>(), j["head_ms_per_query"].get<double>(),
                j["io_wait_ms_per_query"].get<double>(), j["scan_ms_per_query"].get<double>());
    if (codes != nullptr) {
      std::printf("codes %s: %.0f%% of queries read code sections first (plan %s); per query "
                  "%.0f entries estimated, %.1f reranked\n",
                  codes->Describe().c_str(), 100.0 * stats.two_step_queries / nq, a->plan.c_str(),
                  stats.codes_estimated / nq, stats.reranked / nq);
    }
    std::printf("RAM %.1f bytes/vector (raw %.0f), SSD %.1f bytes/vector\n",
                j["ram_bytes_per_vector"].get<double>(), j["raw_bytes_per_vector"].get<double>(),
                j["ssd_bytes_per_vector"].get<double>());
    if (!a->json.empty()) {
      std::ofstream out(a->json);
      out << j.dump(2) << "\n";
      if (!out) return void(*exit_code = Fail(absl::InternalError(a->json + ": write failed")));
    }
    *exit_code = 0;
  });
}

}  // namespace cairn
