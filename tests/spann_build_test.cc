// Building SPANN indexes: other metrics, narrow stored types, a small memory
// budget, input errors, and the real `cairn build` binary killed with SIGKILL
// at many points and rerun: it must resume and produce the same bytes as an
// uninterrupted build.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/random.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "kernels/distance.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_files.h"
#include "index/spann/spann_index.h"
#include "nlohmann/json.hpp"
#include "storage/env.h"
#include "tests/spann_test_util.h"

extern char** environ;

namespace cairn {
namespace {

using namespace ::cairn::testing;  // NOLINT: the shared fixture and helpers
using ::testing::HasSubstr;
namespace fs = std::filesystem;

// ---- Other metrics ------------------------------------------------------

class SpannMetricTest : public SpannDataTest, public ::testing::WithParamInterface<Metric> {};

TEST_P(SpannMetricTest, BuildSearchesWithRecallAndExactDistances) {
  const Metric metric = GetParam();
  GroundTruthOptions go;
  go.k = 10;
  go.metric = metric;
  go.progress = false;
  auto gt = ComputeGroundTruth(S().base_path, S().query_path, go);
  ASSERT_TRUE(gt.ok()) << gt.status();

  SpannBuildOptions bo;
  bo.metric = metric;
  bo.threads = 0;
  bo.progress = false;
  const std::string dir = tmp_.File("index");
  auto report = BuildSpannIndex(S().base_path, dir, bo);
  ASSERT_TRUE(report.ok()) << report.status();
  auto index = SpannIndex::Open(dir);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->metric(), metric);
  Results results;
  ASSERT_TRUE(SearchAll(**index, S().queries, SpannSearchParams(), &results).ok());
  const double recall = RecallAtK(*gt, Ids(results, 10), 10, 10);
  std::printf("%s recall@10: %.4f\n", MetricName(metric), recall);
  EXPECT_GE(recall, metric == Metric::kCosine ? 0.9 : 0.8);

