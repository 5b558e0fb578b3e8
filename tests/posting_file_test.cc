#include "storage/posting_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/random.h"
#include "storage/block_reader.h"
#include "storage/checksum.h"
#include "storage/fault_injection_env.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::ReadBytes;
using ::cairn::testing::TempDir;
using ::cairn::testing::WriteBytes;
using ::testing::HasSubstr;

PostingUserHeader TestUserHeader() {
  PostingUserHeader h;
  for (size_t i = 0; i < h.size(); ++i) h[i] = static_cast<uint8_t>(200 + i);
  return h;
}

std::vector<std::vector<uint8_t>> RandomPayloads(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<std::vector<uint8_t>> payloads(n);
  for (size_t i = 0; i < n; ++i) {
    // Include the boundary sizes around one page among the random ones.
    const size_t size =
        i < 4 ? std::vector<size_t>{0, 4072, 4073, 20000}[i] : rng.Below(20001);
    payloads[i].resize(size);
    for (auto& b : payloads[i]) b = static_cast<uint8_t>(rng.Next());
  }
  return payloads;
}

struct Written {
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<PostingLocation> locations;
};

Written WritePostingFile(Env* env, const std::string& path, size_t n,
                         uint64_t seed) {
  Written w;
  w.payloads = RandomPayloads(n, seed);
  auto writer = PostingFileWriter::Create(env, path, TestUserHeader());
  EXPECT_TRUE(writer.ok()) << writer.status();
  if (!writer.ok()) return w;
  for (const auto& p : w.payloads) {
    auto loc = (*writer)->Append(p.data(), static_cast<uint32_t>(p.size()));
    EXPECT_TRUE(loc.ok()) << loc.status();
    w.locations.push_back(*loc);
  }
  absl::Status s = (*writer)->Finish();
  EXPECT_TRUE(s.ok()) << s;
  return w;
}

// Reads the records at `locations` with a BlockReader in shuffled batches,
// as the searcher will, and returns their payloads (or the first error).
absl::StatusOr<std::vector<std::vector<uint8_t>>> ReadAll(
    const std::string& path, const std::vector<PostingLocation>& locations,
    BlockReaderOptions::Kind kind) {
  BlockReaderOptions opts;
  opts.kind = kind;
  opts.queue_depth = 8;
  auto reader = OpenBlockReader(path, opts);
  if (!reader.ok()) return reader.status();
  std::vector<size_t> order(locations.size());
  std::iota(order.begin(), order.end(), 0);
  Rng rng(5);
  for (size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[rng.Below(i)]);
  }
  std::vector<std::vector<uint8_t>> out(locations.size());
  std::vector<AlignedBuffer> buffers;
  std::vector<ReadRequest> reqs(locations.size());
  for (size_t j = 0; j < order.size(); ++j) {
    const size_t i = order[j];
    buffers.emplace_back(locations[i].bytes, kDirectIoAlignment);
    reqs[j] = {locations[i].offset, locations[i].bytes, buffers.back().data(),
               0, i};
  }
  if (absl::Status s = (*reader)->Submit(reqs.data(), reqs.size()); !s.ok()) {
    return s;
  }
  absl::Status first_error;
  while ((*reader)->InFlight() > 0) {
    auto r = (*reader)->WaitNext();
    if (!r.ok()) {
      if (first_error.ok()) first_error = r.status();
      continue;
    }
    auto payload = PostingFileReader::ParseRecord(
        path, (*r)->offset, static_cast<const uint8_t*>((*r)->buffer),
        static_cast<uint32_t>((*r)->result));
    if (!payload.ok()) {
      if (first_error.ok()) first_error = payload.status();
      continue;
    }
    out[(*r)->user_data].assign(payload->begin(), payload->end());
  }
  if (!first_error.ok()) return first_error;
  return out;
}

