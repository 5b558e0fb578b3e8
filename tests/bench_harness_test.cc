// The benchmark harness end to end on real files: small clustered data sets
// written to a temp directory, exact ground truth by brute force in double
// precision, then the real methods through RunBenchmark. Only recall and the
// report's shape are asserted, never timings.
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "cli/bench_command.h"
#include "bench/exact_method.h"
#include "bench/faiss_methods.h"
#include "bench/harness.h"
#include "bench/hnsw_method.h"
#include "bench/method_registry.h"
#include "bench/report.h"
#include "bench/search_params.h"
#include "common/progress.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace cairn {
namespace {

constexpr uint32_t kRows = 2000;
constexpr uint32_t kDim = 32;
constexpr uint32_t kQueries = 100;
constexpr uint32_t kGtK = 100;

struct Data {
  std::vector<float> base;     // kRows * kDim
  std::vector<float> queries;  // kQueries * kDim
};

// Gaussian clusters, queries drawn from the same mixture: neighbours are
// meaningful, unlike uniform noise in 32 dimensions.
Data MakeClusteredData(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  constexpr int kClusters = 20;
  std::vector<float> centres(kClusters * kDim);
  for (float& c : centres) c = 1.5f * gauss(rng);
  std::uniform_int_distribution<int> pick(0, kClusters - 1);
  auto draw = [&](uint32_t n) {
    std::vector<float> out(static_cast<size_t>(n) * kDim);
    for (uint32_t i = 0; i < n; ++i) {
      const int c = pick(rng);
      for (uint32_t d = 0; d < kDim; ++d) out[i * kDim + d] = centres[c * kDim + d] + gauss(rng);
    }
    return out;
  };
  Data data;
  data.base = draw(kRows);
  data.queries = draw(kQueries);
  return data;
}

void WriteFbin(const std::string& path, const std::vector<float>& rows, uint32_t dim) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  const int32_t header[2] = {static_cast<int32_t>(rows.size() / dim), static_cast<int32_t>(dim)};
  ASSERT_EQ(std::fwrite(header, sizeof(int32_t), 2, f), 2u);
  ASSERT_EQ(std::fwrite(rows.data(), sizeof(float), rows.size(), f), rows.size());
  ASSERT_EQ(std::fclose(f), 0);
}

double DotD(const float* a, const float* b) {
  double s = 0;
  for (uint32_t d = 0; d < kDim; ++d) s += double(a[d]) * b[d];
  return s;
}

// Exact top-k in double precision, ties to the smaller id; distances in the
// index/metric.h convention.
void WriteGroundTruth(const std::string& path, const Data& data, Metric metric, uint32_t k,
                      uint32_t num_queries = kQueries) {
  std::vector<int32_t> ids;
  std::vector<float> dists;
  for (uint32_t q = 0; q < num_queries; ++q) {
    const float* query = data.queries.data() + q * kDim;
    std::vector<std::pair<double, int32_t>> all(kRows);
    for (uint32_t i = 0; i < kRows; ++i) {
      const float* row = data.base.data() + i * kDim;
      double d = 0;
      switch (metric) {
        case Metric::kL2:
          for (uint32_t j = 0; j < kDim; ++j)
            d += (double(query[j]) - row[j]) * (query[j] - row[j]);
          break;
        case Metric::kInnerProduct:
          d = -DotD(query, row);
          break;
        case Metric::kCosine:
          d = 1.0 - DotD(query, row) / std::sqrt(DotD(query, query) * DotD(row, row));
          break;
      }
      all[i] = {d, static_cast<int32_t>(i)};
    }
    std::partial_sort(all.begin(), all.begin() + k, all.end());
    for (uint32_t j = 0; j < k; ++j) {
      ids.push_back(all[j].second);
      dists.push_back(static_cast<float>(all[j].first));
    }
  }
  std::FILE* f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr) << path;
  const int32_t header[2] = {static_cast<int32_t>(num_queries), static_cast<int32_t>(k)};
  ASSERT_EQ(std::fwrite(header, sizeof(int32_t), 2, f), 2u);
  ASSERT_EQ(std::fwrite(ids.data(), sizeof(int32_t), ids.size(), f), ids.size());
  ASSERT_EQ(std::fwrite(dists.data(), sizeof(float), dists.size(), f), dists.size());
  ASSERT_EQ(std::fclose(f), 0);
}

class BenchHarnessTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Progress::SetGloballyEnabled(false);
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn_bench_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = new std::string(tmpl);
    data_ = new Data(MakeClusteredData(7));
    WriteFbin(Path("base.fbin"), data_->base, kDim);
    WriteFbin(Path("queries.fbin"), data_->queries, kDim);
    WriteGroundTruth(Path("gt_l2.ibin"), *data_, Metric::kL2, kGtK);
    WriteGroundTruth(Path("gt_ip.ibin"), *data_, Metric::kInnerProduct, kGtK);
    WriteGroundTruth(Path("gt_cosine.ibin"), *data_, Metric::kCosine, kGtK);
    WriteGroundTruth(Path("gt_l2_k10.ibin"), *data_, Metric::kL2, 10);
    WriteGroundTruth(Path("gt_l2_short.ibin"), *data_, Metric::kL2, kGtK, kQueries / 2);
  }
  static void TearDownTestSuite() {
    std::error_code ignored;
    std::filesystem::remove_all(*dir_, ignored);
    delete dir_;
    delete data_;
  }

  static std::string Path(const std::string& name) { return *dir_ + "/" + name; }

  static BenchConfig Config(Metric metric = Metric::kL2) {
    BenchConfig config;
    config.base_path = Path("base.fbin");
    config.query_path = Path("queries.fbin");
    config.gt_path = Path(std::string("gt_") + std::string(MetricName(metric)) + ".ibin");
    config.metric = metric;
    config.build_threads = 2;
    config.verbose = false;
    return config;
  }

  static BenchReport Run(const BenchConfig& config, std::unique_ptr<SearchMethod> method) {
    std::vector<std::unique_ptr<SearchMethod>> methods;
    methods.push_back(std::move(method));
    absl::StatusOr<BenchReport> report = RunBenchmark(config, methods);
    EXPECT_TRUE(report.ok()) << report.status();
    return report.ok() ? *std::move(report) : BenchReport();
  }

  static std::string* dir_;
  static Data* data_;
};

std::string* BenchHarnessTest::dir_ = nullptr;
Data* BenchHarnessTest::data_ = nullptr;

TEST_F(BenchHarnessTest, ExactHasPerfectRecallAndCountsEveryDistance) {
  const BenchReport report = Run(Config(), std::make_unique<ExactMethod>());
  ASSERT_EQ(report.methods.size(), 1u);
  const MethodResult& m = report.methods[0];
  EXPECT_EQ(m.name, "exact");
  EXPECT_EQ(m.resident_bytes, uint64_t{kRows} * kDim * sizeof(float));
  EXPECT_DOUBLE_EQ(m.resident_bytes_per_vector, kDim * sizeof(float));
  ASSERT_EQ(m.settings.size(), 1u);
  const SettingResult& s = m.settings[0];
  EXPECT_EQ(s.recall_at_1, 1.0);
  EXPECT_EQ(s.recall_at_10, 1.0);
  EXPECT_EQ(s.recall_at_100, 1.0);
  EXPECT_EQ(s.distances_per_query, double{kRows});
  EXPECT_GT(s.qps, 0);
  EXPECT_LE(s.latency.p50, s.latency.p99);
  EXPECT_LE(s.latency.p99, s.latency.p999);
  EXPECT_EQ(report.num_queries, kQueries);
  EXPECT_EQ(report.gt_k, kGtK);
  EXPECT_EQ(report.dim, kDim);
}

TEST_F(BenchHarnessTest, ExactIsExactUnderEveryMetric) {
  for (Metric metric : {Metric::kInnerProduct, Metric::kCosine}) {
    SCOPED_TRACE(MetricName(metric));
    const BenchReport report = Run(Config(metric), std::make_unique<ExactMethod>());
    ASSERT_EQ(report.methods.size(), 1u);
    EXPECT_EQ(report.methods[0].settings[0].recall_at_10, 1.0);
    EXPECT_EQ(report.methods[0].settings[0].recall_at_100, 1.0);
  }
}

