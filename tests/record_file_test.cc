#include "storage/record_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/random.h"
#include "storage/checksum.h"
#include "storage/fault_injection_env.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::ReadBytes;
using ::cairn::testing::TempDir;
using ::cairn::testing::WriteBytes;
using ::testing::HasSubstr;

constexpr char kMagic[] = "CAIRNTST";

std::string RandomBody(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::string body(n, '\0');
  for (auto& c : body) c = static_cast<char>(rng.Next());
  return body;
}

TEST(RecordFileTest, RoundTrip) {
  TempDir dir;
  Env* env = Env::Default();
  for (size_t size : {0, 1, 31, 32, 100000}) {
    const std::string path = dir.File("r" + std::to_string(size));
    const std::string body = RandomBody(size, size);
    ASSERT_TRUE(WriteRecordFile(env, path, kMagic, 3, body).ok());
    EXPECT_FALSE(env->FileExists(path + ".tmp"));
    EXPECT_EQ(*env->FileSize(path), kRecordFileHeaderBytes + size);
    uint32_t version = 0;
    auto got = ReadRecordFile(env, path, kMagic, 5, &version);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, body);
    EXPECT_EQ(version, 3u);
    EXPECT_TRUE(ReadRecordFile(env, path, kMagic, 3, nullptr).ok());
  }
}

TEST(RecordFileTest, ReplacesAnExistingFile) {
  TempDir dir;
  const std::string path = dir.File("m");
  ASSERT_TRUE(WriteRecordFile(Env::Default(), path, kMagic, 1, "first").ok());
  ASSERT_TRUE(WriteRecordFile(Env::Default(), path, kMagic, 1, "second").ok());
  EXPECT_EQ(*ReadRecordFile(Env::Default(), path, kMagic, 1, nullptr),
            "second");
}

TEST(RecordFileTest, MissingFileIsNotFound) {
  TempDir dir;
  auto got =
      ReadRecordFile(Env::Default(), dir.File("nope"), kMagic, 1, nullptr);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound);
}

TEST(RecordFileTest, VersionZeroIsNotWritable) {
  TempDir dir;
  EXPECT_EQ(
      WriteRecordFile(Env::Default(), dir.File("m"), kMagic, 0, "").code(),
      absl::StatusCode::kInvalidArgument);
}

class RecordCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("manifest");
    body_ = RandomBody(5000, 1);
    ASSERT_TRUE(WriteRecordFile(Env::Default(), path_, kMagic, 1, body_).ok());
    bytes_ = ReadBytes(path_);
  }
  void Rewrite(const std::vector<uint8_t>& bytes) {
    WriteBytes(path_, bytes.data(), bytes.size());
  }
  absl::Status Read() {
    return ReadRecordFile(Env::Default(), path_, kMagic, 1, nullptr).status();
  }
  void ExpectDataLoss(const std::string& what, const std::string& detail = "") {
    absl::Status s = Read();
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << what << ": " << s;
    EXPECT_THAT(s.message(), HasSubstr(path_)) << what;
    if (!detail.empty()) {
      EXPECT_THAT(s.message(), HasSubstr(detail)) << what;
    }
  }

  TempDir dir_;
  std::string path_;
  std::string body_;
  std::vector<uint8_t> bytes_;
};

TEST_F(RecordCorruptionTest, FlippedByteAnywhereInTheHeader) {
  for (size_t i = 0; i < kRecordFileHeaderBytes; ++i) {
    for (uint8_t mask : {0x01, 0x80}) {
      std::vector<uint8_t> b = bytes_;
      b[i] ^= mask;
      Rewrite(b);
      ExpectDataLoss("header byte " + std::to_string(i));
    }
  }
}

TEST_F(RecordCorruptionTest, FlippedBodyByteFailsTheChecksum) {
  for (size_t i : {size_t{0}, size_t{2500}, body_.size() - 1}) {
    std::vector<uint8_t> b = bytes_;
    b[kRecordFileHeaderBytes + i] ^= 0x10;
    Rewrite(b);
    ExpectDataLoss("body byte " + std::to_string(i), "checksum");
  }
}

TEST_F(RecordCorruptionTest, Truncated) {
  for (size_t size : {bytes_.size() - 1, size_t{kRecordFileHeaderBytes},
                      size_t{kRecordFileHeaderBytes - 1}, size_t{0}}) {
    Rewrite(std::vector<uint8_t>(bytes_.begin(), bytes_.begin() + size));
    ExpectDataLoss("truncated to " + std::to_string(size), "truncated");
  }
}

TEST_F(RecordCorruptionTest, TrailingBytes) {
  std::vector<uint8_t> b = bytes_;
  b.push_back(0);
  Rewrite(b);
  ExpectDataLoss("trailing byte", "trailing");
}

TEST_F(RecordCorruptionTest, WrongMagic) {
  auto got = ReadRecordFile(Env::Default(), path_, "CAIRNDIR", 1, nullptr);
  EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(got.status().message(), HasSubstr(path_));
  EXPECT_THAT(got.status().message(), HasSubstr("magic"));
}

TEST_F(RecordCorruptionTest, FutureVersion) {
  ASSERT_TRUE(WriteRecordFile(Env::Default(), path_, kMagic, 2, body_).ok());
  ExpectDataLoss("version 2 read by a version-1 build", "version 2");
}

// A failure at any operation leaves the previous manifest or the new one.
TEST(RecordFaultTest, EveryFailurePointLeavesOldOrNew) {
  const std::string old_body = "old";
  const std::string new_body = RandomBody(70000, 2);
  for (uint64_t k = 1; k <= 7; ++k) {
    for (bool sticky : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "k=" << k << " sticky=" << sticky);
      TempDir dir;
      const std::string path = dir.File("m");
      ASSERT_TRUE(
          WriteRecordFile(Env::Default(), path, kMagic, 1, old_body).ok());
      FaultInjectionEnv env(Env::Default());
      env.set_partial_appends(true);
      if (sticky) {
        env.FailFrom(k);
      } else {
        env.FailNth(k);
      }
      absl::Status s = WriteRecordFile(&env, path, kMagic, 1, new_body);
      EXPECT_EQ(s.ok(), k > 6) << s;
      ASSERT_TRUE(env.DropUnsyncedData().ok());
      auto got = ReadRecordFile(Env::Default(), path, kMagic, 1, nullptr);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_TRUE(*got == old_body || *got == new_body);
      EXPECT_EQ(*got == new_body, k > 5);  // op 5 is the rename
    }
  }
}

}  // namespace
}  // namespace cairn
