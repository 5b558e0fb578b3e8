// `cairn bench io-cost` (bench/io_cost_bench.h): the least-squares fit is
// exact on exact lines and refuses degenerate input; a run on a real file
// reports one row per read size and a positive per-KiB cost; bad arguments
// are errors, not crashes.
#include "bench/io_cost_bench.h"

#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::DiskTempDir;

TEST(IoCostBenchTest, FitLineRecoversAnExactLine) {
  auto f = FitLine({32, 128, 512, 64}, {100 + 0.5 * 32, 100 + 0.5 * 128, 100 + 0.5 * 512,
                                        100 + 0.5 * 64});
  ASSERT_TRUE(f.ok()) << f.status();
  EXPECT_NEAR(f->fixed, 100, 1e-9);
  EXPECT_NEAR(f->per_unit, 0.5, 1e-12);
}

TEST(IoCostBenchTest, FitLineRefusesDegenerateInput) {
  EXPECT_FALSE(FitLine({1}, {2}).ok());
  EXPECT_FALSE(FitLine({3, 3, 3}, {1, 2, 3}).ok());
  EXPECT_FALSE(FitLine({1, 2}, {1}).ok());
}

std::string WriteFile(DiskTempDir& tmp, size_t bytes) {
  const std::string path = tmp.File("data.bin");
  std::ofstream f(path, std::ios::binary);
  std::vector<char> block(1 << 16);
  for (size_t i = 0; i < block.size(); ++i) block[i] = static_cast<char>(i * 131);
  for (size_t done = 0; done < bytes; done += block.size()) {
    f.write(block.data(), static_cast<std::streamsize>(std::min(block.size(), bytes - done)));
  }
  return path;
}

TEST(IoCostBenchTest, MeasuresEverySizeOnARealFile) {
  DiskTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  IoCostOptions a;
  a.file = WriteFile(tmp, 8 << 20);
  a.sizes_kib = {4, 16, 64};
  a.batch = 4;
  a.batches = 50;
  a.json = tmp.File("io.json");
  ASSERT_TRUE(RunIoCostBench(a).ok());
  std::ifstream in(a.json);
  nlohmann::json j = nlohmann::json::parse(in);
  ASSERT_EQ(j["rows"].size(), 3u);
  for (const auto& row : j["rows"]) EXPECT_GT(row["mean_us"].get<double>(), 0);
  EXPECT_EQ(j["rows"][2]["kib_per_batch"].get<double>(), 256);
  EXPECT_EQ(j["reads_per_batch"].get<int>(), 4);
  EXPECT_TRUE(j.contains("fixed_us_per_batch"));
  EXPECT_TRUE(j.contains("us_per_kib"));
  EXPECT_TRUE(j.contains("batch_cost_kib"));
}

TEST(IoCostBenchTest, RefusesBadArguments) {
  DiskTempDir tmp;
  ASSERT_TRUE(tmp.ok());
  IoCostOptions a;
  a.file = WriteFile(tmp, 1 << 20);
  a.batches = 5;
  IoCostOptions one_size = a;
  one_size.sizes_kib = {4};
  EXPECT_EQ(RunIoCostBench(one_size).code(), absl::StatusCode::kInvalidArgument);
  IoCostOptions odd = a;
  odd.sizes_kib = {4, 6};
  EXPECT_EQ(RunIoCostBench(odd).code(), absl::StatusCode::kInvalidArgument);
  IoCostOptions huge = a;
  huge.sizes_kib = {4, 512};  // 1 MiB file: fewer than 4 reads of 512 KiB
  EXPECT_EQ(RunIoCostBench(huge).code(), absl::StatusCode::kInvalidArgument);
  IoCostOptions no_batch = a;
  no_batch.batch = 0;
  EXPECT_EQ(RunIoCostBench(no_batch).code(), absl::StatusCode::kInvalidArgument);
  IoCostOptions missing = a;
  missing.file = tmp.File("absent");
  EXPECT_EQ(RunIoCostBench(missing).code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace cairn