TEST(PostingFileTest, RoundTripOfAThousandRecords) {
  TempDir dir;
  const std::string path = dir.File("postings");
  const Written w = WritePostingFile(Env::Default(), path, 1000, 1);
  ASSERT_EQ(w.locations.size(), 1000u);
  EXPECT_FALSE(Env::Default()->FileExists(path + ".tmp"));

  auto reader = PostingFileReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->num_records(), 1000u);
  EXPECT_EQ((*reader)->user_header(), TestUserHeader());
  EXPECT_EQ((*reader)->file_size(), *Env::Default()->FileSize(path));

  uint64_t expected_offset = kPostingPageBytes;
  for (size_t i = 0; i < w.locations.size(); ++i) {
    const PostingLocation& loc = w.locations[i];
    EXPECT_EQ(loc.offset, expected_offset);
    EXPECT_EQ(loc.bytes % kPostingPageBytes, 0u);
    EXPECT_EQ(loc.bytes, PostingRecordBytes(w.payloads[i].size()));
    EXPECT_TRUE((*reader)->CheckLocation(loc).ok());
    expected_offset += loc.bytes;
  }
  EXPECT_EQ(expected_offset, (*reader)->file_size());
  EXPECT_EQ(w.locations[1].bytes, 4096u);  // 24 + 4072 fills one page
  EXPECT_EQ(w.locations[2].bytes, 8192u);  // one byte more spills over

  for (auto kind : {BlockReaderOptions::kIoUring, BlockReaderOptions::kPread}) {
    auto got = ReadAll(path, w.locations, kind);
    if (!got.ok() && got.status().code() == absl::StatusCode::kUnavailable) {
      continue;  // no io_uring here
    }
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, w.payloads);
  }

  size_t n = 0;
  absl::Status s = (*reader)->ForEachRecord(
      [&](const PostingLocation& loc, std::span<const uint8_t> payload) {
        EXPECT_EQ(loc.offset, w.locations[n].offset);
        EXPECT_EQ(loc.bytes, w.locations[n].bytes);
        EXPECT_TRUE(std::equal(payload.begin(), payload.end(),
                               w.payloads[n].begin(), w.payloads[n].end()));
        ++n;
        return absl::OkStatus();
      });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(n, 1000u);
}

TEST(PostingFileTest, EmptyFile) {
  TempDir dir;
  const std::string path = dir.File("empty");
  WritePostingFile(Env::Default(), path, 0, 1);
  auto reader = PostingFileReader::Open(path);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_EQ((*reader)->num_records(), 0u);
  EXPECT_EQ((*reader)->file_size(), kPostingPageBytes);
  EXPECT_TRUE((*reader)
                  ->ForEachRecord([](auto, auto) { return absl::OkStatus(); })
                  .ok());
}

TEST(PostingFileTest, WriterMisuseAndAbandonment) {
  TempDir dir;
  const std::string path = dir.File("p");
  {
    auto writer =
        PostingFileWriter::Create(Env::Default(), path, TestUserHeader());
    ASSERT_TRUE(writer.ok());
    ASSERT_TRUE((*writer)->Append("abc", 3).ok());
    EXPECT_TRUE(Env::Default()->FileExists(path + ".tmp"));
    EXPECT_FALSE(Env::Default()->FileExists(path));
  }  // abandoned: no file, no temporary
  EXPECT_FALSE(Env::Default()->FileExists(path + ".tmp"));
  EXPECT_FALSE(Env::Default()->FileExists(path));

  auto writer =
      PostingFileWriter::Create(Env::Default(), path, TestUserHeader());
  ASSERT_TRUE(writer.ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  EXPECT_EQ((*writer)->Append("abc", 3).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*writer)->Finish().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Env::Default()->FileExists(path));  // not removed by destructor
}

TEST(PostingFileTest, CheckLocationRejectsExtentsOutsideTheData) {
  TempDir dir;
  const std::string path = dir.File("p");
  const Written w = WritePostingFile(Env::Default(), path, 3, 2);
  auto reader = PostingFileReader::Open(path);
  ASSERT_TRUE(reader.ok());
  const uint64_t end = (*reader)->file_size();
  for (PostingLocation bad :
       {PostingLocation{0, 4096},  // the header page
        PostingLocation{4096, 0}, PostingLocation{4096 + 1, 4096},
        PostingLocation{4096, 4000}, PostingLocation{end, 4096},
        PostingLocation{end - 4096, 8192}}) {
    EXPECT_EQ((*reader)->CheckLocation(bad).code(),
              absl::StatusCode::kInvalidArgument)
        << bad.offset << " " << bad.bytes;
  }
}

