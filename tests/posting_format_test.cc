#include "index/spann/posting_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "common/random.h"

namespace cairn {
namespace {

using ::testing::HasSubstr;

constexpr char kWhere[] = "postings.dat at offset 8192";

struct Input {
  std::vector<uint32_t> ids;
  std::vector<uint8_t> versions;
  std::vector<uint8_t> vectors;  // count * dim * esize bytes
};

Input RandomInput(uint32_t count, uint32_t dim, StoredType type, uint64_t seed) {
  Rng rng(seed);
  Input in;
  for (uint32_t i = 0; i < count; ++i) {
    in.ids.push_back(static_cast<uint32_t>(rng.Next()));
    in.versions.push_back(static_cast<uint8_t>(rng.Next()));
  }
  in.vectors.resize(size_t{count} * dim * StoredTypeSize(type));
  if (type == StoredType::kFloat32) {
    for (size_t i = 0; i < in.vectors.size() / 4; ++i) {
      const float v = static_cast<float>(rng.Gaussian());
      std::memcpy(in.vectors.data() + 4 * i, &v, 4);
    }
  } else {
    for (auto& b : in.vectors) b = static_cast<uint8_t>(rng.Next());
  }
  return in;
}

std::vector<uint8_t> Encode(const Input& in, uint32_t dim, StoredType type) {
  std::vector<uint8_t> out;
  EncodePosting(dim, type, in.ids.data(), in.versions.data(), in.vectors.data(),
                static_cast<uint32_t>(in.ids.size()), &out);
  return out;
}

void ExpectDataLossNaming(const absl::StatusOr<PostingView>& view, const std::string& what) {
  ASSERT_FALSE(view.ok()) << what;
  EXPECT_EQ(view.status().code(), absl::StatusCode::kDataLoss) << what << ": " << view.status();
  EXPECT_THAT(std::string(view.status().message()), HasSubstr(kWhere)) << what;
}

TEST(PostingFormatTest, TypeSizesAndNames) {
  EXPECT_EQ(StoredTypeSize(StoredType::kFloat32), 4u);
  EXPECT_EQ(StoredTypeSize(StoredType::kUInt8), 1u);
  EXPECT_EQ(StoredTypeSize(StoredType::kInt8), 1u);
  EXPECT_STREQ(StoredTypeName(StoredType::kFloat32), "float32");
  EXPECT_STREQ(StoredTypeName(StoredType::kUInt8), "uint8");
  EXPECT_STREQ(StoredTypeName(StoredType::kInt8), "int8");
}

TEST(PostingFormatTest, RoundTripKeepsEveryField) {
  uint64_t seed = 1;
  for (StoredType type : {StoredType::kFloat32, StoredType::kUInt8, StoredType::kInt8}) {
    for (uint32_t dim : {1u, 3u, 32u, 100u}) {
      for (uint32_t count : {0u, 1u, 2u, 3u, 7u, 8u, 9u, 257u}) {
        SCOPED_TRACE(std::string(StoredTypeName(type)) + " dim " + std::to_string(dim) + " count " +
                     std::to_string(count));
        const Input in = RandomInput(count, dim, type, seed++);
        const std::vector<uint8_t> payload = Encode(in, dim, type);
        ASSERT_EQ(payload.size(), PostingPayloadBytes(count, dim, type));
        auto view = DecodePosting(payload, dim, type, kWhere);
        ASSERT_TRUE(view.ok()) << view.status();
        EXPECT_EQ(view->count, count);
        EXPECT_EQ(view->dim, dim);
        EXPECT_EQ(view->type, type);
        // The vectors start 8-aligned within the payload (the scan reads
        // them in place).
        EXPECT_EQ((view->vectors - payload.data()) % 8, 0);
        EXPECT_LE(view->vectors + in.vectors.size(), payload.data() + payload.size());
        for (uint32_t i = 0; i < count; ++i) {
          uint32_t id;
          std::memcpy(&id, view->ids + i, 4);
          ASSERT_EQ(id, in.ids[i]) << "entry " << i;
          ASSERT_EQ(view->versions[i], in.versions[i]) << "entry " << i;
          const size_t row_bytes = size_t{dim} * StoredTypeSize(type);
          ASSERT_EQ(std::memcmp(view->vector(i), in.vectors.data() + i * row_bytes, row_bytes), 0)
              << "entry " << i;
        }
      }
    }
  }
}

TEST(PostingFormatTest, NullVersionsEncodeAsZero) {
  const Input in = RandomInput(5, 4, StoredType::kFloat32, 7);
  std::vector<uint8_t> payload;
  EncodePosting(4, StoredType::kFloat32, in.ids.data(), nullptr, in.vectors.data(), 5, &payload);
  auto view = DecodePosting(payload, 4, StoredType::kFloat32, kWhere);
  ASSERT_TRUE(view.ok()) << view.status();
  for (uint32_t i = 0; i < 5; ++i) EXPECT_EQ(view->versions[i], 0) << i;
}

TEST(PostingFormatTest, EncodeReusesAndResizesTheOutput) {
  const Input big = RandomInput(50, 8, StoredType::kFloat32, 3);
  const Input small = RandomInput(2, 8, StoredType::kFloat32, 4);
  std::vector<uint8_t> out = Encode(big, 8, StoredType::kFloat32);
  EncodePosting(8, StoredType::kFloat32, small.ids.data(), small.versions.data(),
                small.vectors.data(), 2, &out);
  EXPECT_EQ(out, Encode(small, 8, StoredType::kFloat32));
}

TEST(PostingFormatTest, EveryTruncationIsDataLossNamingWhere) {
  for (StoredType type : {StoredType::kFloat32, StoredType::kUInt8}) {
    const Input in = RandomInput(9, 5, type, 11);
    const std::vector<uint8_t> payload = Encode(in, 5, type);
    for (size_t len = 0; len < payload.size(); ++len) {
      ExpectDataLossNaming(
          DecodePosting(std::span<const uint8_t>(payload.data(), len), 5, type, kWhere),
          "truncated to " + std::to_string(len));
    }
    // Trailing bytes are as wrong as missing ones.
    std::vector<uint8_t> longer = payload;
    longer.push_back(0);
    ExpectDataLossNaming(DecodePosting(longer, 5, type, kWhere), "one byte too long");
    longer.resize(payload.size() + 8, 0);
    ExpectDataLossNaming(DecodePosting(longer, 5, type, kWhere), "eight bytes too long");
  }
}

TEST(PostingFormatTest, EmptyPayloadIsDataLoss) {
  ExpectDataLossNaming(DecodePosting({}, 4, StoredType::kFloat32, kWhere), "empty");
}

TEST(PostingFormatTest, MismatchedHeaderFieldsAreDataLossNamingWhere) {
  const Input in = RandomInput(6, 4, StoredType::kFloat32, 21);
  const std::vector<uint8_t> good = Encode(in, 4, StoredType::kFloat32);
  ASSERT_TRUE(DecodePosting(good, 4, StoredType::kFloat32, kWhere).ok());

  // The index expects another dimension or element type than the posting has.
  ExpectDataLossNaming(DecodePosting(good, 5, StoredType::kFloat32, kWhere), "expected dim 5");
  ExpectDataLossNaming(DecodePosting(good, 4, StoredType::kUInt8, kWhere), "expected uint8");

  auto patched = [&](size_t offset, const void* value, size_t n) {
    std::vector<uint8_t> p = good;
    std::memcpy(p.data() + offset, value, n);
    return p;
  };
  const uint32_t u32_values[] = {0, 5, 7, 1000, std::numeric_limits<uint32_t>::max()};
  for (uint32_t count : u32_values) {
    ExpectDataLossNaming(DecodePosting(patched(0, &count, 4), 4, StoredType::kFloat32, kWhere),
                         "count " + std::to_string(count));
  }
  for (uint16_t type : {uint16_t{1}, uint16_t{2}, uint16_t{3}, uint16_t{0xFFFF}}) {
    ExpectDataLossNaming(DecodePosting(patched(4, &type, 2), 4, StoredType::kFloat32, kWhere),
                         "type " + std::to_string(type));
  }
  const uint16_t flags = 1;
  ExpectDataLossNaming(DecodePosting(patched(6, &flags, 2), 4, StoredType::kFloat32, kWhere),
                       "flags");
  for (uint32_t dim : {0u, 3u, 8u, std::numeric_limits<uint32_t>::max()}) {
    ExpectDataLossNaming(DecodePosting(patched(8, &dim, 4), 4, StoredType::kFloat32, kWhere),
                         "dim " + std::to_string(dim));
  }
  const uint32_t code_bytes = 16;
  ExpectDataLossNaming(DecodePosting(patched(12, &code_bytes, 4), 4, StoredType::kFloat32, kWhere),
                       "code bytes");
}

TEST(PostingFormatTest, HugeCountDoesNotOverflowTheSizeCheck) {
  // A count whose size would wrap in 32-bit arithmetic must still be caught.
  const Input in = RandomInput(1, 1024, StoredType::kFloat32, 5);
  std::vector<uint8_t> p = Encode(in, 1024, StoredType::kFloat32);
  for (uint32_t count : {0x00400000u, 0x40000000u, 0x80000000u, 0xFFFFFFFFu}) {
    std::memcpy(p.data(), &count, 4);
    ExpectDataLossNaming(DecodePosting(p, 1024, StoredType::kFloat32, kWhere),
                         "count " + std::to_string(count));
  }
}

}  // namespace
}  // namespace cairn
