// The WAL through a fault-injection Env: acknowledged records survive every
// failure, a full disk cuts the failed group and later appends work, other
// write errors poison, a failed sync is never retried.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "storage/fault_injection_env.h"
#include "storage/wal.h"
#include "tests/test_util.h"
#include "tests/wal_test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::RandomPayload;
using ::cairn::testing::ReadAll;
using ::cairn::testing::ReadOutcome;
using ::cairn::testing::TempDir;
using ::testing::HasSubstr;

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
