#include "datasets/vector_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>

#include "common/random.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::Put;
using ::cairn::testing::TempDir;
using ::cairn::testing::WriteBytes;
using ::testing::HasSubstr;

FloatMatrix RandomRows(uint64_t rows, uint32_t dim, ElementType type, uint64_t seed) {
  FloatMatrix m;
  m.rows = rows;
  m.dim = dim;
  m.data.resize(rows * dim);
  Rng rng(seed);
  for (auto& v : m.data) {
    switch (type) {
      case ElementType::kFloat32: v = static_cast<float>(rng.Gaussian() * 100); break;
      case ElementType::kUInt8: v = static_cast<float>(rng.Below(256)); break;
      case ElementType::kInt8: v = static_cast<float>(static_cast<int>(rng.Below(256)) - 128); break;
      case ElementType::kInt32: v = static_cast<float>(static_cast<int>(rng.Below(2000001)) - 1000000); break;
    }
  }
  return m;
}

class RoundTripTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RoundTripTest, WritesAndReadsBackInChunks) {
  TempDir dir;
  const std::string path = dir.File(std::string("v.") + GetParam());
  auto format = FormatFromPath(path);
  ASSERT_TRUE(format.ok()) << format.status();
  const ElementType type = ElementTypeOf(*format);
  const FloatMatrix m = RandomRows(1001, 13, type, 7);
  ASSERT_TRUE(WriteFloatMatrix(path, m).ok());
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  auto reader = VectorReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->info().num_vectors, 1001u);
  EXPECT_EQ((*reader)->info().dim, 13u);
  std::vector<float> got(1001 * 13);
  size_t done = 0;
  while (true) {
    auto n = (*reader)->ReadFloat(7, got.data() + done * 13);  // odd chunk size
    ASSERT_TRUE(n.ok()) << n.status();
    if (*n == 0) break;
    done += *n;
  }
  EXPECT_EQ(done, 1001u);
  EXPECT_EQ(got, m.data);

  // Seek, then raw read in the file's own type.
  ASSERT_TRUE((*reader)->Seek(500).ok());
  std::vector<uint8_t> raw(13 * ElementSize(type));
  auto n = (*reader)->ReadRaw(1, raw.data());
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 1u);
  for (int d = 0; d < 13; ++d) {
    float expected = m.row(500)[d];
    float actual = 0;
    switch (type) {
      case ElementType::kFloat32: actual = reinterpret_cast<float*>(raw.data())[d]; break;
      case ElementType::kInt32: actual = static_cast<float>(reinterpret_cast<int32_t*>(raw.data())[d]); break;
      case ElementType::kUInt8: actual = raw[d]; break;
      case ElementType::kInt8: actual = static_cast<int8_t>(raw[d]); break;
    }
    EXPECT_EQ(actual, expected);
  }

  auto partial = ReadFloatMatrix(path, 990, 100);
  ASSERT_TRUE(partial.ok());
  EXPECT_EQ(partial->rows, 11u);
  EXPECT_EQ(partial->data[0], m.row(990)[0]);
}

INSTANTIATE_TEST_SUITE_P(AllFormats, RoundTripTest,
                         ::testing::Values("fvecs", "ivecs", "bvecs", "fbin", "u8bin", "i8bin"));

// --- malformed inputs: each error names the file and, where there is one, the record.

absl::Status OpenAndReadAll(const std::string& path) {
  auto reader = VectorReader::Open(path);
  if (!reader.ok()) return reader.status();
  std::vector<float> buf(64 * (*reader)->info().dim);
  while (true) {
    auto n = (*reader)->ReadFloat(64, buf.data());
    if (!n.ok()) return n.status();
    if (*n == 0) return absl::OkStatus();
  }
}

TEST(VectorFileMalformed, EmptyFile) {
  TempDir dir;
  for (const char* ext : {"fbin", "fvecs"}) {
    std::string path = dir.File(std::string("e.") + ext);
    WriteBytes(path, "", 0);
    absl::Status s = OpenAndReadAll(path);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr(path));
    EXPECT_THAT(s.message(), HasSubstr("empty"));
  }
}

TEST(VectorFileMalformed, MissingFile) {
  absl::Status s = OpenAndReadAll("/nonexistent/dir/x.fbin");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.message(), HasSubstr("/nonexistent/dir/x.fbin"));
}