  for (uint32_t q = 0; q < kQueries; ++q) {
    const std::string what = "query " + std::to_string(q);
    ASSERT_EQ(results[q].size(), 10u) << what;
    ExpectWellFormed(results[q], kN, what);
    for (const Neighbor& n : results[q]) {
      const float* x = S().base.row(n.id);
      const float* qv = S().queries.row(q);
      if (metric == Metric::kInnerProduct) {
        EXPECT_EQ(n.distance, -Kernels().dot_f32(qv, x, kDim)) << what;
      } else {
        // 1 - cos, computed on normalised copies as the index stores them.
        const std::vector<float> qn = Normalized(qv, kDim), xn = Normalized(x, kDim);
        EXPECT_EQ(n.distance, 1.0f - Kernels().dot_f32(qn.data(), xn.data(), kDim)) << what;
        EXPECT_NEAR(n.distance, Distance(metric, qv, x, kDim), 1e-5) << what;
      }
    }
  }
  VerifyPostings(dir, S().base, metric, bo.replicas);
}

INSTANTIATE_TEST_SUITE_P(Metrics, SpannMetricTest,
                         ::testing::Values(Metric::kCosine, Metric::kInnerProduct),
                         [](const auto& info) { return std::string(MetricName(info.param)); });

// ---- Narrow stored types ---------------------------------------------------

// The first `rows` of m mapped to integers: round(5 x + offset), clamped to
// [lo, hi] (+0 for -0); still a float matrix, but every value integral.
FloatMatrix Integral(const FloatMatrix& m, uint64_t rows, float offset, float lo, float hi) {
  FloatMatrix out;
  out.rows = std::min(rows, m.rows);
  out.dim = m.dim;
  out.data.assign(m.data.begin(), m.data.begin() + out.rows * m.dim);
  for (float& v : out.data) v = std::clamp(std::nearbyint(5 * v + offset), lo, hi) + 0.0f;
  return out;
}

TEST_F(SpannDataTest, IntegralInputIsStoredNarrowAndSearchedExactly) {
  struct Case {
    const char* name;
    float offset, lo, hi;
    Metric metric;
    StoredType want;
  };
  for (const Case& c : {Case{"uint8", 128, 0, 255, Metric::kL2, StoredType::kUInt8},
                        Case{"int8", 0, -128, 127, Metric::kInnerProduct, StoredType::kInt8}}) {
    SCOPED_TRACE(c.name);
    // 8000 rows keep the four builds quick.
    const FloatMatrix base = Integral(S().base, 8000, c.offset, c.lo, c.hi);
    const FloatMatrix queries = Integral(S().queries, kQueries, c.offset, c.lo, c.hi);
    const std::string base_path = tmp_.File(std::string(c.name) + "-base.fbin");
    const std::string query_path = tmp_.File(std::string(c.name) + "-query.fbin");
    ASSERT_TRUE(WriteFloatMatrix(base_path, base).ok());
    ASSERT_TRUE(WriteFloatMatrix(query_path, queries).ok());
    GroundTruthOptions go;
    go.k = 10;
    go.metric = c.metric;
    go.progress = false;
    auto gt = ComputeGroundTruth(base_path, query_path, go);
    ASSERT_TRUE(gt.ok()) << gt.status();

    SpannBuildOptions bo;
    bo.metric = c.metric;
    bo.threads = 1;  // a deterministic head graph: both builds get the same
    bo.progress = false;
    const std::string narrow_dir = tmp_.File(std::string(c.name) + "-auto");
    ASSERT_TRUE(BuildSpannIndex(base_path, narrow_dir, bo).ok());
    bo.stored_type = "float32";
    const std::string wide_dir = tmp_.File(std::string(c.name) + "-float32");
    ASSERT_TRUE(BuildSpannIndex(base_path, wide_dir, bo).ok());

    auto narrow = SpannIndex::Open(narrow_dir);
    auto wide = SpannIndex::Open(wide_dir);
    ASSERT_TRUE(narrow.ok()) << narrow.status();
    ASSERT_TRUE(wide.ok()) << wide.status();
    EXPECT_EQ((*narrow)->manifest().stored_type, c.want);
    EXPECT_EQ((*wide)->manifest().stored_type, StoredType::kFloat32);
    // Postings round up to 4 KiB pages, so the saving is less than 4x.
    EXPECT_LT((*narrow)->PostingFileBytes(), (*wide)->PostingFileBytes());
    VerifyPostings(narrow_dir, base, c.metric, bo.replicas);

    Results from_narrow, from_wide;
    ASSERT_TRUE(SearchAll(**narrow, queries, SpannSearchParams(), &from_narrow).ok());
    ASSERT_TRUE(SearchAll(**wide, queries, SpannSearchParams(), &from_wide).ok());
    // Same clustering and postings, another encoding; integral values make
    // every distance exact in float, so the answers are identical.
    ExpectSameResults(from_wide, from_narrow, "narrow vs float32");
    const double recall = RecallAtK(*gt, Ids(from_narrow, 10), 10, 10);
    std::printf("%s (%s) recall@10: %.4f\n", c.name, MetricName(c.metric), recall);
    EXPECT_GE(recall, 0.9);
    for (uint32_t q = 0; q < kQueries; ++q) {
      for (const Neighbor& n : from_narrow[q]) {
        const float exact = c.metric == Metric::kL2
                                ? Kernels().l2_f32(queries.row(q), base.row(n.id), kDim)
                                : -Kernels().dot_f32(queries.row(q), base.row(n.id), kDim);
        ASSERT_LT(n.id, base.rows);
        ASSERT_EQ(n.distance, exact) << "query " << q << " id " << n.id;
      }
    }
  }

  // An explicit narrow type that the data does not fit is refused.
  SpannBuildOptions bo;
  bo.progress = false;
  bo.stored_type = "uint8";
  auto report = BuildSpannIndex(S().base_path, tmp_.File("uint8-of-floats"), bo);
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument) << report.status();
  EXPECT_THAT(std::string(report.status().message()), HasSubstr(S().base_path));
  bo.stored_type = "float16";
  EXPECT_EQ(bo.Validate().code(), absl::StatusCode::kInvalidArgument);
}