TEST_F(BenchHarnessTest, ExactDistancesFollowTheMetricConvention) {
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    SCOPED_TRACE(MetricName(metric));
    FloatMatrix base;
    base.rows = kRows;
    base.dim = kDim;
    base.data = data_->base;
    ExactMethod exact;
    ASSERT_TRUE(exact.Build(base, metric, 1).ok());
    ASSERT_TRUE(exact.SetParams(SearchParams()).ok());
    int64_t ids[3];
    float dists[3];
    const float* query = data_->queries.data();
    exact.Search(query, 3, ids, dists);
    for (int j = 0; j < 3; ++j) {
      const float* row = data_->base.data() + ids[j] * kDim;
      double expected = 0;
      if (metric == Metric::kL2) {
        for (uint32_t d = 0; d < kDim; ++d)
          expected += (double(query[d]) - row[d]) * (query[d] - row[d]);
      } else if (metric == Metric::kInnerProduct) {
        expected = -DotD(query, row);
      } else {
        expected = 1.0 - DotD(query, row) / std::sqrt(DotD(query, query) * DotD(row, row));
      }
      EXPECT_NEAR(dists[j], expected, 1e-3 * std::max(1.0, std::fabs(expected)));
      if (j > 0) {
        EXPECT_LE(dists[j - 1], dists[j]);
      }
    }
  }
}

TEST_F(BenchHarnessTest, HnswReachesHighRecallWithOurKernels) {
  BenchConfig config = Config();
  config.sweeps["hnswlib"] = {SearchParams{{"ef", 10}}, SearchParams{{"ef", 80}}};
  const BenchReport report = Run(config, std::make_unique<HnswMethod>());
  ASSERT_EQ(report.methods.size(), 1u);
  const MethodResult& m = report.methods[0];
  ASSERT_EQ(m.settings.size(), 2u);
  EXPECT_EQ(m.settings[1].params.ToString(), "ef=80");
  EXPECT_GT(*m.settings[1].recall_at_10, 0.9);
  EXPECT_GT(*m.settings[1].recall_at_1, 0.9);
  ASSERT_TRUE(m.settings[1].recall_at_100.has_value());
  // Distances are counted inside our distance function: a search visits
  // more than ef nodes and far fewer than the whole base.
  EXPECT_GT(*m.settings[1].distances_per_query, 80);
  EXPECT_LT(*m.settings[1].distances_per_query, kRows);
  // Vectors alone are 128 B/vector; the graph adds at least 2*M links.
  EXPECT_GT(m.resident_bytes_per_vector, kDim * sizeof(float) + 32 * 4);
  EXPECT_THAT(m.notes, ::testing::HasSubstr("M=16"));
}

TEST_F(BenchHarnessTest, HnswWorksForCosine) {
  BenchConfig config = Config(Metric::kCosine);
  config.sweeps["hnswlib"] = {SearchParams{{"ef", 80}}};
  const BenchReport report = Run(config, std::make_unique<HnswMethod>());
  ASSERT_EQ(report.methods.size(), 1u);
  EXPECT_GT(*report.methods[0].settings[0].recall_at_10, 0.9);
}

TEST_F(BenchHarnessTest, IvfFlatRecallGrowsWithNprobeAndIsExactAtNlist) {
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct, Metric::kCosine}) {
    SCOPED_TRACE(MetricName(metric));
    BenchConfig config = Config(metric);
    IvfFlatOptions options;
    options.nlist = 16;
    std::vector<SearchParams> sweep;
    for (int nprobe : {1, 2, 4, 8, 16}) sweep.push_back(SearchParams{{"nprobe", nprobe}});
    config.sweeps["faiss-ivf-flat"] = sweep;
    const BenchReport report = Run(config, std::make_unique<FaissIvfFlatMethod>(options));
    ASSERT_EQ(report.methods.size(), 1u);
    const std::vector<SettingResult>& s = report.methods[0].settings;
    ASSERT_EQ(s.size(), 5u);
    // Probe sets are nested, so no true neighbour found at nprobe p is lost
    // at 2p: recall cannot fall.
    for (size_t i = 1; i < s.size(); ++i) {
      EXPECT_GE(*s[i].recall_at_10, *s[i - 1].recall_at_10) << s[i].params.ToString();
      EXPECT_GE(*s[i].recall_at_100, *s[i - 1].recall_at_100) << s[i].params.ToString();
    }
    // One list of 16 cannot hold all 100 neighbours: the sweep is not trivial.
    EXPECT_LT(*s[0].recall_at_100, 1.0);
    EXPECT_EQ(s.back().recall_at_1, 1.0);
    EXPECT_EQ(s.back().recall_at_10, 1.0);
    EXPECT_EQ(s.back().recall_at_100, 1.0);
    // At nprobe = nlist every vector is scanned, plus the 16 centroids.
    EXPECT_EQ(s.back().distances_per_query, double{kRows + 16});
    // Codes (128 B) + id (8 B) per vector at least.
    EXPECT_GE(report.methods[0].resident_bytes_per_vector, 136);
    EXPECT_THAT(report.methods[0].notes, ::testing::HasSubstr("without AVX"));
  }
}

