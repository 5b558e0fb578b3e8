// The resume state of `cairn import` (cli/import_state.h): round trip, and
// every kind of damage refused rather than trusted.
#include "cli/import_state.h"

#include <gtest/gtest.h>

#include <fstream>

#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::ReadBytes;
using ::cairn::testing::TempDir;
using ::cairn::testing::WriteBytes;

TEST(ImportStateTest, RoundTrip) {
  TempDir dir;
  const std::string path = dir.File("s.state");
  ImportState s(0xabcdef, 64, 21, 7);
  s.Ack(0, 64, 0);
  s.Ack(20, 30, 2);
  s.Ack(20, 30, 2);  // a repeat counts once
  s.Ack(21, 1, 1);   // out of range: ignored
  ASSERT_TRUE(s.Save(path).ok());
  absl::StatusOr<ImportState> back = ImportState::Load(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->Matches(0xabcdef, 64, 21));
  EXPECT_FALSE(back->Matches(0xabcdef, 32, 21));
  EXPECT_FALSE(back->Matches(1, 64, 21));
  EXPECT_EQ(back->points_before(), 7u);
  for (uint64_t b = 0; b < 21; ++b) EXPECT_EQ(back->Acked(b), b == 0 || b == 20) << b;
  const ImportProgressTotals t = back->Totals();
  EXPECT_EQ(t.acked_batches, 2u);
  EXPECT_EQ(t.acked_points, 94u);
  EXPECT_EQ(t.acked_bad_lines, 2u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(ImportStateTest, DamageIsDataLoss) {
  TempDir dir;
  const std::string path = dir.File("s.state");
  EXPECT_TRUE(absl::IsNotFound(ImportState::Load(path).status()));
  ImportState s(1, 16, 100, 0);
  s.Ack(5, 16, 0);
  ASSERT_TRUE(s.Save(path).ok());
  const std::vector<uint8_t> good = ReadBytes(path);
  for (size_t i = 0; i < good.size(); ++i) {
    std::vector<uint8_t> bad = good;
    bad[i] ^= 0x40;
    WriteBytes(path, bad.data(), bad.size());
    EXPECT_TRUE(absl::IsDataLoss(ImportState::Load(path).status())) << "byte " << i;
  }
  for (size_t n : {size_t{0}, size_t{10}, good.size() - 1}) {
    WriteBytes(path, good.data(), n);
    EXPECT_TRUE(absl::IsDataLoss(ImportState::Load(path).status())) << n << " bytes";
  }
  std::vector<uint8_t> longer = good;
  longer.push_back(0);
  WriteBytes(path, longer.data(), longer.size());
  EXPECT_TRUE(absl::IsDataLoss(ImportState::Load(path).status()));
}

TEST(ImportStateTest, FingerprintFollowsTheInputs) {
  TempDir dir;
  const std::string a = dir.File("a.jsonl");
  std::ofstream(a) << "{}\n";
  auto f1 = ImportJobFingerprint({a}, "c", 256);
  ASSERT_TRUE(f1.ok());
  EXPECT_EQ(*f1, *ImportJobFingerprint({a}, "c", 256));
  EXPECT_NE(*f1, *ImportJobFingerprint({a}, "d", 256));
  EXPECT_NE(*f1, *ImportJobFingerprint({a}, "c", 128));
  std::ofstream(a, std::ios::app) << "{}\n";
  EXPECT_NE(*f1, *ImportJobFingerprint({a}, "c", 256));
  EXPECT_TRUE(absl::IsNotFound(ImportJobFingerprint({dir.File("none")}, "c", 1).status()));
}

}  // namespace
}  // namespace cairn