// ---- Memory budget ---------------------------------------------------------

TEST_F(SpannDataTest, SmallMemoryBudgetSamplesAndWritesInPasses) {
  // 128-d data: at the 16 MiB minimum budget the clustering sees a sample
  // (8 MiB = 16384 rows of 20000) and the postings (~19 MB) are gathered in
  // several passes over the input.
  SyntheticOptions so;
  so.n = kN;
  so.dim = 128;
  so.queries = 100;
  so.clusters = 200;
  so.gt_k = 10;
  so.progress = false;
  const std::string data = tmp_.File("data128");
  ASSERT_TRUE(GenerateSynthetic(so, data).ok());
  SpannBuildOptions bo;
  bo.threads = 0;
  bo.progress = false;
  bo.memory_budget_bytes = 16u << 20;
  const std::string dir = tmp_.File("index128");
  auto report = BuildSpannIndex(data + "/base.fbin", dir, bo);
  ASSERT_TRUE(report.ok()) << report.status();
  auto base = ReadFloatMatrix(data + "/base.fbin");
  auto queries = ReadFloatMatrix(data + "/query.fbin");
  auto gt = ReadGroundTruth(data + "/gt.ibin");
  ASSERT_TRUE(base.ok() && queries.ok() && gt.ok());
  ASSERT_GT(report->total_entries * 128 * 4, uint64_t{8} << 20)
      << "the postings should not fit one pass (half the budget)";
  VerifyPostings(dir, *base, Metric::kL2, bo.replicas);
  auto index = SpannIndex::Open(dir);
  ASSERT_TRUE(index.ok()) << index.status();
  Results results;
  ASSERT_TRUE(SearchAll(**index, *queries, SpannSearchParams(), &results).ok());
  const double recall = RecallAtK(*gt, Ids(results, 10), 10, 10);
  std::printf("128-d, 16 MiB budget: recall@10 %.4f, %u heads\n", recall, report->num_heads);
  EXPECT_GE(recall, 0.9);
}

// ---- Killed builds resume -----------------------------------------------

struct ProcessResult {
  int exit_code = -1;  // -1 if killed
  bool killed = false;
  std::string out, err;
};

class BuildProcess {
 public:
  // Starts `cairn build` with stdout and stderr into files in `log_dir`.
  BuildProcess(const std::vector<std::string>& args, const std::string& log_dir)
      : out_path_(log_dir + "/stdout"), err_path_(log_dir + "/stderr") {
    std::vector<std::string> argv_s = {CAIRN_BINARY_PATH, "build"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    posix_spawn_file_actions_addopen(&actions, 2, err_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                     0644);
    if (posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
  }
  ~BuildProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
    }
  }
  bool started() const { return pid_ > 0; }
  bool Exited() {
    if (reaped_) return true;
    int status;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      Reaped(status);
      return true;
    }
    return false;
  }
  ProcessResult Kill() {
    if (!reaped_) {
      kill(pid_, SIGKILL);
      int status;
      waitpid(pid_, &status, 0);
      Reaped(status);
    }
    return Collect();
  }
  ProcessResult Wait() {
    if (!reaped_) {
      int status;
      waitpid(pid_, &status, 0);
      Reaped(status);
    }
    return Collect();
  }

 private:
  void Reaped(int status) {
    reaped_ = true;
    run_.killed = WIFSIGNALED(status);
    run_.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  ProcessResult Collect() {
    auto slurp = [](const std::string& p) {
      std::ifstream in(p);
      std::stringstream ss;
      ss << in.rdbuf();
      return ss.str();
    };
    run_.out = slurp(out_path_);
    run_.err = slurp(err_path_);
    return run_;
  }
  std::string out_path_, err_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  ProcessResult run_;
};