TEST_F(BenchHarnessTest, IvfFlatDefaultSweepStopsAtNlist) {
  IvfFlatOptions options;
  options.nlist = 16;
  FaissIvfFlatMethod method(options);
  FloatMatrix base;
  base.rows = kRows;
  base.dim = kDim;
  base.data = data_->base;
  ASSERT_TRUE(method.Build(base, Metric::kL2, 2).ok());
  std::vector<std::string> settings;
  for (const SearchParams& p : method.DefaultSweep()) settings.push_back(p.ToString());
  EXPECT_THAT(settings,
              ::testing::ElementsAre("nprobe=1", "nprobe=2", "nprobe=4", "nprobe=8", "nprobe=16"));
  EXPECT_FALSE(method.SetParams(SearchParams{{"nprobe", 17}}).ok());
  EXPECT_FALSE(method.SetParams(SearchParams{{"ef", 10}}).ok());
}

TEST_F(BenchHarnessTest, IvfPqRefineFindsNeighboursAndCountsCodeDistances) {
  BenchConfig config = Config();
  IvfPqRefineOptions options;
  options.nlist = 16;
  config.sweeps["faiss-ivf-pq-refine"] = {SearchParams{{"nprobe", 16}, {"k_factor", 1}},
                                          SearchParams{{"nprobe", 16}, {"k_factor", 8}}};
  const BenchReport report = Run(config, std::make_unique<FaissIvfPqRefineMethod>(options));
  ASSERT_EQ(report.methods.size(), 1u);
  const std::vector<SettingResult>& s = report.methods[0].settings;
  ASSERT_EQ(s.size(), 2u);
  // Re-ranking 8x more candidates by exact distance can only help.
  EXPECT_GE(*s[1].recall_at_10, *s[0].recall_at_10);
  EXPECT_GT(*s[1].recall_at_10, 0.8);
  EXPECT_EQ(s[1].code_distances_per_query, double{kRows});
  EXPECT_EQ(s[1].distances_per_query, double{16 + 10 * 8});
  EXPECT_THAT(report.methods[0].notes, ::testing::HasSubstr("m=8"));
}

TEST_F(BenchHarnessTest, ThreadsWarmupAndMaxQueries) {
  BenchConfig config = Config();
  config.query_threads = 3;
  config.warmup_queries = 5;
  config.max_queries = 37;
  const BenchReport report = Run(config, std::make_unique<ExactMethod>());
  ASSERT_EQ(report.methods.size(), 1u);
  EXPECT_EQ(report.num_queries, 37u);
  EXPECT_EQ(report.query_threads, 3);
  EXPECT_EQ(report.methods[0].settings[0].recall_at_10, 1.0);
  // Warm-up queries are not counted in the per-query work.
  EXPECT_EQ(report.methods[0].settings[0].distances_per_query, double{kRows});
}

TEST_F(BenchHarnessTest, ShortGroundTruthLeavesDeepRecallOut) {
  BenchConfig config = Config();
  config.gt_path = Path("gt_l2_k10.ibin");
  const BenchReport report = Run(config, std::make_unique<ExactMethod>());
  ASSERT_EQ(report.methods.size(), 1u);
  EXPECT_EQ(report.methods[0].settings[0].recall_at_10, 1.0);
  EXPECT_FALSE(report.methods[0].settings[0].recall_at_100.has_value());
}

TEST_F(BenchHarnessTest, RejectsMismatchedInputs) {
  std::vector<std::unique_ptr<SearchMethod>> methods;
  methods.push_back(std::make_unique<ExactMethod>());

  BenchConfig short_gt = Config();
  short_gt.gt_path = Path("gt_l2_short.ibin");
  absl::StatusOr<BenchReport> r = RunBenchmark(short_gt, methods);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr("--max-queries"));
  short_gt.max_queries = kQueries / 2;  // then it covers what is run
  EXPECT_TRUE(RunBenchmark(short_gt, methods).ok());

  methods.clear();
  methods.push_back(std::make_unique<ExactMethod>());
  BenchConfig typo = Config();
  typo.sweeps["hnsw"] = {SearchParams{{"ef", 10}}};
  EXPECT_THAT(RunBenchmark(typo, methods).status().message(), ::testing::HasSubstr("hnsw"));

  BenchConfig bad_knob = Config();
  bad_knob.sweeps["exact"] = {SearchParams{{"nprobe", 4}}};
  absl::StatusOr<BenchReport> knob = RunBenchmark(bad_knob, methods);
  EXPECT_EQ(knob.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(knob.status().message(), ::testing::HasSubstr("nprobe"));

  BenchConfig missing = Config();
  missing.base_path = Path("nope.fbin");
  EXPECT_FALSE(RunBenchmark(missing, methods).ok());
}

