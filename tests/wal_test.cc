#include "storage/wal.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "storage/checksum.h"
#include "storage/fault_injection_env.h"
#include "tests/test_util.h"
#include "tests/wal_test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::Put;
using ::cairn::testing::RandomPayload;
using ::cairn::testing::ReadAll;
using ::cairn::testing::OwnedRecord;
using ::cairn::testing::ReadOutcome;
using ::cairn::testing::ReadBytes;
using ::cairn::testing::TempDir;
using ::cairn::testing::WriteBytes;
using ::testing::HasSubstr;

// The layout of docs/formats.md, encoded independently of wal.cc.
std::vector<uint8_t> Header(uint64_t first_sequence, uint32_t version = 1,
                            uint32_t reserved = 0) {
  std::vector<uint8_t> out = {'C', 'A', 'I', 'R', 'N', 'W', 'A', 'L'};
  Put<uint32_t>(out, version);
  Put<uint32_t>(out, reserved);
  Put<uint64_t>(out, first_sequence);
  Put<uint64_t>(out, Checksum64(out.data(), out.size()));
  return out;
}

void PutRecord(std::vector<uint8_t>& out, uint8_t type, uint64_t sequence,
               const std::string& payload) {
  const size_t start = out.size();
  Put<uint32_t>(out, static_cast<uint32_t>(payload.size()));
  Put<uint8_t>(out, type);
  out.insert(out.end(), 3, 0);
  Put<uint64_t>(out, sequence);
  out.insert(out.end(), payload.begin(), payload.end());
  Put<uint64_t>(out, Checksum64(out.data() + start, out.size() - start));
}


TEST(WalTest, RoundTripWithBatchesAndEmptyPayloads) {
  TempDir dir;
  const std::string path = dir.File("wal");
  auto writer = WalWriter::Create(Env::Default(), path, 0);
  ASSERT_TRUE(writer.ok()) << writer.status();
  WalWriter& w = **writer;
  EXPECT_EQ(w.next_sequence(), 1u);
  EXPECT_EQ(w.bytes(), kWalHeaderBytes);

  std::vector<std::pair<uint8_t, std::string>> expected;
  uint64_t bytes = kWalHeaderBytes;
  for (int i = 0; i < 300; ++i) {
    const uint8_t type = static_cast<uint8_t>(1 + i % 255);
    const size_t size = i % 7 == 0 ? 0 : (i * 37) % 3000;
    if (i % 50 == 49) {
      std::vector<std::pair<uint8_t, std::string>> batch = {
          {type, RandomPayload(size, i)}, {2, ""}, {3, "third"}};
      auto first = w.AppendBatch(batch, i % 2 == 0);
      ASSERT_TRUE(first.ok()) << first.status();
      EXPECT_EQ(*first, expected.size() + 1);
      for (auto& r : batch) {
        bytes += kWalRecordOverheadBytes + r.second.size();
        expected.push_back(std::move(r));
      }
    } else {
      std::string payload = RandomPayload(size, i);
      auto seq = w.Append(type, payload, i % 3 == 0);
      ASSERT_TRUE(seq.ok()) << seq.status();
      EXPECT_EQ(*seq, expected.size() + 1);
      bytes += kWalRecordOverheadBytes + payload.size();
      expected.emplace_back(type, std::move(payload));
    }
  }
  EXPECT_EQ(w.next_sequence(), expected.size() + 1);
  EXPECT_EQ(w.bytes(), bytes);
  ASSERT_TRUE(w.Close().ok());
  EXPECT_EQ(*Env::Default()->FileSize(path), bytes);

  ReadOutcome got = ReadAll(Env::Default(), path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.records.size(), expected.size());
  uint64_t offset = kWalHeaderBytes;
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(got.records[i].sequence, i + 1);
    EXPECT_EQ(got.records[i].type, expected[i].first);
    EXPECT_EQ(got.records[i].payload, expected[i].second);
    EXPECT_EQ(got.records[i].offset, offset);
    offset += kWalRecordOverheadBytes + expected[i].second.size();
  }
  EXPECT_EQ(got.result.first_sequence, 0u);
  EXPECT_EQ(got.result.last_sequence, expected.size());
  EXPECT_EQ(got.result.records, expected.size());
  EXPECT_EQ(got.result.valid_bytes, bytes);
  EXPECT_FALSE(got.result.torn_tail);
  EXPECT_EQ(got.result.next_sequence(), expected.size() + 1);
}