// spann_builder.h's stages, in order.
const std::vector<std::string> kStages = {"inspect",    "clustering", "head_graph",
                                          "assignment", "postings",   "manifest"};

// Stages build/state.json lists as done (empty if there is none yet).
std::vector<std::string> DoneStages(const std::string& index_dir) {
  std::ifstream in(index_dir + "/build/state.json");
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  auto j = nlohmann::json::parse(ss.str(), nullptr, false);
  std::vector<std::string> done;
  if (j.is_discarded() || !j.contains("done")) return done;
  for (const auto& d : j["done"]) done.push_back(d.get<std::string>());
  return done;
}

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

class KilledBuildTest : public SpannDataTest {
 protected:
  // The first 10000 rows of the suite's data: each build takes well under a
  // second, and this test runs about twenty.
  void SetUp() override {
    SpannDataTest::SetUp();
    if (HasFatalFailure()) return;
    FloatMatrix half;
    half.rows = 10000;
    half.dim = kDim;
    half.data.assign(S().base.data.begin(), S().base.data.begin() + half.rows * kDim);
    input_ = tmp_.File("input.fbin");
    ASSERT_TRUE(WriteFloatMatrix(input_, half).ok());
  }

  std::vector<std::string> Args(const std::string& out) const {
    return {"--input", input_, "--out", out, "--threads", "1", "--quiet"};
  }

  std::string input_;

  ProcessResult BuildToCompletion(const std::string& out, const std::string& logs) {
    fs::create_directories(logs);
    BuildProcess p(Args(out), logs);
    EXPECT_TRUE(p.started());
    return p.Wait();
  }

  // Starts a build and SIGKILLs it once `stage` is recorded as done (or at
  // once if it exits first); returns the stages done at the kill.
  std::vector<std::string> KillAfterStage(const std::string& out, const std::string& logs,
                                          const std::string& stage) {
    fs::create_directories(logs);
    BuildProcess p(Args(out), logs);
    EXPECT_TRUE(p.started());
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!Contains(DoneStages(out), stage) && !p.Exited() &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    p.Kill();
    return DoneStages(out);
  }

  std::vector<std::string> KillAfterDelay(const std::string& out, const std::string& logs,
                                          int delay_ms) {
    fs::create_directories(logs);
    BuildProcess p(Args(out), logs);
    EXPECT_TRUE(p.started());
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    p.Kill();
    return DoneStages(out);
  }

  // Reruns to completion; the output says where it resumed (nowhere when the
  // killed run had finished no stage: the rerun starts over).
  void ResumeAndCompare(const std::string& out, const std::string& logs,
                        const std::vector<std::string>& done_at_kill, const std::string& ref) {
    std::string first_missing = "manifest";  // always rerun
    for (const auto& s : kStages) {
      if (!Contains(done_at_kill, s)) {
        first_missing = s;
        break;
      }
    }
    ProcessResult r = BuildToCompletion(out, logs);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    if (done_at_kill.empty()) {
      EXPECT_THAT(r.out, ::testing::Not(HasSubstr("resumed"))) << r.out;
    } else {
      EXPECT_THAT(r.out, HasSubstr("(resumed at stage " + first_missing + ")")) << r.out;
    }
    ExpectSameIndex(ref, out);
  }