TEST_F(BenchHarnessTest, JsonReportHasEveryKey) {
  BenchConfig config = Config();
  config.sweeps["hnswlib"] = {SearchParams{{"ef", 20}}};
  std::vector<std::unique_ptr<SearchMethod>> methods;
  methods.push_back(std::make_unique<ExactMethod>());
  methods.push_back(std::make_unique<HnswMethod>());
  absl::StatusOr<BenchReport> report = RunBenchmark(config, methods);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(methods[0], nullptr);  // destroyed once measured

  const std::string path = Path("report.json");
  ASSERT_TRUE(WriteJsonReport(*report, path).ok());
  std::ifstream in(path);
  const nlohmann::json j = nlohmann::json::parse(in);
  for (const char* key : {"cpu_model", "simd_level", "hardware_threads", "kernel"}) {
    EXPECT_TRUE(j["machine"].contains(key)) << key;
  }
  EXPECT_FALSE(j["machine"]["simd_level"].get<std::string>().empty());
  EXPECT_EQ(j["dataset"]["base_rows"], kRows);
  EXPECT_EQ(j["dataset"]["dim"], kDim);
  EXPECT_EQ(j["dataset"]["num_queries"], kQueries);
  EXPECT_EQ(j["dataset"]["metric"], "l2");
  for (const char* key :
       {"k", "query_threads", "build_threads", "warmup_queries", "latency_note"}) {
    EXPECT_TRUE(j["config"].contains(key)) << key;
  }
  ASSERT_EQ(j["methods"].size(), 2u);
  for (const nlohmann::json& m : j["methods"]) {
    for (const char* key : {"name", "notes", "build_params", "build_seconds", "resident_bytes",
                            "resident_bytes_per_vector", "rss_before_build_bytes",
                            "rss_after_build_bytes", "peak_rss_during_build_bytes", "results"}) {
      EXPECT_TRUE(m.contains(key)) << key;
    }
    ASSERT_FALSE(m["results"].empty());
    for (const nlohmann::json& r : m["results"]) {
      for (const char* key :
           {"params", "params_str", "recall_at_1", "recall_at_10", "recall_at_100", "qps",
            "latency_ms", "distances_per_query", "code_distances_per_query"}) {
        EXPECT_TRUE(r.contains(key)) << key;
      }
      for (const char* key : {"mean", "p50", "p99", "p99_9"}) {
        EXPECT_TRUE(r["latency_ms"].contains(key)) << key;
      }
    }
  }
  EXPECT_EQ(j["methods"][1]["name"], "hnswlib");
  EXPECT_EQ(j["methods"][1]["results"][0]["params"]["ef"], 20);
  EXPECT_EQ(j["methods"][0]["results"][0]["recall_at_100"], 1.0);

  std::ostringstream table;
  PrintTable(*report, table);
  EXPECT_THAT(table.str(), ::testing::HasSubstr("hnswlib"));
  EXPECT_THAT(table.str(), ::testing::HasSubstr("ef=20"));
  EXPECT_THAT(table.str(), ::testing::HasSubstr("R@100"));
  EXPECT_THAT(table.str(), ::testing::HasSubstr("SSD B/vec"));
}

