#include "bench/codes_bench.h"

#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/progress.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/codes/code_model.h"
#include "index/spann/balanced_kmeans.h"
#include "kernels/distance.h"

namespace cairn {
namespace {

using Clock = std::chrono::steady_clock;

// Base vectors grouped under their nearest head, as postings hold them.
struct Postings {
  uint32_t num_heads = 0;
  std::vector<float> heads;       // num_heads x dim
  std::vector<uint32_t> head_of;  // per base vector
  std::vector<uint32_t> order;    // base ids, posting by posting
  std::vector<uint64_t> begin;    // num_heads + 1 offsets into order
};

// Nearest head of every row by blocked SGEMM: argmin ||c||^2 - 2 <x, c>.
std::vector<uint32_t> AssignNearest(const FloatMatrix& x, const std::vector<float>& heads,
                                    uint32_t k) {
  const uint32_t dim = x.dim;
  std::vector<float> norms(k);
  for (uint32_t h = 0; h < k; ++h) norms[h] = SquaredNorm(&heads[size_t{h} * dim], dim);
  constexpr uint64_t kBlock = 256;
  std::vector<float> dots(kBlock * k);
  std::vector<uint32_t> out(x.rows);
  for (uint64_t b = 0; b < x.rows; b += kBlock) {
    const int m = static_cast<int>(std::min(kBlock, x.rows - b));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, (int)k, (int)dim, 1.0f, x.row(b),
                (int)dim, heads.data(), (int)dim, 0.0f, dots.data(), (int)k);
    for (int i = 0; i < m; ++i) {
      const float* d = &dots[size_t(i) * k];
      uint32_t best = 0;
      for (uint32_t h = 1; h < k; ++h) {
        if (norms[h] - 2 * d[h] < norms[best] - 2 * d[best]) best = h;
      }
      out[b + i] = best;
    }
  }
  return out;
}

absl::StatusOr<Postings> BuildPostings(const FloatMatrix& base, const CodesBenchOptions& o) {
  Postings p;
  const uint64_t n = base.rows;
  p.num_heads = static_cast<uint32_t>(
      std::min<uint64_t>(n, o.heads ? o.heads : std::clamp<uint64_t>(n / 16, 1, 4096)));
  std::vector<uint32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  Rng rng(Rng::Mix(o.seed, 1));
  const uint64_t s = std::min<uint64_t>(n, std::max<uint64_t>(o.kmeans_sample, 4ull * p.num_heads));
  for (uint64_t i = 0; i < s; ++i) std::swap(ids[i], ids[i + rng.Below(n - i)]);
  std::vector<float> sample(s * base.dim);
  for (uint64_t i = 0; i < s; ++i) std::copy_n(base.row(ids[i]), base.dim, &sample[i * base.dim]);
  BalancedKMeansOptions km;
  km.k = p.num_heads;
  km.iterations = 10;
  km.seed = o.seed;
  CAIRN_ASSIGN_OR_RETURN(KMeansResult clusters, BalancedKMeans(sample.data(), s, base.dim, km));
  p.heads = std::move(clusters.centroids);
  p.num_heads = static_cast<uint32_t>(p.heads.size() / base.dim);
  p.head_of = AssignNearest(base, p.heads, p.num_heads);
  p.begin.assign(p.num_heads + 1, 0);
  for (uint32_t h : p.head_of) ++p.begin[h + 1];
  for (uint32_t h = 0; h < p.num_heads; ++h) p.begin[h + 1] += p.begin[h];
  p.order.resize(n);
  std::vector<uint64_t> next(p.begin.begin(), p.begin.end() - 1);
  for (uint64_t i = 0; i < n; ++i) p.order[next[p.head_of[i]]++] = static_cast<uint32_t>(i);
  return p;
}

struct Config {
  std::string name;
  CodeParams params;
  std::unique_ptr<CodeModel> model;
  std::vector<uint8_t> codes;  // posting order
  double train_s = 0, encode_s = 0, scan_s = 0;
  std::vector<double> hits;  // per candidate count
  double rel_sum = 0, width_sum = 0, abs_err_sum = 0, abs_true_sum = 0, err_sum = 0;
  uint64_t rel_n = 0, covered = 0, pairs = 0, covered_top = 0, top_pairs = 0;
};

absl::StatusOr<std::vector<Config>> MakeConfigs(const CodesBenchOptions& o, std::ostream& out) {
  std::vector<Config> configs;
  for (const std::string& name : o.families) {
    CAIRN_ASSIGN_OR_RETURN(CodeFamily family, ParseCodeFamily(name));
    if (family == CodeFamily::kNone) continue;
    for (uint32_t bits : o.bits_per_dim) {
      if (family != CodeFamily::kLsh && bits != 1) {
        out << "(skipping " << name << " at " << bits << " bits/dim: only lsh has more than 1)\n";
        continue;
      }
      std::vector<std::string> rotations = {""};
      if (family == CodeFamily::kRabitq) rotations = o.rotations;
      for (const std::string& rotation : rotations) {
        Config c;
        c.params.family = family;
        c.params.bits_per_dim = bits;
        c.params.itq_iterations = o.itq_iterations;
        c.params.eps0 = o.eps0;
        c.params.seed = o.seed;
        c.name = absl::StrCat(name, "/", bits);
        if (!rotation.empty()) {
          if (rotation == "learned") {
            c.params.rotation = RotationKind::kLearned;
          } else if (rotation != "hadamard") {
            return absl::InvalidArgumentError(
                absl::StrCat("unknown rotation \"", rotation, "\" (hadamard or learned)"));
          }
          absl::StrAppend(&c.name, "/", rotation);
        }
        c.hits.assign(o.candidates.size(), 0.0);
        configs.push_back(std::move(c));
      }
    }
  }
  if (configs.empty()) return absl::InvalidArgumentError("no code family to benchmark");
  return configs;
}

// Trains on a random sample of residuals and encodes the whole base.
absl::Status TrainAndEncode(const FloatMatrix& base, const Postings& p, const CodesBenchOptions& o,
                            Config* c) {
  const uint32_t dim = base.dim;
  const uint64_t n = base.rows, s = std::min<uint64_t>(n, o.train_sample);
  std::vector<uint32_t> ids(n);
  std::iota(ids.begin(), ids.end(), 0);
  Rng rng(Rng::Mix(o.seed, 2));
  for (uint64_t i = 0; i < s; ++i) std::swap(ids[i], ids[i + rng.Below(n - i)]);
  std::vector<float> residuals(s * dim);
  for (uint64_t i = 0; i < s; ++i) {
    const float* head = &p.heads[size_t{p.head_of[ids[i]]} * dim];
    for (uint32_t d = 0; d < dim; ++d) residuals[i * dim + d] = base.row(ids[i])[d] - head[d];
  }
  auto t0 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(c->model, CodeModel::Train(c->params, o.metric, dim, residuals.data(), s));
  c->train_s = Nanos(t0, Clock::now()) / 1e9;
  const uint32_t eb = c->model->entry_bytes();
  c->codes.resize(n * eb);
  Progress progress(absl::StrCat("encode ", c->name), n, "vectors", o.progress);
  t0 = Clock::now();
  for (uint64_t pos = 0; pos < n; ++pos) {
    const uint32_t id = p.order[pos];
    c->model->Encode(base.row(id), &p.heads[size_t{p.head_of[id]} * dim], &c->codes[pos * eb]);
    if (pos % 1024 == 1023) progress.Add(1024);
  }
  c->encode_s = Nanos(t0, Clock::now()) / 1e9;
  return absl::OkStatus();
}

// Reads base and queries (normalised for cosine) and the ground truth if
// one is given; k is the top-k compared, at most the base size.
absl::Status LoadData(const CodesBenchOptions& o, FloatMatrix* base, FloatMatrix* queries,
                      GroundTruth* gt, uint32_t* k) {
  CAIRN_ASSIGN_OR_RETURN(*base, ReadFloatMatrix(o.base_path));
  CAIRN_ASSIGN_OR_RETURN(*queries, ReadFloatMatrix(o.query_path, 0, o.queries_limit));
  if (queries->dim != base->dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries have dim ", queries->dim, ", base ", base->dim));
  }
  if (o.metric == Metric::kCosine) {
    for (uint64_t i = 0; i < base->rows; ++i) Normalize(base->row(i), base->dim);
    for (uint64_t i = 0; i < queries->rows; ++i) Normalize(queries->row(i), queries->dim);
  }
  *k = static_cast<uint32_t>(std::min<uint64_t>(o.k, base->rows));
  if (!o.gt_path.empty()) {
    CAIRN_ASSIGN_OR_RETURN(*gt, ReadGroundTruth(o.gt_path));
    if (gt->num_queries < queries->rows || gt->k < *k) {
      return absl::InvalidArgumentError(absl::StrCat(o.gt_path, " has ", gt->num_queries,
                                                     " queries x ", gt->k, ", need ",
                                                     queries->rows, " x ", *k));
    }
  }
  return absl::OkStatus();
}

// Per-query buffers, sized once for the base and the heads.
struct QueryScratch {
  QueryScratch(uint64_t n, uint32_t num_heads, uint32_t k)
      : truth(n), est(n), err(n), est_pos(n), err_pos(n), head_l2(num_heads),
        head_dot(num_heads), top(k), idx(n), is_top(n, 0) {}
  std::vector<float> truth, est, err, est_pos, err_pos;  // est/err: by id; *_pos: posting order
  std::vector<float> head_l2, head_dot;
  std::vector<uint32_t> top, idx;
  std::vector<uint8_t> is_top;  // per base id: in this query's true top-k
  CodeQuery cq;
};

// The exact distance of q to every base vector (cosine as 1 - cos, inner
// product negated) and the true top-k, from the ground truth file if any;
// marks them in s->is_top.
absl::Status ExactTop(const CodesBenchOptions& o, const FloatMatrix& base, const float* q,
                      const GroundTruth& gt, uint64_t qi, QueryScratch* s) {
  const DistanceKernels& kern = Kernels();
  const uint64_t n = base.rows;
  const uint32_t k = s->top.size();
  const bool cosine = o.metric == Metric::kCosine;
  for (uint64_t i = 0; i < n; ++i) {
    s->truth[i] = o.metric == Metric::kL2
                      ? kern.l2_f32(q, base.row(i), base.dim)
                      : (cosine ? 1.0f : 0.0f) - kern.dot_f32(q, base.row(i), base.dim);
  }
  if (!o.gt_path.empty()) {
    for (uint32_t j = 0; j < k; ++j) s->top[j] = static_cast<uint32_t>(gt.row(qi)[j]);
  } else {
    std::iota(s->idx.begin(), s->idx.end(), 0);
    const std::vector<float>& truth = s->truth;
    std::partial_sort(s->idx.begin(), s->idx.begin() + k, s->idx.end(),
                      [&](uint32_t a, uint32_t b) {
                        return truth[a] < truth[b] || (truth[a] == truth[b] && a < b);
                      });
    std::copy_n(s->idx.begin(), k, s->top.begin());
  }
  for (uint32_t id : s->top) {
    if (id >= n) {
      return absl::InvalidArgumentError(absl::StrCat("ground truth id ", id, " >= base size"));
    }
    s->is_top[id] = 1;
  }
  return absl::OkStatus();
}

// Estimates every base vector for one query with c's codes, posting by
// posting, and adds the query's recall and error figures to c.
// cand_order lists candidate counts descending: each nth_element narrows
// the previous prefix.
void ScoreConfig(const CodesBenchOptions& o, const Postings& p, const float* q,
                 const std::vector<uint32_t>& cands, const std::vector<size_t>& cand_order,
                 QueryScratch* s, Config* c) {
  const uint64_t n = s->truth.size();
  const uint32_t k = s->top.size();
  const bool cosine = o.metric == Metric::kCosine;
  const uint32_t eb = c->model->entry_bytes();
  const auto ts = Clock::now();
  c->model->PrepareQuery(q, &s->cq);
  for (uint32_t h = 0; h < p.num_heads; ++h) {
    const uint64_t b = p.begin[h];
    c->model->EstimatePosting(s->cq, {s->head_l2[h], s->head_dot[h]}, &c->codes[b * eb],
                              static_cast<uint32_t>(p.begin[h + 1] - b), &s->est_pos[b],
                              &s->err_pos[b]);
  }
  c->scan_s += Nanos(ts, Clock::now()) / 1e9;
  for (uint64_t pos = 0; pos < n; ++pos) {
    s->est[p.order[pos]] = s->est_pos[pos] + (cosine ? 1.0f : 0.0f);  // the caller's constant
    s->err[p.order[pos]] = s->err_pos[pos];
  }
  std::iota(s->idx.begin(), s->idx.end(), 0);
  const std::vector<float>& est = s->est;
  auto by_est = [&](uint32_t a, uint32_t b) { return est[a] < est[b]; };
  uint64_t prefix = n;
  for (size_t ci : cand_order) {
    std::nth_element(s->idx.begin(), s->idx.begin() + cands[ci], s->idx.begin() + prefix, by_est);
    prefix = cands[ci];
    uint32_t hits = 0;
    for (uint32_t j = 0; j < cands[ci]; ++j) hits += s->is_top[s->idx[j]];
    c->hits[ci] += static_cast<double>(hits) / k;
  }
  for (uint64_t i = 0; i < n; ++i) {
    const double t = s->truth[i], e = std::fabs(est[i] - t);
    const bool in = e <= s->err[i];
    c->covered += in;
    if (s->is_top[i]) {
      c->covered_top += in;
      ++c->top_pairs;
    }
    c->abs_err_sum += e;
    c->abs_true_sum += std::fabs(t);
    c->err_sum += s->err[i];
    if (o.metric != Metric::kInnerProduct && t > 0) {
      c->rel_sum += e / t;
      c->width_sum += s->err[i] / t;
      ++c->rel_n;
    }
  }
  c->pairs += n;
}

// Runs every query through every configuration.
absl::Status ScoreQueries(const CodesBenchOptions& o, const FloatMatrix& base,
                          const FloatMatrix& queries, const GroundTruth& gt, uint32_t k,
                          const Postings& p, const std::vector<uint32_t>& cands,
                          std::vector<Config>* configs) {
  const DistanceKernels& kern = Kernels();
  const uint32_t dim = base.dim;
  QueryScratch s(base.rows, p.num_heads, k);
  std::vector<size_t> cand_order(cands.size());
  std::iota(cand_order.begin(), cand_order.end(), 0);
  std::sort(cand_order.begin(), cand_order.end(),
            [&](size_t a, size_t b) { return cands[a] > cands[b]; });
  Progress progress("queries", queries.rows, "queries", o.progress);
  for (uint64_t qi = 0; qi < queries.rows; ++qi) {
    const float* q = queries.row(qi);
    CAIRN_RETURN_IF_ERROR(ExactTop(o, base, q, gt, qi, &s));
    for (uint32_t h = 0; h < p.num_heads; ++h) {
      s.head_l2[h] = kern.l2_f32(q, &p.heads[size_t{h} * dim], dim);
      s.head_dot[h] = kern.dot_f32(q, &p.heads[size_t{h} * dim], dim);
    }
    for (Config& c : *configs) ScoreConfig(o, p, q, cands, cand_order, &s, &c);
    for (uint32_t id : s.top) s.is_top[id] = 0;
    progress.Add(1);
  }
  progress.Finish();
  return absl::OkStatus();
}

double Ratio(double a, double b) { return b > 0 ? a / b : 0.0; }

// Prints the table (one line per configuration) and returns the same
// figures as JSON objects.
nlohmann::json PrintResults(const CodesBenchOptions& o, const std::vector<Config>& configs,
                            const std::vector<uint32_t>& cands, uint64_t n, uint64_t nq,
                            std::ostream& out) {
  std::string header = absl::StrFormat("%-22s %6s %6s %8s %9s %8s", "config", "bits", "bytes",
                                       "train_s", "enc_us", "scan_ns");
  for (uint32_t c : cands) absl::StrAppend(&header, absl::StrFormat(" %7s", absl::StrCat("R@", c)));
  absl::StrAppend(&header,
                  absl::StrFormat(" %8s %8s %8s %8s", "rel_err", "cover", "cov_top", "width"));
  out << header << "\n";
  nlohmann::json results = nlohmann::json::array();
  const double conf = std::erf(o.eps0 / std::sqrt(2.0));
  for (const Config& c : configs) {
    const bool ip = o.metric == Metric::kInnerProduct;
    const double rel = ip ? Ratio(c.abs_err_sum, c.abs_true_sum) : Ratio(c.rel_sum, c.rel_n);
    const double width = ip ? Ratio(c.err_sum, c.abs_true_sum) : Ratio(c.width_sum, c.rel_n);
    const double coverage = Ratio(c.covered, c.pairs);
    const double coverage_top = Ratio(c.covered_top, c.top_pairs);
    const double enc_us = c.encode_s * 1e6 / n, scan_ns = c.scan_s * 1e9 / (double(n) * nq);
    std::string line =
        absl::StrFormat("%-22s %6u %6u %8.2f %9.2f %8.2f", c.name, c.model->code_bits(),
                        c.model->entry_bytes(), c.train_s, enc_us, scan_ns);
    nlohmann::json recall = nlohmann::json::object();
    for (size_t i = 0; i < cands.size(); ++i) {
      absl::StrAppend(&line, absl::StrFormat(" %7.4f", c.hits[i] / nq));
      recall[std::to_string(cands[i])] = c.hits[i] / nq;
    }
    absl::StrAppend(
        &line, absl::StrFormat(" %8.4f %8.4f %8.4f %8.4f", rel, coverage, coverage_top, width));
    out << line << "\n";
    results.push_back({{"config", c.name},
                       {"family", CodeFamilyName(c.params.family)},
                       {"bits_per_dim", c.params.bits_per_dim},
                       {"rotation", RotationKindName(c.params.rotation)},
                       {"describe", c.model->Describe()},
                       {"code_bits", c.model->code_bits()},
                       {"entry_bytes", c.model->entry_bytes()},
                       {"model_ram_bytes", c.model->ram_bytes()},
                       {"train_seconds", c.train_s},
                       {"encode_seconds", c.encode_s},
                       {"encode_us_per_vector", enc_us},
                       {"scan_ns_per_entry", scan_ns},
                       {"candidate_recall", recall},
                       {"mean_relative_error", rel},
                       {"bound_coverage", coverage},
                       {"bound_coverage_top_k", coverage_top},
                       {"stated_confidence", conf},
                       {"mean_bound_width", width}});
  }
  out << absl::StrFormat("(stated bound confidence %.4f for eps0 = %.2f)\n", conf, o.eps0);
  for (const Config& c : configs) out << "  " << c.name << ": " << c.model->Describe() << "\n";
  return results;
}

}  // namespace