TEST(WalTest, BytesMatchTheDocumentedLayout) {
  TempDir dir;
  const std::string path = dir.File("wal");
  auto w = WalWriter::Create(Env::Default(), path, 41);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(*(*w)->Append(7, "hello", true), 42u);
  EXPECT_EQ(*(*w)->Append(255, "", false), 43u);
  ASSERT_TRUE((*w)->Close().ok());

  std::vector<uint8_t> expected = Header(41);
  PutRecord(expected, 7, 42, "hello");
  PutRecord(expected, 255, 43, "");
  EXPECT_EQ(ReadBytes(path), expected);
}

TEST(WalTest, EmptyLogAndFirstSequence) {
  TempDir dir;
  const std::string path = dir.File("wal");
  auto w = WalWriter::Create(Env::Default(), path, 1000);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Close().ok());
  ReadOutcome got = ReadAll(Env::Default(), path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_EQ(got.result.first_sequence, 1000u);
  EXPECT_EQ(got.result.last_sequence, 0u);
  EXPECT_EQ(got.result.records, 0u);
  EXPECT_EQ(got.result.valid_bytes, kWalHeaderBytes);
  EXPECT_EQ(got.result.next_sequence(), 1001u);
}

TEST(WalTest, RejectsBadRecordsAndStaysUsable) {
  TempDir dir;
  const std::string path = dir.File("wal");
  auto w = WalWriter::Create(Env::Default(), path, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->Append(0, "x", true).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string huge(kWalMaxPayloadBytes + 1, 'x');
  EXPECT_EQ((*w)->Append(1, huge, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->AppendBatch({}, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*w)->AppendBatch({{1, "a"}, {0, "b"}}, true).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(*(*w)->Append(1, "ok", true), 1u);
  EXPECT_EQ(WalWriter::Create(Env::Default(), dir.File("w2"), ~uint64_t{0})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(WalTest, ClosedWriterRefusesCalls) {
  TempDir dir;
  auto w = WalWriter::Create(Env::Default(), dir.File("wal"), 0);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Append(1, "a", false).ok());
  ASSERT_TRUE((*w)->Close().ok());
  EXPECT_TRUE((*w)->Close().ok());
  EXPECT_EQ((*w)->Append(1, "b", false).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ((*w)->Sync().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(ReadAll(Env::Default(), dir.File("wal")).records.size(), 1u);
}

TEST(WalTest, ConcurrentSyncedAppendsGetConsecutiveSequences) {
  TempDir dir;
  const std::string path = dir.File("wal");
  auto writer = WalWriter::Create(Env::Default(), path, 100);
  ASSERT_TRUE(writer.ok()) << writer.status();
  WalWriter& w = **writer;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 60;
  // Per thread: (sequence, payload) in call order.
  std::vector<std::vector<std::pair<uint64_t, std::string>>> done(kThreads);
  std::vector<absl::Status> errors(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        if (i % 10 == 9) {
          std::vector<std::pair<uint8_t, std::string>> batch = {
              {1, absl::StrCat(t, "/", i, "a")},
              {1, absl::StrCat(t, "/", i, "b")}};
          auto first = w.AppendBatch(batch, true);
          if (!first.ok()) {
            errors[t] = first.status();
            return;
          }
          done[t].emplace_back(*first, batch[0].second);
          done[t].emplace_back(*first + 1, batch[1].second);
        } else {
          std::string payload = absl::StrCat(t, "/", i);
          auto seq = w.Append(static_cast<uint8_t>(t + 1), payload, true);
          if (!seq.ok()) {
            errors[t] = seq.status();
            return;
          }
          done[t].emplace_back(*seq, std::move(payload));
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  for (const auto& e : errors) ASSERT_TRUE(e.ok()) << e;

  std::map<uint64_t, std::string> by_sequence;
  for (const auto& list : done) {
    for (size_t i = 0; i < list.size(); ++i) {
      if (i > 0) {
        EXPECT_GT(list[i].first, list[i - 1].first);
      }
      EXPECT_TRUE(by_sequence.emplace(list[i].first, list[i].second).second)
          << "duplicate sequence " << list[i].first;
    }
  }
  const uint64_t total = kThreads * (kPerThread + kPerThread / 10);
  ASSERT_EQ(by_sequence.size(), total);
  EXPECT_EQ(by_sequence.begin()->first, 101u);
  EXPECT_EQ(by_sequence.rbegin()->first, 100 + total);
  EXPECT_EQ(w.next_sequence(), 101 + total);
  ASSERT_TRUE(w.Close().ok());

  ReadOutcome got = ReadAll(Env::Default(), path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.records.size(), total);
  for (const OwnedRecord& r : got.records) {
    EXPECT_EQ(r.payload, by_sequence[r.sequence]) << r.sequence;
  }
}

TEST(WalTest, ConcurrentCloseLeavesOnlyAcknowledgedRecords) {
  TempDir dir;
  const std::string path = dir.File("wal");
  auto writer = WalWriter::Create(Env::Default(), path, 0);
  ASSERT_TRUE(writer.ok()) << writer.status();
  WalWriter& w = **writer;
  std::vector<std::vector<uint64_t>> acked(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        auto seq = w.Append(1, "x", i % 4 == 0);
        if (!seq.ok()) {
          EXPECT_EQ(seq.status().code(), absl::StatusCode::kFailedPrecondition);
          return;
        }
        acked[t].push_back(*seq);
      }
    });
  }
  ASSERT_TRUE(w.Sync().ok());
  ASSERT_TRUE(w.Close().ok());
  for (auto& th : threads) th.join();
  size_t n = 0;
  for (const auto& a : acked) n += a.size();
  ReadOutcome got = ReadAll(Env::Default(), path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_FALSE(got.result.torn_tail);
  EXPECT_EQ(got.records.size(), n);
}

// A log of `n` records with payloads of varied sizes; returns the offset of
// each record and the file size at the end.
std::vector<uint64_t> WriteLog(const std::string& path, int n,
                               std::vector<uint8_t>* bytes) {
  *bytes = Header(0);
  std::vector<uint64_t> offsets;
  for (int i = 0; i < n; ++i) {
    offsets.push_back(bytes->size());
    PutRecord(*bytes, 1 + i % 3, i + 1,
              RandomPayload(i == n - 1 ? 40 : 10 * i, i));
  }
  offsets.push_back(bytes->size());
  WriteBytes(path, bytes->data(), bytes->size());
  return offsets;
}

TEST(WalTest, TruncationAnywhereInTheLastRecordIsATornTail) {
  TempDir dir;
  const std::string path = dir.File("wal");
  std::vector<uint8_t> bytes;
  const std::vector<uint64_t> offsets = WriteLog(path, 6, &bytes);
  const uint64_t last = offsets[5];
  ReadOutcome full = ReadAll(Env::Default(), path);
  ASSERT_TRUE(full.status.ok()) << full.status;
  ASSERT_EQ(full.records.size(), 6u);

  for (uint64_t cut = last; cut < bytes.size(); ++cut) {
    WriteBytes(path, bytes.data(), cut);
    ReadOutcome got = ReadAll(Env::Default(), path);
    ASSERT_TRUE(got.status.ok()) << "cut " << cut << ": " << got.status;
    EXPECT_EQ(got.result.torn_tail, cut > last) << cut;
    EXPECT_EQ(got.result.valid_bytes, last) << cut;
    EXPECT_EQ(got.result.last_sequence, 5u) << cut;
    ASSERT_EQ(got.records.size(), 5u) << cut;
    for (size_t i = 0; i < 5; ++i) {
      EXPECT_EQ(got.records[i].payload, full.records[i].payload);
    }
  }
}

TEST(WalTest, DamagedOrZeroTailIsATornTail) {
  TempDir dir;
  const std::string path = dir.File("wal");
  std::vector<uint8_t> bytes;
  const std::vector<uint64_t> offsets = WriteLog(path, 4, &bytes);

  // Zeros after the last record (a file extended but never written).
  std::vector<uint8_t> zeros = bytes;
  zeros.resize(bytes.size() + 5000, 0);
  WriteBytes(path, zeros.data(), zeros.size());
  ReadOutcome got = ReadAll(Env::Default(), path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_TRUE(got.result.torn_tail);
  EXPECT_THAT(got.result.torn_reason, HasSubstr("zero bytes"));
  EXPECT_EQ(got.records.size(), 4u);
  EXPECT_EQ(got.result.valid_bytes, bytes.size());

  // The last record reaching the end of the file with a bad checksum, with
  // or without zeros after it.
  for (size_t extra : {0, 100}) {
    std::vector<uint8_t> damaged = bytes;
    damaged[offsets[3] + 20] ^= 0x40;
    damaged.resize(damaged.size() + extra, 0);
    WriteBytes(path, damaged.data(), damaged.size());
    got = ReadAll(Env::Default(), path);
    ASSERT_TRUE(got.status.ok()) << got.status;
    EXPECT_TRUE(got.result.torn_tail);
    EXPECT_EQ(got.records.size(), 3u);
    EXPECT_EQ(got.result.valid_bytes, offsets[3]);
  }
}

TEST(WalTest, FlippedByteInAMiddleRecordIsDataLossNamingTheOffset) {
  TempDir dir;
  const std::string path = dir.File("wal");
  std::vector<uint8_t> bytes;
  const std::vector<uint64_t> offsets = WriteLog(path, 6, &bytes);
  const uint64_t start = offsets[3];
  const uint64_t end = offsets[4];
  for (uint8_t mask : {0x01, 0x80}) {
    for (uint64_t i = start; i < end; ++i) {
      std::vector<uint8_t> damaged = bytes;
      damaged[i] ^= mask;
      WriteBytes(path, damaged.data(), damaged.size());
      ReadOutcome got = ReadAll(Env::Default(), path);
      ASSERT_EQ(got.status.code(), absl::StatusCode::kDataLoss)
          << "byte " << i << " mask " << int{mask} << ": " << got.status;
      EXPECT_THAT(got.status.message(), HasSubstr(path));
      EXPECT_THAT(got.status.message(),
                  HasSubstr(absl::StrCat("offset ", start)));
      EXPECT_EQ(got.records.size(), 3u);
      EXPECT_EQ(got.result.valid_bytes, start);
    }
  }
}

TEST(WalTest, SequenceGapOrRepeatIsDataLoss) {
  TempDir dir;
  const std::string path = dir.File("wal");
  for (uint64_t third : {4, 2, 3 + 1000}) {
    std::vector<uint8_t> bytes = Header(0);
    PutRecord(bytes, 1, 1, "a");
    PutRecord(bytes, 1, 2, "b");
    const uint64_t offset = bytes.size();
    PutRecord(bytes, 1, third, "c");  // the last record: still not a torn tail
    WriteBytes(path, bytes.data(), bytes.size());
    ReadOutcome got = ReadAll(Env::Default(), path);
    ASSERT_EQ(got.status.code(), absl::StatusCode::kDataLoss) << third;
    EXPECT_THAT(got.status.message(),
                HasSubstr(absl::StrCat("offset ", offset)));
    EXPECT_THAT(got.status.message(), HasSubstr("expected 3"));
    EXPECT_EQ(got.records.size(), 2u);
  }
  // The first record must follow the header's first_sequence.
  std::vector<uint8_t> bytes = Header(10);
  PutRecord(bytes, 1, 12, "a");
  WriteBytes(path, bytes.data(), bytes.size());
  EXPECT_EQ(ReadAll(Env::Default(), path).status.code(),
            absl::StatusCode::kDataLoss);
}

TEST(WalTest, BadHeaderIsDataLoss) {
  TempDir dir;
  const std::string path = dir.File("wal");
  const std::vector<uint8_t> good = Header(0);
  std::vector<uint8_t> garbage(64);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = uint8_t(i * 91 + 7);
  std::vector<uint8_t> magic = good;
  magic[3] = 'X';
  std::vector<uint8_t> sum = good;
  sum[17] ^= 1;  // first_sequence, under the checksum
  const std::vector<std::pair<std::string, std::vector<uint8_t>>> headers = {
      {"garbage", garbage},
      {"magic", magic},
      {"version", Header(0, 2)},
      {"reserved", Header(0, 1, 5)},
      {"checksum", sum}};
  std::vector<std::pair<std::string, std::vector<uint8_t>>> cases = {
      {"empty", {}}, {"short", {good.begin(), good.begin() + 20}}};
  for (auto [name, bytes] : headers) {
    PutRecord(bytes, 1, 1, "payload");
    cases.emplace_back(name, std::move(bytes));
  }
  for (const auto& [name, bytes] : cases) {
    WriteBytes(path, bytes.data(), bytes.size());
    ReadOutcome got = ReadAll(Env::Default(), path);
    EXPECT_EQ(got.status.code(), absl::StatusCode::kDataLoss) << name;
    EXPECT_THAT(got.status.message(), HasSubstr(path)) << name;
    EXPECT_TRUE(got.records.empty()) << name;
  }
  EXPECT_EQ(ReadAll(Env::Default(), dir.File("missing")).status.code(),
            absl::StatusCode::kNotFound);
}

TEST(WalTest, CallbackErrorStopsTheRead) {
  TempDir dir;
  const std::string path = dir.File("wal");
  std::vector<uint8_t> bytes;
  WriteLog(path, 5, &bytes);
  int calls = 0;
  WalReadResult result;
  absl::Status status = ReadWal(
      Env::Default(), path,
      [&](const WalRecord& r) {
        ++calls;
        return r.sequence == 3 ? absl::AbortedError("stop") : absl::OkStatus();
      },
      &result);
  EXPECT_EQ(status, absl::AbortedError("stop"));
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(result.records, 2u);
}

TEST(WalTest, OpenForAppendAfterATornTailContinuesCleanly) {
  TempDir dir;
  const std::string path = dir.File("wal");
  {
    auto w = WalWriter::Create(Env::Default(), path, 50);
    ASSERT_TRUE(w.ok()) << w.status();
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE((*w)->Append(1, RandomPayload(300, i), false).ok());
    ASSERT_TRUE((*w)->Close().ok());
  }
  const uint64_t size = *Env::Default()->FileSize(path);
  ASSERT_TRUE(Env::Default()->TruncateFile(path, size - 100).ok());
  ReadOutcome got = ReadAll(Env::Default(), path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_TRUE(got.result.torn_tail);
  ASSERT_EQ(got.result.last_sequence, 54u);

  EXPECT_EQ(
      WalWriter::OpenForAppend(Env::Default(), path, 10, 55).status().code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      WalWriter::OpenForAppend(Env::Default(), path, size, 55).status().code(),
      absl::StatusCode::kInvalidArgument);

  auto w = WalWriter::OpenForAppend(
      Env::Default(), path, got.result.valid_bytes, got.result.next_sequence());
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ((*w)->bytes(), got.result.valid_bytes);
  EXPECT_EQ(*(*w)->Append(9, "after", true), 55u);
  EXPECT_EQ(*(*w)->AppendBatch({{9, "b1"}, {9, ""}}, false), 56u);
  ASSERT_TRUE((*w)->Close().ok());

  ReadOutcome again = ReadAll(Env::Default(), path);
  ASSERT_TRUE(again.status.ok()) << again.status;
  EXPECT_FALSE(again.result.torn_tail);
  ASSERT_EQ(again.records.size(), 7u);
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(again.records[i].payload, got.records[i].payload);
  }
  EXPECT_EQ(again.records[4].sequence, 55u);
  EXPECT_EQ(again.records[4].payload, "after");
  EXPECT_EQ(again.records[6].sequence, 57u);
  EXPECT_EQ(again.result.first_sequence, 50u);
}

}  // namespace
}  // namespace cairn
