// `cairn bench soak` for a few seconds against a real `cairn serve` child
// process: every operation ran, nothing failed, the server's count matches
// the acknowledged writes and every sampled point is found. No timings.
#include "bench/soak_bench.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

#include "bench/process_sampler.h"
#include "bench/soak_check.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::DiskTempDir;
using ::cairn::testing::ServeProcess;
using ::testing::HasSubstr;

SoakOptions ShortRun(const std::string& url) {
  SoakOptions o;
  o.url = url;
  o.duration_seconds = 4;
  o.sample_seconds = 1;
  o.connections = 3;
  o.dim = 16;
  o.ids_per_connection = 400;
  o.upsert_batch = 16;
  o.collection = "soak_test";
  return o;
}

void ExpectClean(const SoakReport& r) {
  for (int i = 0; i < kSoakOps; ++i) {
    const SoakOpStats& s = r.ops[i];
    const char* name = SoakOpName(static_cast<SoakOp>(i));
    EXPECT_GT(s.requests, 0u) << name;
    EXPECT_EQ(s.errors_4xx, 0u) << name;
    EXPECT_EQ(s.errors_5xx, 0u) << name;
    EXPECT_EQ(s.errors_transport, 0u) << name;
    EXPECT_GT(s.latency_ms.p50, 0.0) << name;
    EXPECT_LE(s.latency_ms.p50, s.latency_ms.p99) << name;
  }
  const SoakConsistency& c = r.consistency;
  EXPECT_TRUE(c.count_ok) << c.points_count << " vs " << c.expected_min << ".." << c.expected_max;
  EXPECT_EQ(c.expected_min, c.expected_max);  // no write of unknown outcome
  EXPECT_EQ(c.points_count, static_cast<int64_t>(c.expected_min));
  EXPECT_GT(c.sampled, 0u);
  EXPECT_EQ(c.top_hits, c.sampled);
  EXPECT_EQ(c.retrieve_mismatches, 0u);
  EXPECT_TRUE(r.first_errors.empty()) << r.first_errors.front();
  EXPECT_TRUE(r.passed()) << r.failures.front();
}

TEST(SoakBenchTest, MixedLoadAgainstCairnServeIsConsistent) {
  DiskTempDir dir;
  ServeProcess server(dir.File("data"));
  ASSERT_TRUE(server.ok()) << server.Log();
  std::ostringstream progress;
  absl::StatusOr<SoakReport> report = RunSoakBench(ShortRun(server.url()), progress);
  ASSERT_TRUE(report.ok()) << report.status();
  ExpectClean(*report);
  // The server process was found from the URL's port and sampled.
  EXPECT_EQ(report->pid, server.pid());
  ASSERT_GE(report->samples.size(), 2u);
  EXPECT_GT(report->rss_start, 0);
  EXPECT_GT(report->rss_warm, 0);
  EXPECT_GT(report->rss_end, 0);
  EXPECT_GT(report->samples.back().open_fds, 0);
  EXPECT_THAT(progress.str(), HasSubstr("created collection soak_test"));
  EXPECT_THAT(progress.str(), HasSubstr("rss"));

  const nlohmann::json j = SoakReportJson(*report);
  EXPECT_TRUE(j["passed"].get<bool>());
  EXPECT_GT(j["operations"]["filtered_search"]["requests"].get<uint64_t>(), 0u);
  EXPECT_TRUE(j["operations"]["scroll"]["latency_ms"].contains("p999"));
  EXPECT_EQ(j["consistency"]["top_hits"], j["consistency"]["sampled"]);
  EXPECT_TRUE(j["rss"].contains("growth_after_warmup_pct"));
  std::ostringstream printed;
  PrintSoakReport(*report, printed);
  EXPECT_THAT(printed.str(), HasSubstr("PASSED"));
}

