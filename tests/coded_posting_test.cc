// The coded posting layout (payload version 2): code section + page-aligned
// vector pages, each part verifiable on its own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "common/random.h"
#include "index/spann/posting_format.h"
#include "storage/posting_file.h"

namespace cairn {
namespace {

using ::testing::HasSubstr;

constexpr uint32_t kFrame = kPostingFrameHeaderBytes;
constexpr char kWhere[] = "postings.dat";

struct Coded {
  std::vector<uint32_t> ids;
  std::vector<uint8_t> versions, codes, vectors, payload;
};

Coded Make(uint32_t count, uint32_t dim, StoredType type, uint32_t entry_bytes, uint64_t seed) {
  Rng rng(seed);
  Coded c;
  for (uint32_t i = 0; i < count; ++i) {
    c.ids.push_back(static_cast<uint32_t>(rng.Next()));
    c.versions.push_back(static_cast<uint8_t>(rng.Next() & 0x7F));
  }
  c.codes.resize(size_t{count} * entry_bytes);
  for (auto& b : c.codes) b = static_cast<uint8_t>(rng.Next());
  c.vectors.resize(size_t{count} * dim * StoredTypeSize(type));
  for (auto& b : c.vectors) b = static_cast<uint8_t>(rng.Next());
  EncodeCodedPosting(dim, type, entry_bytes, kFrame, c.ids.data(), c.versions.data(),
                     c.codes.data(), c.vectors.data(), count, &c.payload);
  return c;
}

struct Shape {
  uint32_t count, dim;
  StoredType type;
  uint32_t entry_bytes;
};

class CodedPostingTest : public ::testing::TestWithParam<Shape> {};

TEST_P(CodedPostingTest, WholeAndPartialReadsSeeTheSameEntries) {
  const Shape sh = GetParam();
  const Coded c = Make(sh.count, sh.dim, sh.type, sh.entry_bytes, sh.count * 31 + sh.dim);
  const CodedLayout l = ComputeCodedLayout(sh.count, sh.dim, sh.type, sh.entry_bytes, kFrame);
  ASSERT_EQ(c.payload.size(), l.payload_bytes);
  // The frame + payload fill whole pages, and vectors start on a page.
  EXPECT_EQ(PostingRecordBytes(l.payload_bytes), l.record_bytes);
  EXPECT_EQ((kFrame + l.head_bytes) % 4096, 0u);
  EXPECT_EQ(l.record_bytes, uint64_t{l.head_pages + l.vector_pages} * 4096);

  auto whole = DecodePosting(c.payload, sh.dim, sh.type, kWhere, sh.entry_bytes);
  ASSERT_TRUE(whole.ok()) << whole.status();
  auto head = DecodeCodedHead(std::span<const uint8_t>(c.payload.data(), l.head_bytes), sh.dim,
                              sh.type, sh.entry_bytes, kWhere);
  ASSERT_TRUE(head.ok()) << head.status();
  const size_t vb = size_t{sh.dim} * StoredTypeSize(sh.type);
  for (uint32_t i = 0; i < sh.count; ++i) {
    EXPECT_EQ(whole->ids[i], c.ids[i]);
    EXPECT_EQ(head->ids[i], c.ids[i]);
    EXPECT_EQ(head->versions[i], c.versions[i]);
    EXPECT_EQ(std::memcmp(head->codes + size_t{i} * sh.entry_bytes,
                          c.codes.data() + size_t{i} * sh.entry_bytes, sh.entry_bytes),
              0);
    ASSERT_EQ(std::memcmp(whole->vector(i), c.vectors.data() + i * vb, vb), 0) << "entry " << i;
    // The pages VectorPagesOf names hold the vector, and pass their checksums.
    uint32_t first, n;
    VectorPagesOf(*head, i, &first, &n);
    ASSERT_LE(first + n, head->vector_pages);
    const uint8_t* vec_area = c.payload.data() + l.head_bytes;
    const uint8_t* v = whole->vector(i);
    EXPECT_GE(v, vec_area + size_t{first} * 4096);
    EXPECT_LE(v + vb, vec_area + size_t{first + n} * 4096);
    for (uint32_t p = first; p < first + n; ++p) {
      EXPECT_TRUE(VectorPageIntact(*head, p, vec_area + size_t{p} * 4096));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CodedPostingTest,
    ::testing::Values(Shape{1, 784, StoredType::kUInt8, 120},   // 5 vectors per page
                      Shape{37, 784, StoredType::kUInt8, 120},
                      Shape{100, 128, StoredType::kFloat32, 32},  // exactly 8 per page
                      Shape{9, 2000, StoredType::kFloat32, 264},  // vectors span pages
                      Shape{300, 384, StoredType::kFloat32, 64},
                      Shape{0, 16, StoredType::kInt8, 8}));

TEST(CodedPostingDamage, FlippedCodeSectionByteIsDataLoss) {
  const Coded c = Make(40, 128, StoredType::kFloat32, 32, 7);
  const CodedLayout l = ComputeCodedLayout(40, 128, StoredType::kFloat32, 32, kFrame);
  const size_t section_end = 32 + 40 * 4 + 40 + 32 * 40 + 8 * l.vector_pages;
  for (size_t at : {size_t{0}, size_t{5}, size_t{20}, size_t{40}, size_t{32 + 160 + 10},
                    section_end - 1}) {
    std::vector<uint8_t> bad = c.payload;
    bad[at] ^= 0x10;
    auto v = DecodeCodedHead(std::span<const uint8_t>(bad.data(), l.head_bytes), 128,
                             StoredType::kFloat32, 32, kWhere);
    ASSERT_FALSE(v.ok()) << "byte " << at;
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(kWhere));
  }
}

TEST(CodedPostingDamage, FlippedVectorByteFailsOnlyItsPage) {
  const Coded c = Make(40, 128, StoredType::kFloat32, 32, 8);  // 5 vector pages
  const CodedLayout l = ComputeCodedLayout(40, 128, StoredType::kFloat32, 32, kFrame);
  ASSERT_EQ(l.vector_pages, 5u);
  std::vector<uint8_t> bad = c.payload;
  bad[l.head_bytes + 2 * 4096 + 100] ^= 1;
  auto head = DecodeCodedHead(std::span<const uint8_t>(bad.data(), l.head_bytes), 128,
                              StoredType::kFloat32, 32, kWhere);
  ASSERT_TRUE(head.ok());
  for (uint32_t p = 0; p < 5; ++p) {
    EXPECT_EQ(VectorPageIntact(*head, p, bad.data() + l.head_bytes + p * 4096), p != 2) << p;
  }
  EXPECT_FALSE(VectorPageIntact(*head, 5, bad.data()));  // beyond the posting
}

TEST(CodedPostingDamage, ShortPrefixAndWrongShapeAreDataLoss) {
  const Coded c = Make(40, 128, StoredType::kFloat32, 32, 9);
  const CodedLayout l = ComputeCodedLayout(40, 128, StoredType::kFloat32, 32, kFrame);
  for (size_t len : {size_t{0}, size_t{31}, size_t{200}}) {
    auto v = DecodeCodedHead(std::span<const uint8_t>(c.payload.data(), len), 128,
                             StoredType::kFloat32, 32, kWhere);
    EXPECT_EQ(v.status().code(), absl::StatusCode::kDataLoss) << len;
  }
  std::span<const uint8_t> prefix(c.payload.data(), l.head_bytes);
  EXPECT_FALSE(DecodeCodedHead(prefix, 127, StoredType::kFloat32, 32, kWhere).ok());
  EXPECT_FALSE(DecodeCodedHead(prefix, 128, StoredType::kUInt8, 32, kWhere).ok());
  EXPECT_FALSE(DecodeCodedHead(prefix, 128, StoredType::kFloat32, 40, kWhere).ok());
  // A version 1 decoder refuses a coded payload, and the other way round.
  EXPECT_FALSE(DecodePosting(c.payload, 128, StoredType::kFloat32, kWhere).ok());
  std::vector<uint8_t> v1;
  EncodePosting(128, StoredType::kFloat32, c.ids.data(), c.versions.data(), c.vectors.data(), 40,
                &v1);
  EXPECT_FALSE(DecodePosting(v1, 128, StoredType::kFloat32, kWhere, 32).ok());
  // A whole payload one page short.
  std::vector<uint8_t> cut(c.payload.begin(), c.payload.end() - 4096);
  EXPECT_FALSE(DecodePosting(cut, 128, StoredType::kFloat32, kWhere, 32).ok());
}

TEST(CodedPostingDamage, RecordPrefixChecksTheFrameAgainstTheDirectory) {
  const Coded c = Make(40, 128, StoredType::kFloat32, 32, 10);
  std::vector<uint8_t> record(PostingRecordBytes(c.payload.size()));
  EncodePostingRecord(c.payload.data(), static_cast<uint32_t>(c.payload.size()), record.data());
  const CodedLayout l = ComputeCodedLayout(40, 128, StoredType::kFloat32, 32, kFrame);
  auto ok = PostingFileReader::ParseRecordPrefix(kWhere, 4096, record.data(),
                                                 l.head_pages * 4096, record.size());
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->size(), l.head_bytes);
  auto wrong = PostingFileReader::ParseRecordPrefix(kWhere, 4096, record.data(),
                                                    l.head_pages * 4096, record.size() + 4096);
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kDataLoss);
  record[0] ^= 1;
  auto magic = PostingFileReader::ParseRecordPrefix(kWhere, 4096, record.data(),
                                                    l.head_pages * 4096, record.size());
  EXPECT_EQ(magic.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(magic.status().message()), HasSubstr("offset 4096"));
}

}  // namespace
}  // namespace cairn
