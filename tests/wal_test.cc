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

namespace cairn {
namespace {

using ::cairn::testing::Put;
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

std::string RandomPayload(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng.Next());
  return s;
}

struct OwnedRecord {
  uint8_t type;
  uint64_t sequence;
  std::string payload;
  uint64_t offset;
};

struct ReadOutcome {
  absl::Status status;
  WalReadResult result;
  std::vector<OwnedRecord> records;
};

ReadOutcome ReadAll(Env* env, const std::string& path) {
  ReadOutcome out;
  out.status = ReadWal(
      env, path,
      [&](const WalRecord& r) {
        out.records.push_back(
            {r.type, r.sequence, std::string(r.payload), r.offset});
        return absl::OkStatus();
      },
      &out.result);
  return out;
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

// Creates a log through `env` and appends a fixed series of records (some
// synced); records the sequence numbers acknowledged as durable. Checks that
// the first failure poisons the writer.
struct Scenario {
  bool created = false;
  bool failed = false;
  std::vector<uint64_t> durable;      // acknowledged as synced
  std::vector<std::string> payloads;  // by sequence - 1
};

std::string ScenarioPayload(int i) {
  return absl::StrCat("record ", i, RandomPayload(i * 50, i));
}

Scenario RunScenario(FaultInjectionEnv* env, const std::string& path) {
  Scenario s;
  for (int i = 0; i < 8; ++i) s.payloads.push_back(ScenarioPayload(i));
  auto writer = WalWriter::Create(env, path, 0);
  if (!writer.ok()) {
    s.failed = true;
    return s;
  }
  s.created = true;
  WalWriter& w = **writer;
  std::vector<uint64_t> unsynced;
  absl::Status error;
  auto check_poisoned = [&](const absl::Status& status) {
    error = status;
    s.failed = true;
    const uint64_t ops = env->operation_count();
    EXPECT_EQ(w.Append(1, "more", true).status(), error);
    EXPECT_EQ(w.Sync(), error);
    EXPECT_EQ(w.AppendBatch({{1, "x"}}, true).status(), error);
    // Nothing was attempted again: in particular no fsync retried.
    EXPECT_EQ(env->operation_count(), ops);
  };
  for (int i = 0; i < 8 && !s.failed; ++i) {
    const bool sync = i % 3 != 1;
    absl::StatusOr<uint64_t> seq;
    if (i == 5) {
      seq = w.AppendBatch({{2, s.payloads[5]}, {2, s.payloads[6]}}, sync);
      ++i;
    } else {
      seq = w.Append(1, s.payloads[i], sync);
    }
    if (!seq.ok()) {
      check_poisoned(seq.status());
      break;
    }
    for (uint64_t q = *seq; q <= static_cast<uint64_t>(i) + 1; ++q) {
      unsynced.push_back(q);
    }
    if (sync) {
      s.durable.insert(s.durable.end(), unsynced.begin(), unsynced.end());
      unsynced.clear();
    }
  }
  if (!s.failed) {
    absl::Status status = w.Sync();
    if (status.ok()) {
      s.durable.insert(s.durable.end(), unsynced.begin(), unsynced.end());
    } else {
      check_poisoned(status);
    }
  }
  absl::Status closed = w.Close();
  if (!error.ok()) {
    EXPECT_EQ(closed, error);
  }
  if (!closed.ok()) s.failed = true;
  return s;
}

TEST(WalFaultTest, AcknowledgedSyncedRecordsSurviveEveryFailure) {
  TempDir dir;
  uint64_t total_ops;
  {
    FaultInjectionEnv env(Env::Default());
    Scenario clean = RunScenario(&env, dir.File("clean"));
    ASSERT_FALSE(clean.failed);
    ASSERT_EQ(clean.durable.size(), 8u);
    total_ops = env.operation_count();
  }
  for (bool partial : {false, true}) {
    for (uint64_t n = 1; n <= total_ops; ++n) {
      SCOPED_TRACE(absl::StrCat("failing operation ", n,
                                partial ? " with partial appends" : ""));
      const std::string path = dir.File(absl::StrCat("wal", n, partial));
      FaultInjectionEnv env(Env::Default());
      env.set_partial_appends(partial);
      env.FailNth(n);
      Scenario s = RunScenario(&env, path);
      EXPECT_EQ(env.failures_injected(), 1u);
      EXPECT_TRUE(s.failed);
      ASSERT_TRUE(env.DropUnsyncedData().ok());
      if (!s.created) {
        EXPECT_FALSE(env.FileExists(path));
        continue;
      }
      ReadOutcome got = ReadAll(&env, path);
      ASSERT_TRUE(got.status.ok()) << got.status;
      for (size_t i = 0; i < got.records.size(); ++i) {
        EXPECT_EQ(got.records[i].sequence, i + 1);
        EXPECT_EQ(got.records[i].payload, s.payloads[i]);
      }
      for (uint64_t seq : s.durable) {
        EXPECT_LE(seq, got.records.size()) << "lost synced record " << seq;
      }
      // Recovery can always continue the log.
      auto w = WalWriter::OpenForAppend(&env, path, got.result.valid_bytes,
                                        got.result.next_sequence());
      ASSERT_TRUE(w.ok()) << w.status();
      ASSERT_TRUE((*w)->Append(3, "recovered", true).ok());
      ASSERT_TRUE((*w)->Close().ok());
      ReadOutcome again = ReadAll(&env, path);
      ASSERT_TRUE(again.status.ok()) << again.status;
      EXPECT_FALSE(again.result.torn_tail);
      ASSERT_EQ(again.records.size(), got.records.size() + 1);
      EXPECT_EQ(again.records.back().payload, "recovered");
    }
  }
}

TEST(WalFaultTest, DiskFullCutsTheFailedGroupAndTakesLaterAppends) {
  TempDir dir;
  const std::string path = dir.File("wal");
  FaultInjectionEnv env(Env::Default());
  env.set_partial_appends(true);
  auto w = WalWriter::Create(&env, path, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Append(1, "before", true).ok());
  const uint64_t bytes_before = (*w)->bytes();
  // Each failing operation in turn: the append (half of it reaches the
  // file), then the sync.
  for (uint64_t skip : {0, 1}) {
    SCOPED_TRACE(skip);
    env.FailNth(env.operation_count() + 1 + skip, ENOSPC);
    absl::StatusOr<uint64_t> seq = (*w)->Append(1, std::string(5000, 'x'), true);
    ASSERT_FALSE(seq.ok());
    EXPECT_EQ(seq.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_TRUE(IsOutOfSpace(seq.status())) << seq.status();
    EXPECT_THAT(seq.status().message(), HasSubstr("disk full"));
    env.ClearFaults();
    EXPECT_TRUE((*w)->status().ok()) << (*w)->status();
    EXPECT_EQ((*w)->bytes(), bytes_before);
    EXPECT_EQ(*env.FileSize(path), bytes_before);
  }
  absl::StatusOr<uint64_t> after = (*w)->Append(1, "after", true);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, 2u);  // numbering continues after the cut
  ASSERT_TRUE((*w)->Close().ok());
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  ReadOutcome got = ReadAll(&env, path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  EXPECT_FALSE(got.result.torn_tail);
  ASSERT_EQ(got.records.size(), 2u);
  EXPECT_EQ(got.records[0].payload, "before");
  EXPECT_EQ(got.records[1].payload, "after");
}

TEST(WalFaultTest, DiskFullAtSyncAlsoCutsUnsyncedRecordsBeforeIt) {
  TempDir dir;
  const std::string path = dir.File("wal");
  FaultInjectionEnv env(Env::Default());
  auto w = WalWriter::Create(&env, path, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Append(1, "synced", true).ok());
  ASSERT_TRUE((*w)->Append(1, "unsynced", false).ok());
  // append, sync: the sync fails. The kernel may have dropped the unsynced
  // record's pages, so it is cut as well.
  env.FailNth(env.operation_count() + 2, ENOSPC);
  absl::StatusOr<uint64_t> seq = (*w)->Append(1, "x", true);
  ASSERT_FALSE(seq.ok());
  EXPECT_TRUE(IsOutOfSpace(seq.status())) << seq.status();
  env.ClearFaults();
  absl::StatusOr<uint64_t> after = (*w)->Append(1, "after", true);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(*after, 2u);
  ASSERT_TRUE((*w)->Close().ok());
  ReadOutcome got = ReadAll(&env, path);
  ASSERT_TRUE(got.status.ok()) << got.status;
  ASSERT_EQ(got.records.size(), 2u);
  EXPECT_EQ(got.records[0].payload, "synced");
  EXPECT_EQ(got.records[1].payload, "after");
}

TEST(WalFaultTest, OtherWriteErrorsPoison) {
  TempDir dir;
  const std::string path = dir.File("wal");
  FaultInjectionEnv env(Env::Default());
  auto w = WalWriter::Create(&env, path, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Append(1, "before", true).ok());
  env.FailNth(env.operation_count() + 1, EIO);
  absl::StatusOr<uint64_t> seq = (*w)->Append(1, "lost", true);
  ASSERT_FALSE(seq.ok());
  env.ClearFaults();
  EXPECT_EQ((*w)->status(), seq.status());
  EXPECT_EQ((*w)->Append(1, "after", true).status(), seq.status());
  EXPECT_EQ((*w)->Close(), seq.status());
}

TEST(WalFaultTest, FailedSyncIsNeverRetried) {
  TempDir dir;
  const std::string path = dir.File("wal");
  FaultInjectionEnv env(Env::Default());
  auto w = WalWriter::Create(&env, path, 0);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Append(1, "unsynced", false).ok());
  // The next operation is the sync of this group (the append of "x" comes
  // first), so fail the one after it.
  env.FailNth(env.operation_count() + 2);
  absl::StatusOr<uint64_t> seq = (*w)->Append(1, "x", true);
  ASSERT_FALSE(seq.ok());
  const size_t failed_at = env.operation_log().size();
  ASSERT_THAT(env.operation_log().back(), HasSubstr("sync"));
  ASSERT_THAT(env.operation_log().back(), HasSubstr("FAILED"));
  env.ClearFaults();
  EXPECT_EQ((*w)->Sync(), seq.status());
  EXPECT_EQ((*w)->Close(), seq.status());
  // The only operation after the failed fsync is the close of the file.
  const std::vector<std::string> log = env.operation_log();
  ASSERT_EQ(log.size(), failed_at + 1);
  EXPECT_THAT(log.back(), HasSubstr("close"));
}

}  // namespace
}  // namespace cairn