TEST(SoakBenchTest, ReusesTheCollectionAndStaysConsistent) {
  DiskTempDir dir;
  ServeProcess server(dir.File("data"));
  ASSERT_TRUE(server.ok()) << server.Log();
  SoakOptions o = ShortRun(server.url());
  o.duration_seconds = 2;
  std::ostringstream progress;
  absl::StatusOr<SoakReport> first = RunSoakBench(o, progress);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->passed()) << first->failures.front();
  // Points outside the soak's ids are counted as a baseline; its own ids
  // are deleted first, so the second run knows every live point.
  auto conn = client::HttpConnection::Create(server.url());
  ASSERT_TRUE(conn.ok());
  ASSERT_TRUE(SoakCall(**conn, "PUT", "/collections/soak_test/points?wait=true",
                       R"({"points":[{"id":999999,"vector":[1,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0]}]})")
                  .ok());
  o.seed = 2;
  absl::StatusOr<SoakReport> second = RunSoakBench(o, progress);
  ASSERT_TRUE(second.ok()) << second.status();
  ExpectClean(*second);
  EXPECT_THAT(progress.str(), HasSubstr("reusing collection soak_test"));
  EXPECT_THAT(progress.str(), HasSubstr("1 other points"));

  o.dim = 8;  // the collection has 16
  absl::StatusOr<SoakReport> wrong = RunSoakBench(o, progress);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(SoakBenchTest, FindsTheServerByItsPort) {
  DiskTempDir dir;
  ServeProcess server(dir.File("data"));
  ASSERT_TRUE(server.ok()) << server.Log();
  absl::StatusOr<int64_t> pid = FindListeningPid(static_cast<uint16_t>(server.port()));
  ASSERT_TRUE(pid.ok()) << pid.status();
  EXPECT_EQ(*pid, server.pid());
  absl::StatusOr<ProcessSample> s = SampleProcess(*pid);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_GT(s->rss_bytes, 0);
  EXPECT_GT(s->open_fds, 2);
}

TEST(SoakBenchTest, ValidateRejectsBadOptions) {
  SoakOptions o = ShortRun("http://127.0.0.1:1");
  EXPECT_TRUE(o.Validate().ok());
  auto bad = [&](auto change) {
    SoakOptions x = o;
    change(x);
    return x.Validate().code() == absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(bad([](SoakOptions& x) { x.url = "https://h:1"; }));
  EXPECT_TRUE(bad([](SoakOptions& x) { x.connections = 0; }));
  EXPECT_TRUE(bad([](SoakOptions& x) { x.duration_seconds = 0, x.minutes = 0; }));
  EXPECT_TRUE(bad([](SoakOptions& x) { x.dim = 0; }));
  EXPECT_TRUE(bad([](SoakOptions& x) { x.collection = "a/b"; }));
  EXPECT_TRUE(bad([](SoakOptions& x) { x.ids_per_connection = 10; }));
  EXPECT_TRUE(bad([](SoakOptions& x) { x.pid = -3; }));
}

TEST(SoakBenchTest, JudgeFailsOnServerErrorsAndInconsistency) {
  SoakReport r;
  r.consistency.count_ok = true;
  r.consistency.sampled = r.consistency.top_hits = 5;
  JudgeSoak(&r);
  EXPECT_TRUE(r.passed());

  SoakReport e = r;
  e.ops[static_cast<int>(SoakOp::kSearch)].errors_5xx = 1;
  e.ops[static_cast<int>(SoakOp::kUpsert)].errors_transport = 2;
  e.ops[static_cast<int>(SoakOp::kDelete)].errors_4xx = 3;  // a client error alone passes
  JudgeSoak(&e);
  ASSERT_EQ(e.failures.size(), 2u);
  EXPECT_THAT(e.failures[0], HasSubstr("1 requests answered with a server error"));
  EXPECT_THAT(e.failures[1], HasSubstr("2 requests got no usable answer"));

  SoakReport c = r;
  c.consistency.count_ok = false;
  c.consistency.points_count = 9;
  c.consistency.expected_min = c.consistency.expected_max = 10;
  c.consistency.top_hits = 4;
  c.consistency.retrieve_mismatches = 1;
  JudgeSoak(&c);
  ASSERT_EQ(c.failures.size(), 3u);
  EXPECT_THAT(c.failures[0], HasSubstr("points_count is 9, expected 10"));
  EXPECT_THAT(c.failures[1], HasSubstr("1 of 5 sampled"));
  EXPECT_THAT(c.failures[2], HasSubstr("1 retrieves disagreed"));
}

}  // namespace
}  // namespace cairn