  void ExpectSameIndex(const std::string& ref, const std::string& got) {
    for (const std::string name : {"postings.dat", "directory", "heads.hnsw"}) {
      const std::vector<uint8_t> a = ReadBytes(ref + "/" + name), b = ReadBytes(got + "/" + name);
      EXPECT_FALSE(a.empty()) << name;
      EXPECT_TRUE(a == b) << got << ": " << name << " differs from the uninterrupted build ("
                          << a.size() << " vs " << b.size() << " bytes)";
    }
    auto ma = ReadManifest(Env::Default(), ref);
    auto mb = ReadManifest(Env::Default(), got);
    ASSERT_TRUE(ma.ok()) << ma.status();
    ASSERT_TRUE(mb.ok()) << mb.status();
    EXPECT_EQ(ma->num_heads, mb->num_heads);
    EXPECT_EQ(ma->total_entries, mb->total_entries);
    EXPECT_EQ(ma->num_vectors, mb->num_vectors);
    EXPECT_EQ(ma->files, mb->files);
    EXPECT_EQ(ma->build_params, mb->build_params);
    auto index = SpannIndex::Open(got);
    EXPECT_TRUE(index.ok()) << index.status();
  }
};

TEST_F(KilledBuildTest, KilledBuildResumesToTheSameIndex) {
  const std::string ref = tmp_.File("ref");
  const auto start = std::chrono::steady_clock::now();
  ProcessResult r = BuildToCompletion(ref, tmp_.File("logs-ref"));
  const int64_t ref_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now() - start)
                             .count();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("built " + ref));
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("resumed")));

  // Killed after each stage in turn, then resumed.
  for (const std::string stage : {"inspect", "clustering", "head_graph", "assignment"}) {
    SCOPED_TRACE("killed after " + stage);
    const std::string out = tmp_.File("after-" + stage);
    const auto done = KillAfterStage(out, tmp_.File("logs-a-" + stage), stage);
    ASSERT_TRUE(Contains(done, stage)) << "the build never finished " << stage;
    ResumeAndCompare(out, tmp_.File("logs-b-" + stage), done, ref);
  }

  // Killed twice in one directory (after clustering, then after assignment
  // in the resumed run), then finished.
  {
    SCOPED_TRACE("killed twice");
    const std::string out = tmp_.File("twice");
    auto done = KillAfterStage(out, tmp_.File("logs-t1"), "clustering");
    ASSERT_TRUE(Contains(done, "clustering"));
    done = KillAfterStage(out, tmp_.File("logs-t2"), "assignment");
    ASSERT_TRUE(Contains(done, "assignment"));
    ResumeAndCompare(out, tmp_.File("logs-t3"), done, ref);
  }

  // Killed after a random delay in each third of the uninterrupted build's
  // run time: anywhere, including before anything was saved (then the rerun
  // starts over) and in the middle of writing a stage's output.
  Rng rng(2024);
  for (int i = 0; i < 3; ++i) {
    const int delay_ms = 5 + static_cast<int>(ref_ms * (i + rng.Uniform()) / 3);
    SCOPED_TRACE("killed after " + std::to_string(delay_ms) + " ms");
    const std::string out = tmp_.File("delay-" + std::to_string(i));
    const auto done = KillAfterDelay(out, tmp_.File("logs-d" + std::to_string(i)), delay_ms);
    std::string joined;
    for (const auto& d : done) joined += d + " ";
    std::printf("killed after %d ms with stages done: %s\n", delay_ms, joined.c_str());
    ResumeAndCompare(out, tmp_.File("logs-e" + std::to_string(i)), done, ref);
  }

  // A finished index rebuilt with the same command: nothing but the
  // manifest is redone, and it is the same index.
  const std::string again = tmp_.File("again");
  fs::copy(ref, again, fs::copy_options::recursive);
  ResumeAndCompare(again, tmp_.File("logs-again"), kStages, ref);
}

