// Runs the real `cairn` binary: exit codes and messages a user sees.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

#include "common/random.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::TempDir;
using ::testing::HasSubstr;

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

Result RunCairn(const std::string& args) {
  std::string cmd = std::string(CAIRN_BINARY_PATH) + " " + args + " 2>&1";
  Result r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

FloatMatrix Random(uint64_t rows, uint32_t dim, uint64_t seed) {
  FloatMatrix m;
  m.rows = rows;
  m.dim = dim;
  m.data.resize(rows * dim);
  Rng rng(seed);
  for (auto& v : m.data) v = static_cast<float>(rng.Gaussian());
  return m;
}

TEST(CliTest, NoSubcommandIsAnError) {
  Result r = RunCairn("");
  EXPECT_NE(r.exit_code, 0);
  Result bogus = RunCairn("frobnicate");
  EXPECT_NE(bogus.exit_code, 0);
}

TEST(CliTest, InfoOnTruncatedFileFailsWithAClearMessage) {
  TempDir dir;
  const std::string path = dir.File("v.fbin");
  ASSERT_TRUE(WriteFloatMatrix(path, Random(10, 4, 1)).ok());
  auto bytes = cairn::testing::ReadBytes(path);
  cairn::testing::WriteBytes(path, bytes.data(), bytes.size() - 5);
  Result r = RunCairn("dataset info " + path);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.output, HasSubstr("cairn dataset info:"));
  EXPECT_THAT(r.output, HasSubstr(path));
  EXPECT_THAT(r.output, HasSubstr("truncated at record 9"));

  ASSERT_TRUE(WriteFloatMatrix(path, Random(10, 4, 1)).ok());
  Result ok = RunCairn("dataset info " + path);
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("10 vectors x 4 dims"));
}

TEST(CliTest, GtWritesTheSameAsTheLibrary) {
  TempDir dir;
  ASSERT_TRUE(WriteFloatMatrix(dir.File("b.fbin"), Random(500, 8, 2)).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("q.fbin"), Random(7, 8, 3)).ok());
  Result r = RunCairn("gt --base " + dir.File("b.fbin") + " --queries " + dir.File("q.fbin") +
                 " --k 5 --metric ip --quiet --out " + dir.File("gt.ibin"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto from_cli = ReadGroundTruth(dir.File("gt.ibin"));
  ASSERT_TRUE(from_cli.ok());
  GroundTruthOptions o;
  o.k = 5;
  o.metric = Metric::kInnerProduct;
  o.progress = false;
  auto direct = ComputeGroundTruth(dir.File("b.fbin"), dir.File("q.fbin"), o);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(from_cli->ids, direct->ids);
}

TEST(CliTest, SearchJsonHasTheKeysScriptsDependOn) {
  TempDir dir;
  ASSERT_TRUE(WriteFloatMatrix(dir.File("b.fbin"), Random(3000, 16, 4)).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("q.fbin"), Random(20, 16, 5)).ok());
  Result gt = RunCairn("gt --base " + dir.File("b.fbin") + " --queries " + dir.File("q.fbin") +
                       " --k 100 --metric l2 --quiet --out " + dir.File("gt.ibin"));
  ASSERT_EQ(gt.exit_code, 0) << gt.output;
  Result build = RunCairn("build --input " + dir.File("b.fbin") + " --metric l2 --quiet --out " +
                          dir.File("index"));
  ASSERT_EQ(build.exit_code, 0) << build.output;
  Result search = RunCairn("search --index " + dir.File("index") + " --queries " +
                           dir.File("q.fbin") + " --gt " + dir.File("gt.ibin") +
                           " --k 10 --max-postings 4 --json " + dir.File("report.json"));
  ASSERT_EQ(search.exit_code, 0) << search.output;
  EXPECT_THAT(search.output, HasSubstr("recall@10"));
  const auto bytes = cairn::testing::ReadBytes(dir.File("report.json"));
  const nlohmann::json j = nlohmann::json::parse(bytes.begin(), bytes.end(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << std::string(bytes.begin(), bytes.end());
  // The keys issue 3 names for scripts, with numbers in range.
  for (const char* key :
       {"recall_at_1", "recall_at_10", "recall_at_100", "qps", "mean_latency_ms",
        "p50_latency_ms", "p99_latency_ms", "p999_latency_ms", "postings_read_per_query",
        "kib_read_per_query", "pages_read_per_query", "ram_bytes_per_vector",
        "ssd_bytes_per_vector"}) {
    ASSERT_TRUE(j.contains(key) && j[key].is_number()) << key << " in " << j.dump();
    EXPECT_GE(j[key].get<double>(), 0.0) << key;
  }
  for (const char* key : {"recall_at_1", "recall_at_10", "recall_at_100"}) {
    EXPECT_LE(j[key].get<double>(), 1.0) << key;
  }
  EXPECT_EQ(j["postings_read_per_query"].get<double>(), 4.0);
  EXPECT_GT(j["ram_bytes_per_vector"].get<double>(), 0.0);
  EXPECT_EQ(j["threads"].get<int>(), 1);
  ASSERT_TRUE(j["params"].is_object());
  EXPECT_EQ(j["params"]["max_postings"].get<int>(), 4);
  EXPECT_EQ(j["params"]["k"].get<int>(), 10);
}

TEST(CliTest, GtRejectsBadInput) {
  TempDir dir;
  ASSERT_TRUE(WriteFloatMatrix(dir.File("b.fbin"), Random(50, 8, 2)).ok());
  ASSERT_TRUE(WriteFloatMatrix(dir.File("q.fbin"), Random(7, 9, 3)).ok());
  Result dims = RunCairn("gt --base " + dir.File("b.fbin") + " --queries " + dir.File("q.fbin") +
                    " --quiet --out " + dir.File("gt.ibin"));
  EXPECT_EQ(dims.exit_code, 1);
  EXPECT_THAT(dims.output, HasSubstr("dimension 9"));
  Result metric = RunCairn("gt --base " + dir.File("b.fbin") + " --queries " + dir.File("b.fbin") +
                      " --metric manhattan --out " + dir.File("gt.ibin"));
  EXPECT_EQ(metric.exit_code, 1);
  EXPECT_THAT(metric.output, HasSubstr("unknown metric"));
  Result missing = RunCairn("gt --base /nonexistent.fbin --queries " + dir.File("q.fbin") +
                       " --out " + dir.File("gt.ibin"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("/nonexistent.fbin"));
}

TEST(CliTest, SynthThenSkipsWhenComplete) {
  TempDir dir;
  const std::string args = "dataset synth --n 3000 --dim 8 --queries 10 --clusters 5 --gt-k 10 "
                           "--quiet --out " + dir.path();
  Result first = RunCairn(args);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  auto gt = ReadGroundTruth(dir.File("gt.ibin"));
  ASSERT_TRUE(gt.ok());
  EXPECT_EQ(gt->num_queries, 10u);
  Result second = RunCairn(args);
  EXPECT_EQ(second.exit_code, 0);
  EXPECT_THAT(second.output, HasSubstr("already complete"));
  Result bad = RunCairn("dataset synth --n 0 --out " + dir.path());
  EXPECT_NE(bad.exit_code, 0);
}

}  // namespace
}  // namespace cairn
