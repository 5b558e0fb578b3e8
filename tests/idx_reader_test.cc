#include "datasets/idx_reader.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <filesystem>

#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::TempDir;
using ::testing::HasSubstr;

void WriteGz(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> Idx(uint32_t magic, uint32_t n, uint32_t r, uint32_t c, size_t pixels) {
  std::vector<uint8_t> b;
  for (uint32_t v : {magic, n, r, c}) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<uint8_t>(v >> s));
  }
  for (size_t i = 0; i < pixels; ++i) b.push_back(static_cast<uint8_t>(i * 7));
  return b;
}

TEST(IdxReaderTest, ReadsGzippedImages) {
  TempDir dir;
  WriteGz(dir.File("a.gz"), Idx(0x803, 3, 2, 4, 24));
  auto images = ReadIdxImages(dir.File("a.gz"));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->count, 3u);
  EXPECT_EQ(images->pixels_per_image(), 8u);
  EXPECT_EQ(images->image(2)[1], static_cast<uint8_t>(17 * 7));
}

TEST(IdxReaderTest, BadMagicAndTruncation) {
  TempDir dir;
  WriteGz(dir.File("m.gz"), Idx(0x801, 3, 2, 4, 24));
  EXPECT_THAT(ReadIdxImages(dir.File("m.gz")).status().message(), HasSubstr("bad IDX magic"));
  WriteGz(dir.File("t.gz"), Idx(0x803, 3, 2, 4, 20));
  auto t = ReadIdxImages(dir.File("t.gz"));
  EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(t.status().message(), HasSubstr("image 2 of 3"));
  WriteGz(dir.File("h.gz"), {0, 0, 8});
  EXPECT_THAT(ReadIdxImages(dir.File("h.gz")).status().message(), HasSubstr("truncated IDX header"));
  EXPECT_EQ(ReadIdxImages(dir.File("none.gz")).status().code(), absl::StatusCode::kNotFound);
}

TEST(IdxReaderTest, ReadsTheRealFashionMnistWhenInstalled) {
  const std::string path = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  auto images = ReadIdxImages(path);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->count, 10000u);
  EXPECT_EQ(images->rows, 28u);
  EXPECT_EQ(images->cols, 28u);
}

}  // namespace
}  // namespace cairn