// Corruption cases. Each must give DataLossError naming the file.
class PostingCorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.File("postings");
    written_ = WritePostingFile(Env::Default(), path_, 20, 3);
    bytes_ = ReadBytes(path_);
  }
  void Rewrite(const std::vector<uint8_t>& bytes) {
    WriteBytes(path_, bytes.data(), bytes.size());
  }
  void ExpectOpenFails(const std::string& what) {
    auto reader = PostingFileReader::Open(path_);
    ASSERT_FALSE(reader.ok()) << what;
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss) << what;
    EXPECT_THAT(reader.status().message(), HasSubstr(path_)) << what;
  }
  // Opens (must succeed) and reads every record; expects a DataLossError
  // naming the file and the offset of record `bad`.
  void ExpectRecordFails(size_t bad, const std::string& what) {
    auto reader = PostingFileReader::Open(path_);
    ASSERT_TRUE(reader.ok()) << reader.status();
    const std::string offset = std::to_string(written_.locations[bad].offset);
    for (auto kind : {BlockReaderOptions::kAuto, BlockReaderOptions::kPread}) {
      auto got = ReadAll(path_, written_.locations, kind);
      ASSERT_FALSE(got.ok()) << what;
      EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << what;
      EXPECT_THAT(got.status().message(), HasSubstr(path_)) << what;
      EXPECT_THAT(got.status().message(), HasSubstr(offset)) << what;
    }
    absl::Status scan =
        (*reader)->ForEachRecord([](auto, auto) { return absl::OkStatus(); });
    EXPECT_EQ(scan.code(), absl::StatusCode::kDataLoss) << what;
    EXPECT_THAT(scan.message(), HasSubstr(path_)) << what;
  }

  TempDir dir_;
  std::string path_;
  Written written_;
  std::vector<uint8_t> bytes_;
};

TEST_F(PostingCorruptionTest, IntactFileReadsBack) {
  auto got = ReadAll(path_, written_.locations, BlockReaderOptions::kAuto);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, written_.payloads);
}

TEST_F(PostingCorruptionTest, FlippedByteAnywhereInTheFileHeader) {
  for (size_t i = 0; i < kPostingFileHeaderBytes; ++i) {
    std::vector<uint8_t> b = bytes_;
    b[i] ^= 0x40;
    Rewrite(b);
    ExpectOpenFails("header byte " + std::to_string(i));
  }
}

TEST_F(PostingCorruptionTest, FlippedByteAnywhereInAFrameHeader) {
  const size_t rec = 7;
  for (size_t i = 0; i < kPostingFrameHeaderBytes; ++i) {
    std::vector<uint8_t> b = bytes_;
    b[written_.locations[rec].offset + i] ^= 0x01;
    Rewrite(b);
    ExpectRecordFails(rec, "frame byte " + std::to_string(i));
  }
}

TEST_F(PostingCorruptionTest, FlippedPayloadByteFailsTheChecksum) {
  size_t rec = 0;
  while (written_.payloads[rec].size() < 100) ++rec;
  std::vector<uint8_t> b = bytes_;
  b[written_.locations[rec].offset + kPostingFrameHeaderBytes + 50] ^= 0x80;
  Rewrite(b);
  ExpectRecordFails(rec, "payload byte");
  auto got = ReadAll(path_, written_.locations, BlockReaderOptions::kPread);
  EXPECT_THAT(got.status().message(), HasSubstr("checksum"));
}

TEST_F(PostingCorruptionTest, TruncatedFile) {
  for (size_t size : {bytes_.size() - kPostingPageBytes, bytes_.size() - 1,
                      size_t{kPostingPageBytes}, size_t{100}, size_t{0}}) {
    std::vector<uint8_t> b(bytes_.begin(), bytes_.begin() + size);
    Rewrite(b);
    ExpectOpenFails("truncated to " + std::to_string(size));
  }
}

TEST_F(PostingCorruptionTest, TrailingBytes) {
  std::vector<uint8_t> b = bytes_;
  b.resize(b.size() + kPostingPageBytes);
  Rewrite(b);
  ExpectOpenFails("trailing page");
}

TEST_F(PostingCorruptionTest, WrongMagic) {
  std::vector<uint8_t> b = bytes_;
  std::memcpy(b.data(), "CAIRNXXX", 8);
  Rewrite(b);
  auto reader = PostingFileReader::Open(path_);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(reader.status().message(), HasSubstr("magic"));
  EXPECT_THAT(reader.status().message(), HasSubstr(path_));
}