TEST(SearchParamsTest, SweepSpecIsACartesianProductPerMethod) {
  absl::StatusOr<std::map<std::string, std::vector<SearchParams>>> sweeps =
      ParseSweepSpec("hnswlib:ef=10,20; faiss-ivf-pq-refine:nprobe=8,16:k_factor=2,4");
  ASSERT_TRUE(sweeps.ok()) << sweeps.status();
  std::vector<std::string> hnsw, pq;
  for (const SearchParams& p : (*sweeps)["hnswlib"]) hnsw.push_back(p.ToString());
  for (const SearchParams& p : (*sweeps)["faiss-ivf-pq-refine"]) pq.push_back(p.ToString());
  EXPECT_THAT(hnsw, ::testing::ElementsAre("ef=10", "ef=20"));
  EXPECT_THAT(pq, ::testing::ElementsAre("nprobe=8,k_factor=2", "nprobe=8,k_factor=4",
                                         "nprobe=16,k_factor=2", "nprobe=16,k_factor=4"));
  EXPECT_EQ((SearchParams{{"k_factor", 1.5}}.ToString()), "k_factor=1.5");
  EXPECT_EQ(SearchParams().ToString(), "-");

  EXPECT_FALSE(ParseSweepSpec("hnswlib").ok());
  EXPECT_FALSE(ParseSweepSpec("hnswlib:ef=ten").ok());
  EXPECT_FALSE(ParseSweepSpec("hnswlib:ef=10;hnswlib:ef=20").ok());
  EXPECT_FALSE(ParseBuildSpec("hnswlib:M=16,32").ok());
  absl::StatusOr<std::map<std::string, SearchParams>> build =
      ParseBuildSpec("hnswlib:M=32:efc=100");
  ASSERT_TRUE(build.ok());
  EXPECT_EQ((*build)["hnswlib"].ToString(), "M=32,efc=100");
}

TEST(MethodRegistryTest, MakesEveryKnownMethodAndRejectsUnknownOnes) {
  for (const std::string& name : KnownMethodNames()) {
    absl::StatusOr<std::unique_ptr<SearchMethod>> m = MakeMethod(name, SearchParams());
    ASSERT_TRUE(m.ok()) << name << ": " << m.status();
    EXPECT_EQ((*m)->name(), name);
  }
  EXPECT_EQ(MakeMethod("annoy", SearchParams()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(MakeMethod("hnswlib", SearchParams{{"nlist", 4}}).ok());
  absl::StatusOr<std::unique_ptr<SearchMethod>> hnsw =
      MakeMethod("hnswlib", SearchParams{{"M", 8}, {"efc", 50}});
  ASSERT_TRUE(hnsw.ok());
  EXPECT_THAT((*hnsw)->Notes(), ::testing::HasSubstr("M=8, ef_construction=50"));
}

class BenchCommandTest : public BenchHarnessTest {
 protected:
  static int RunCli(const std::string& args) {
    CLI::App app;
    int exit_code = -1;
    AddBenchCommand(app, &exit_code);
    try {
      app.parse(args, /*program_name_included=*/false);
    } catch (const CLI::ParseError& e) {
      return 100 + app.exit(e);
    }
    return exit_code;
  }
};

TEST_F(BenchCommandTest, RunsTheMethodsAndWritesJson) {
  const std::string json = Path("cli.json");
  const int code = RunCli("bench --quiet --base " + Path("base.fbin") + " --queries " +
                          Path("queries.fbin") + " --gt " + Path("gt_l2.ibin") +
                          " --methods exact,faiss-ivf-flat --build-params faiss-ivf-flat:nlist=8"
                          " --sweep faiss-ivf-flat:nprobe=8 --max-queries 20 --json " +
                          json);
  ASSERT_EQ(code, 0);
  std::ifstream in(json);
  const nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_EQ(j["methods"].size(), 2u);
  EXPECT_EQ(j["methods"][1]["build_params"], "nlist=8");
  EXPECT_EQ(j["methods"][1]["results"][0]["recall_at_10"], 1.0);
  EXPECT_EQ(j["dataset"]["num_queries"], 20);
}

TEST_F(BenchCommandTest, ReportsErrorsAsExitCodeOne) {
  EXPECT_EQ(RunCli("bench --quiet"), 1);  // no --base / --queries
  EXPECT_EQ(RunCli("bench --quiet --base " + Path("base.fbin") + " --queries " +
                   Path("queries.fbin") + " --gt " + Path("gt_l2.ibin") + " --methods annoy"),
            1);
  EXPECT_EQ(
      RunCli("bench --quiet --base " + Path("base.fbin") + " --queries " + Path("queries.fbin") +
             " --gt " + Path("gt_l2.ibin") + " --methods exact --metric manhattan"),
      1);
  EXPECT_EQ(
      RunCli("bench --quiet --base " + Path("base.fbin") + " --queries " + Path("queries.fbin") +
             " --gt " + Path("gt_l2.ibin") + " --methods exact --sweep hnswlib:ef=10"),
      1);
}

}  // namespace
}  // namespace cairn