absl::Status CodesBenchOptions::Validate() const {
  if (base_path.empty() || query_path.empty()) {
    return absl::InvalidArgumentError("--base and --queries are required");
  }
  if (k == 0 || queries_limit == 0 || train_sample < 2 || candidates.empty()) {
    return absl::InvalidArgumentError(
        "k, queries_limit, candidates must be positive, train_sample >= 2");
  }
  if (bits_per_dim.empty()) return absl::InvalidArgumentError("no --bits-per-dim");
  return absl::OkStatus();
}

absl::Status RunCodesBench(const CodesBenchOptions& o, std::ostream& out, nlohmann::json* json) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  FloatMatrix base, queries;
  GroundTruth gt;
  uint32_t k = 0;
  CAIRN_RETURN_IF_ERROR(LoadData(o, &base, &queries, &gt, &k));
  const uint32_t dim = base.dim;
  const uint64_t n = base.rows, nq = queries.rows;
  std::vector<uint32_t> cands;
  for (uint32_t c : o.candidates) cands.push_back(static_cast<uint32_t>(std::min<uint64_t>(c, n)));

  const auto t0 = Clock::now();
  CAIRN_ASSIGN_OR_RETURN(Postings p, BuildPostings(base, o));
  const double heads_s = Nanos(t0, Clock::now()) / 1e9;
  CAIRN_ASSIGN_OR_RETURN(std::vector<Config> configs, MakeConfigs(o, out));
  for (Config& c : configs) CAIRN_RETURN_IF_ERROR(TrainAndEncode(base, p, o, &c));
  CAIRN_RETURN_IF_ERROR(ScoreQueries(o, base, queries, gt, k, p, cands, &configs));

  out << absl::StrFormat(
      "codes: base %llu x %u, %llu queries, %u heads (k-means %.1f s), metric %s, "
      "top-%u\n",
      (unsigned long long)n, dim, (unsigned long long)nq, p.num_heads, heads_s,
      MetricName(o.metric), k);
  nlohmann::json results = PrintResults(o, configs, cands, n, nq, out);
  if (json != nullptr) {
    *json = {{"base", o.base_path},
             {"queries", o.query_path},
             {"gt", o.gt_path},
             {"metric", MetricName(o.metric)},
             {"base_vectors", n},
             {"dim", dim},
             {"num_queries", nq},
             {"heads", p.num_heads},
             {"heads_seconds", heads_s},
             {"k", k},
             {"train_sample", o.train_sample},
             {"eps0", o.eps0},
             {"seed", o.seed},
             {"simd", std::string(SimdLevelName(Kernels().level))},
             {"results", results}};
  }
  return absl::OkStatus();
}

}  // namespace cairn