TEST_F(PostingCorruptionTest, FutureVersionIsReportedAsSuch) {
  std::vector<uint8_t> b = bytes_;
  const uint32_t version = 2;
  std::memcpy(&b[8], &version, 4);
  const uint64_t sum = Checksum64(b.data(), 96);  // a well-formed newer file
  std::memcpy(&b[96], &sum, 8);
  Rewrite(b);
  auto reader = PostingFileReader::Open(path_);
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(reader.status().message(), HasSubstr("version 2"));
  EXPECT_THAT(reader.status().message(), HasSubstr(path_));
}

TEST_F(PostingCorruptionTest, FutureFrameVersion) {
  std::vector<uint8_t> b = bytes_;
  b[written_.locations[3].offset + 4] = 2;
  Rewrite(b);
  ExpectRecordFails(3, "frame version");
}

TEST(PostingParseTest, ReadingFromTheWrongOffsetIsDetected) {
  TempDir dir;
  const std::string path = dir.File("p");
  std::vector<uint8_t> big(10000, 0xAB);
  auto writer = PostingFileWriter::Create(Env::Default(), path, {});
  ASSERT_TRUE(writer.ok());
  auto loc = (*writer)->Append(big.data(), static_cast<uint32_t>(big.size()));
  ASSERT_TRUE(loc.ok());
  ASSERT_TRUE((*writer)->Finish().ok());
  const std::vector<uint8_t> bytes = ReadBytes(path);
  // The record's second page, as if the directory pointed into the middle.
  auto mid = PostingFileReader::ParseRecord(path, loc->offset + 4096,
                                            &bytes[loc->offset + 4096], 4096);
  EXPECT_EQ(mid.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(mid.status().message(), HasSubstr(path));
  EXPECT_THAT(mid.status().message(),
              HasSubstr(std::to_string(loc->offset + 4096)));
  // Too short a read of the right record.
  auto short_read = PostingFileReader::ParseRecord(path, loc->offset,
                                                   &bytes[loc->offset], 4096);
  EXPECT_EQ(short_read.status().code(), absl::StatusCode::kDataLoss);
  auto whole = PostingFileReader::ParseRecord(path, loc->offset,
                                              &bytes[loc->offset], loc->bytes);
  ASSERT_TRUE(whole.ok()) << whole.status();
  EXPECT_TRUE(std::equal(whole->begin(), whole->end(), big.begin(), big.end()));
}

// A failure at any operation of writing a posting file leaves the previous
// file (or none) in place, readable and intact; never a half-written one.
TEST(PostingFaultTest, EveryFailurePointLeavesOldOrNewFile) {
  FaultInjectionEnv probe(Env::Default());
  {
    TempDir dir;
    WritePostingFile(&probe, dir.File("p"), 30, 9);
  }
  const uint64_t ops = probe.operation_count();
  ASSERT_GT(ops, 6u);
  for (uint64_t k = 1; k <= ops; ++k) {
    SCOPED_TRACE(::testing::Message()
                 << "failing operation " << k << " of " << ops);
    TempDir dir;
    const std::string path = dir.File("p");
    const Written old_file = WritePostingFile(Env::Default(), path, 5, 10);
    FaultInjectionEnv env(Env::Default());
    env.FailNth(k, k % 2 == 0 ? ENOSPC : EIO);
    absl::Status s;
    {
      auto writer = PostingFileWriter::Create(&env, path, TestUserHeader());
      s = writer.status();
      const auto payloads = RandomPayloads(30, 9);
      for (size_t i = 0; s.ok() && i < payloads.size(); ++i) {
        s = (*writer)
                ->Append(payloads[i].data(),
                         static_cast<uint32_t>(payloads[i].size()))
                .status();
      }
      if (s.ok()) s = (*writer)->Finish();
    }
    EXPECT_FALSE(s.ok());
    if (k % 2 == 0) {
      EXPECT_THAT(s.message(), HasSubstr("disk full"));
    }
    EXPECT_FALSE(Env::Default()->FileExists(path + ".tmp"));
    auto reader = PostingFileReader::Open(path);
    ASSERT_TRUE(reader.ok()) << reader.status();
    const uint64_t n = (*reader)->num_records();
    EXPECT_TRUE(n == 5 || n == 30) << n;
    EXPECT_TRUE((*reader)
                    ->ForEachRecord([](auto, auto) { return absl::OkStatus(); })
                    .ok());
  }
}

}  // namespace
}  // namespace cairn