TEST_F(KilledBuildTest, ChangedOptionsStartOver) {
  // A partial build with other options is not resumed.
  const std::string out = tmp_.File("changed");
  const auto done = KillAfterStage(out, tmp_.File("logs-1"), "head_graph");
  ASSERT_TRUE(Contains(done, "head_graph"));
  fs::create_directories(tmp_.File("logs-2"));
  std::vector<std::string> args = Args(out);
  args.insert(args.end(), {"--seed", "9"});
  BuildProcess p(args, tmp_.File("logs-2"));
  ProcessResult r = p.Wait();
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, ::testing::Not(HasSubstr("resumed"))) << r.out;
  EXPECT_THAT(r.err, HasSubstr("starting over")) << r.err;
  auto index = SpannIndex::Open(out);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->manifest().build_params.value("seed", 0), 9);
}

// ---- Bad input ----------------------------------------------------------

TEST_F(SpannDataTest, TruncatedInputIsAClearError) {
  const std::string input = tmp_.File("short.fbin");
  std::vector<uint8_t> bytes = ReadBytes(S().base_path);
  WriteBytes(input, bytes.data(), bytes.size() - 37);
  SpannBuildOptions bo;
  bo.progress = false;
  bo.threads = 1;
  auto report = BuildSpannIndex(input, tmp_.File("index"), bo);
  ASSERT_FALSE(report.ok());
  EXPECT_THAT(std::string(report.status().message()), HasSubstr(input));
  EXPECT_FALSE(fs::exists(tmp_.File("index/manifest")));

  auto missing = BuildSpannIndex(tmp_.File("none.fbin"), tmp_.File("index2"), bo);
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(std::string(missing.status().message()), HasSubstr(tmp_.File("none.fbin")));

  // The CLI exits 1 and says the same.
  fs::create_directories(tmp_.File("logs"));
  BuildProcess p({"--input", input, "--out", tmp_.File("index3"), "--quiet"}, tmp_.File("logs"));
  ProcessResult r = p.Wait();
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("cairn build:"));
  EXPECT_THAT(r.err, HasSubstr(input));
}

TEST_F(SpannDataTest, BadOptionsAreRejected) {
  SpannBuildOptions bo;
  bo.progress = false;
  bo.replicas = 0;
  auto r = BuildSpannIndex(S().base_path, tmp_.File("i1"), bo);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  bo = {};
  bo.candidates = 2;  // < replicas
  EXPECT_FALSE(bo.Validate().ok());
  bo = {};
  bo.head_ratio = 0;
  EXPECT_FALSE(bo.Validate().ok());
  bo = {};
  bo.memory_budget_bytes = 1 << 20;
  EXPECT_FALSE(bo.Validate().ok());
  EXPECT_TRUE(SpannBuildOptions().Validate().ok());

  fs::create_directories(tmp_.File("logs"));
  BuildProcess p(
      {"--input", S().base_path, "--out", tmp_.File("i2"), "--metric", "manhattan", "--quiet"},
      tmp_.File("logs"));
  ProcessResult run = p.Wait();
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_THAT(run.err, HasSubstr("cairn build:"));
  EXPECT_FALSE(fs::exists(tmp_.File("i2/manifest")));
}

// Indexes and scripts from before the rename say "nearest" for member
// heads; the manifest keeps writing it.
TEST(HeadTypeTest, ParsesTheOldNameAndWritesItToTheManifest) {
  EXPECT_EQ(*ParseHeadType("member"), HeadType::kMember);
  EXPECT_EQ(*ParseHeadType("nearest"), HeadType::kMember);
  EXPECT_EQ(*ParseHeadType("centroid"), HeadType::kCentroid);
  EXPECT_EQ(ParseHeadType("medoid").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_STREQ(HeadTypeManifestName(HeadType::kMember), "nearest");
  EXPECT_STREQ(HeadTypeManifestName(HeadType::kCentroid), "centroid");
  SpannBuildOptions bo;
  bo.codes = CodeFamily::kRabitq;
  EXPECT_EQ(bo.ToJson()["head_type"], "nearest");
  EXPECT_EQ(bo.ToJson()["codes"], "rabitq");
}

}  // namespace
}  // namespace cairn