TEST(VectorFileMalformed, UnknownExtension) {
  EXPECT_EQ(VectorReader::Open("/tmp/x.csv").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(VectorFileMalformed, ShortBinHeader) {
  TempDir dir;
  std::string path = dir.File("h.fbin");
  WriteBytes(path, "\x01\x00\x00", 3);
  absl::Status s = OpenAndReadAll(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("truncated header"));
}

TEST(VectorFileMalformed, BadBinHeaderValues) {
  TempDir dir;
  for (auto [n, d] : std::vector<std::pair<int32_t, int32_t>>{{-1, 4}, {1, 0}, {1, -3}, {1, 1 << 30}}) {
    std::vector<uint8_t> bytes;
    Put(bytes, n);
    Put(bytes, d);
    std::string path = dir.File("b.fbin");
    WriteBytes(path, bytes.data(), bytes.size());
    absl::Status s = OpenAndReadAll(path);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n << " " << d;
    EXPECT_THAT(s.message(), HasSubstr("invalid header"));
  }
}

TEST(VectorFileMalformed, TruncatedBinData) {
  TempDir dir;
  std::vector<uint8_t> bytes;
  Put<int32_t>(bytes, 10);
  Put<int32_t>(bytes, 4);
  for (int i = 0; i < 4 * 7 + 2; ++i) Put<float>(bytes, 1.0f);  // 7.5 records of 10
  std::string path = dir.File("t.fbin");
  WriteBytes(path, bytes.data(), bytes.size());
  absl::Status s = OpenAndReadAll(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr(path));
  EXPECT_THAT(s.message(), HasSubstr("truncated at record 7"));
}

TEST(VectorFileMalformed, TrailingBytesInBin) {
  TempDir dir;
  std::vector<uint8_t> bytes;
  Put<int32_t>(bytes, 1);
  Put<int32_t>(bytes, 2);
  Put<float>(bytes, 1.0f);
  Put<float>(bytes, 2.0f);
  Put<uint8_t>(bytes, 0);
  std::string path = dir.File("t.u8bin");
  // Same bytes as u8bin: header 1 x 2 wants 10 bytes, the file has 17.
  WriteBytes(path, bytes.data(), bytes.size());
  absl::Status s = OpenAndReadAll(path);
  EXPECT_THAT(s.message(), HasSubstr("trailing bytes"));
}

TEST(VectorFileMalformed, VecsDimsDisagree) {
  TempDir dir;
  std::vector<uint8_t> bytes;
  for (int r = 0; r < 3; ++r) {
    Put<int32_t>(bytes, r == 2 ? 5 : 4);  // same record size, wrong dim in record 2
    for (int d = 0; d < 4; ++d) Put<float>(bytes, 0.5f);
  }
  std::string path = dir.File("d.fvecs");
  WriteBytes(path, bytes.data(), bytes.size());
  absl::Status s = OpenAndReadAll(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("record 2"));
  EXPECT_THAT(s.message(), HasSubstr("dimension 5 disagrees"));
}

TEST(VectorFileMalformed, VecsTruncatedRecord) {
  TempDir dir;
  std::vector<uint8_t> bytes;
  for (int r = 0; r < 3; ++r) {
    Put<int32_t>(bytes, 4);
    for (int d = 0; d < 4; ++d) Put<uint8_t>(bytes, 9);
  }
  bytes.resize(bytes.size() - 2);
  std::string path = dir.File("d.bvecs");
  WriteBytes(path, bytes.data(), bytes.size());
  absl::Status s = OpenAndReadAll(path);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("record 2 is truncated"));
}

TEST(VectorFileMalformed, VecsBadFirstDim) {
  TempDir dir;
  std::vector<uint8_t> bytes;
  Put<int32_t>(bytes, -7);
  Put<float>(bytes, 1.0f);
  std::string path = dir.File("n.fvecs");
  WriteBytes(path, bytes.data(), bytes.size());
  EXPECT_THAT(OpenAndReadAll(path).message(), HasSubstr("invalid dimension -7"));
  WriteBytes(path, bytes.data(), 2);
  EXPECT_THAT(OpenAndReadAll(path).message(), HasSubstr("truncated dimension header"));
}

TEST(VectorFileMalformed, NanAndInfNameTheRecord) {
  TempDir dir;
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    std::vector<uint8_t> bytes;
    Put<int32_t>(bytes, 100);
    Put<int32_t>(bytes, 3);
    for (int r = 0; r < 100; ++r) {
      for (int d = 0; d < 3; ++d) Put<float>(bytes, (r == 77 && d == 1) ? bad : 1.0f);
    }
    std::string path = dir.File("nan.fbin");
    WriteBytes(path, bytes.data(), bytes.size());
    absl::Status s = OpenAndReadAll(path);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(s.message(), HasSubstr("record 77"));
    EXPECT_THAT(s.message(), HasSubstr(std::isnan(bad) ? "NaN" : "Inf"));
  }
}

TEST(VectorWriterTest, RejectsValuesThatDoNotFit) {
  TempDir dir;
  auto w = VectorWriter::Create(dir.File("x.u8bin"), VectorFormat::kU8bin, 2);
  ASSERT_TRUE(w.ok());
  float bad_frac[] = {1.5f, 2.0f};
  EXPECT_THAT((*w)->AppendFloat(bad_frac, 1).message(), HasSubstr("does not fit"));
  float bad_range[] = {256.0f, 2.0f};
  EXPECT_THAT((*w)->AppendFloat(bad_range, 1).message(), HasSubstr("does not fit"));
  float nan[] = {std::nanf(""), 0};
  EXPECT_THAT((*w)->AppendFloat(nan, 1).message(), HasSubstr("not finite"));
}

TEST(VectorWriterTest, UnfinishedWriterLeavesNoFile) {
  TempDir dir;
  const std::string path = dir.File("x.fbin");
  {
    auto w = VectorWriter::Create(path, VectorFormat::kFbin, 2);
    ASSERT_TRUE(w.ok());
    float row[] = {1, 2};
    ASSERT_TRUE((*w)->AppendFloat(row, 1).ok());
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(VectorWriterTest, UnwritableDirectoryIsAnError) {
  auto w = VectorWriter::Create("/nonexistent/dir/x.fbin", VectorFormat::kFbin, 2);
  EXPECT_FALSE(w.ok());
  EXPECT_THAT(w.status().message(), HasSubstr("/nonexistent/dir/x.fbin"));
}

}  // namespace
}  // namespace cairn
