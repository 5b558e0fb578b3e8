// The point store after crashes and damage: torn tails, corruption, stale
// files, every IO operation of Apply, Compact and Open failing in turn, and
// arbitrary bytes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "storage/checksum.h"
#include "storage/fault_injection_env.h"
#include "storage/point_store.h"
#include "tests/point_store_test_util.h"

namespace cairn {
namespace {

using namespace ::cairn::testing;  // the helpers of point_store_test_util.h
using ::testing::HasSubstr;

TEST(PointStoreRecoveryTest, TornTailIsDroppedAndTruncated) {
  const std::vector<Batch> batches = BaseBatches();
  // Cut points inside the last batch (k3 = {e put, c delete}: the delete
  // record comes first).
  const uint64_t delete_c = PointRecordBytes(1, 0, 0);
  struct Case {
    const char* name;
    uint64_t cut_into_last;  // bytes of the last batch that survive
  };
  for (const Case& c : {Case{"mid-header", 5}, Case{"one-record", delete_c},
                        Case{"mid-second", delete_c + 40}}) {
    SCOPED_TRACE(c.name);
    DiskTempDir dir;
    const std::vector<uint64_t> sizes = BuildLog(dir.path(), batches);
    ASSERT_EQ(sizes.size(), 4u);
    const std::string path = LogPath(dir.path(), 1);
    ASSERT_EQ(::truncate(path.c_str(), sizes[2] + c.cut_into_last), 0);
    {
      auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
      ASSERT_NE(store, nullptr);
      EXPECT_EQ(ReadAll(*store), StateAfter(batches, 2));
      EXPECT_EQ(store->stats().torn_bytes_dropped, c.cut_into_last);
      EXPECT_EQ(std::filesystem::file_size(path), sizes[2]);
      ASSERT_TRUE(store->Apply({{"after", Rec("x", "y")}}, {}).ok());
    }
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    Contents expected = StateAfter(batches, 2);
    expected["after"] = Rec("x", "y");
    EXPECT_EQ(ReadAll(*store), expected);
    EXPECT_EQ(store->stats().torn_bytes_dropped, 0u);
  }
  {
    SCOPED_TRACE("zeros after the last batch");
    DiskTempDir dir;
    const std::vector<uint64_t> sizes = BuildLog(dir.path(), batches);
    ASSERT_EQ(sizes.size(), 4u);
    const std::string path = LogPath(dir.path(), 1);
    ASSERT_EQ(::truncate(path.c_str(), sizes[3] + 4096), 0);
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(ReadAll(*store), StateAfter(batches, 3));
    EXPECT_EQ(std::filesystem::file_size(path), sizes[3]);
  }
}

TEST(PointStoreRecoveryTest, CorruptionInTheMiddleIsDataLossNamingTheFile) {
  const std::vector<Batch> batches = BaseBatches();
  // Offsets inside the first record (at 32): a payload byte, the checksum,
  // the length field, the type byte, the sequence number.
  // The first record (key "a", payload "pa", vector "va") is 37 bytes.
  for (uint64_t offset : {32 + 24 + 2, 32 + 29 + 3, 32 + 1, 32 + 4, 32 + 9}) {
    SCOPED_TRACE(offset);
    DiskTempDir dir;
    const std::vector<uint64_t> sizes = BuildLog(dir.path(), batches);
    ASSERT_EQ(sizes.size(), 4u);
    const std::string path = LogPath(dir.path(), 1);
    FlipByte(path, offset);
    absl::StatusOr<std::unique_ptr<PointStore>> s =
        PointStore::Open(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_TRUE(absl::IsDataLoss(s.status())) << s.status();
    EXPECT_THAT(s.status().message(), HasSubstr(path));
    EXPECT_THAT(s.status().message(), HasSubstr("offset 32"));
    // Nothing was repaired or truncated.
    EXPECT_EQ(std::filesystem::file_size(path), sizes.back());
  }
}

TEST(PointStoreRecoveryTest, GetVerifiesTheChecksum) {
  DiskTempDir dir;
  auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(
      store
          ->Apply({{"a", Rec("payload-a", "vec-a")}, {"b", Rec("pb", "vb")}},
                  {})
          .ok());
  const std::string path = LogPath(dir.path(), 1);
  // Damage a's payload behind the store's back (pwrite, as a bad disk would).
  FlipByte(path, 32 + 24 + 1 + 3);
  absl::StatusOr<std::optional<PointRecord>> got = store->Get("a");
  ASSERT_TRUE(absl::IsDataLoss(got.status())) << got.status();
  EXPECT_THAT(got.status().message(), HasSubstr(path));
  EXPECT_THAT(got.status().message(), HasSubstr("offset 32"));
  got = store->Get("b");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(**got, Rec("pb", "vb"));
  // Compaction refuses to copy a damaged record, and leaves the store usable.
  absl::Status s = store->Compact();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_FALSE(store->stats().failed);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>({"points.1.log"}));
  EXPECT_TRUE(store->Apply({{"c", Rec("", "")}}, {}).ok());
}

TEST(PointStoreRecoveryTest, BadHeadersAreDataLoss) {
  struct Case {
    const char* name;
    std::vector<uint8_t> header;
    uint64_t file_generation;
    const char* message;
  };
  std::vector<uint8_t> bad_magic = Header(1);
  bad_magic[0] = 'X';
  bad_magic.resize(24);
  Put<uint64_t>(bad_magic, Checksum64(bad_magic.data(), 24));
  std::vector<uint8_t> bad_sum = Header(1);
  bad_sum[30] ^= 1;
  std::vector<uint8_t> short_header = Header(1);
  short_header.resize(20);
  for (const Case& c : {
           Case{"magic", bad_magic, 1, "bad magic"},
           Case{"version", Header(1, 2), 1, "version 2"},
           Case{"checksum", bad_sum, 1, "checksum"},
           Case{"generation", Header(1), 2, "generation"},
           Case{"short", short_header, 1, "truncated"},
       }) {
    SCOPED_TRACE(c.name);
    DiskTempDir dir;
    const std::string path = LogPath(dir.path(), c.file_generation);
    WriteBytes(path, c.header.data(), c.header.size());
    absl::StatusOr<std::unique_ptr<PointStore>> s =
        PointStore::Open(Env::Default(), dir.path(), {});
    ASSERT_TRUE(absl::IsDataLoss(s.status())) << s.status();
    EXPECT_THAT(s.status().message(), HasSubstr(path));
    EXPECT_THAT(s.status().message(), HasSubstr(c.message));
  }
}

TEST(PointStoreRecoveryTest, DamagedNewestGenerationDoesNotFallBackSilently) {
  DiskTempDir dir;
  ASSERT_EQ(BuildLog(dir.path(), BaseBatches()).size(), 4u);
  std::vector<uint8_t> newer = Header(2);
  newer[8] = 9;  // version
  WriteBytes(LogPath(dir.path(), 2), newer.data(), newer.size());
  absl::StatusOr<std::unique_ptr<PointStore>> s =
      PointStore::Open(Env::Default(), dir.path(), {});
  ASSERT_TRUE(absl::IsDataLoss(s.status())) << s.status();
  EXPECT_THAT(s.status().message(), HasSubstr("points.2.log"));
  // The older generation is kept for whoever investigates.
  EXPECT_TRUE(std::filesystem::exists(LogPath(dir.path(), 1)));
}

TEST(PointStoreRecoveryTest, OpenRemovesLeftoversOfACrash) {
  DiskTempDir dir;
  ASSERT_EQ(BuildLog(dir.path(), BaseBatches()).size(), 4u);
  // A newer generation wins over an older one; temporaries are unfinished.
  std::filesystem::rename(LogPath(dir.path(), 1), LogPath(dir.path(), 5));
  std::vector<uint8_t> header5 = Header(5);
  {
    std::vector<uint8_t> bytes = ReadBytes(LogPath(dir.path(), 5));
    std::copy(header5.begin(), header5.end(), bytes.begin());
    WriteBytes(LogPath(dir.path(), 5), bytes.data(), bytes.size());
  }
  std::vector<uint8_t> old = Header(4);
  PutRecord(old, 1 | 0x80, 1, "stale", "", "");
  WriteBytes(LogPath(dir.path(), 4), old.data(), old.size());
  WriteBytes(dir.File("points.6.tmp"), "junk", 4);
  WriteBytes(dir.File("points.5.tmp"), "junk", 4);
  WriteBytes(dir.File("unrelated.txt"), "keep", 4);
  auto store = OpenOrDie(Env::Default(), dir.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(*store), StateAfter(BaseBatches(), 3));
  EXPECT_EQ(DirEntries(dir.path()),
            std::vector<std::string>({"points.5.log", "unrelated.txt"}));
}

// A fault-injection run: what the store acknowledged, then the state after
// a crash.
enum class Crash { kProcess, kPowerCut };

// Reopens `dir` after a simulated crash and checks that the contents are
// `acked` or, when `maybe` is set (an unacknowledged batch), possibly
// `maybe`.
void ExpectRecovered(const std::string& dir, const Contents& acked,
                     const std::optional<Contents>& maybe,
                     const std::string& trace) {
  SCOPED_TRACE(trace);
  auto store = OpenOrDie(Env::Default(), dir, NoAutoCompact());
  ASSERT_NE(store, nullptr);
  const Contents got = ReadAll(*store);
  if (!maybe.has_value() || got != *maybe) {
    EXPECT_EQ(got, acked) << "neither the acknowledged state nor the pending "
                             "batch applied in full";
  }
  // No temporary file or old generation survives a reopen.
  EXPECT_EQ(DirEntries(dir).size(), 1u);
}

std::string Describe(const FaultInjectionEnv& env) {
  std::string out;
  for (const std::string& line : env.operation_log()) {
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

TEST(PointStoreFaultTest, BatchesAreAllOrNothingWhenAnyApplyOperationFails) {
  const std::vector<Batch> base = BaseBatches();
  // Overwrites, a new key, and deletes of present and absent keys.
  const Batch pending{{{"b", Rec("pb3", "vb3")},
                       {"f", Rec(std::string(70000, 'f'), "vf")},
                       {"e", Rec("pe2", "")}},
                      {"d", "zz"}};
  const Batch later{{{"g", Rec("pg", "vg")}}, {"b"}};
  int runs = 0;
  for (bool partial : {false, true}) {
    for (Crash crash : {Crash::kProcess, Crash::kPowerCut}) {
      for (uint64_t n = 1;; ++n) {
        const std::string trace =
            absl::StrCat("partial=", partial,
                         " crash=", static_cast<int>(crash), " fail op ", n);
        SCOPED_TRACE(trace);
        DiskTempDir dir;
        FaultInjectionEnv env(Env::Default());
        env.set_partial_appends(partial);
        Contents acked;
        std::optional<Contents> maybe;
        bool injected;
        std::string log;
        {
          auto store = OpenOrDie(&env, dir.path(), NoAutoCompact());
          ASSERT_NE(store, nullptr);
          for (const Batch& b : base) {
            ASSERT_TRUE(store->Apply(b.puts, b.deletes).ok());
            ApplyTo(b, &acked);
          }
          env.ResetCounter();
          env.FailNth(n);
          const absl::Status s = store->Apply(pending.puts, pending.deletes);
          if (s.ok()) {
            ApplyTo(pending, &acked);
          } else {
            EXPECT_THAT(s.message(), HasSubstr("injected"));
            maybe = acked;
            ApplyTo(pending, &*maybe);
            // Readers never see the failed batch...
            EXPECT_EQ(ReadAll(*store), acked);
            EXPECT_TRUE(store->stats().failed);
          }
          const absl::Status s2 = store->Apply(later.puts, later.deletes);
          if (!s.ok()) {
            // ...and the store refuses writes until reopened.
            EXPECT_EQ(s2, s);
          } else if (s2.ok()) {
            ApplyTo(later, &acked);
          } else {
            maybe = acked;
            ApplyTo(later, &*maybe);
          }
          injected = env.failures_injected() > 0;
          env.ClearFaults();
          log = Describe(env);
        }
        if (crash == Crash::kPowerCut) {
          ASSERT_TRUE(env.DropUnsyncedData().ok());
        }
        ExpectRecovered(dir.path(), acked, maybe, log);
        ++runs;
        if (!injected) break;
        ASSERT_LT(n, 20u) << "Apply does more IO than expected";
      }
    }
  }
  EXPECT_GE(runs, 4 * 3);
}

TEST(PointStoreFaultTest, CompactionLeavesOldOrNewStateWhenAnyOperationFails) {
  // A store with garbage: overwritten and deleted points.
  std::vector<Batch> base = BaseBatches();
  for (int r = 0; r < 3; ++r) {
    Batch b;
    for (int i = 0; i < 6; ++i) {
      b.puts.push_back({absl::StrCat("p", i),
                        Rec(absl::StrCat("round", r), std::string(100, 'v'))});
    }
    b.deletes.push_back(absl::StrCat("q", r));
    b.puts.push_back({absl::StrCat("q", r + 1), Rec("q", "")});
    base.push_back(b);
  }
  const Batch later{{{"g", Rec("pg", "vg")}}, {"p0"}};
  for (bool sticky : {false, true}) {
    for (Crash crash : {Crash::kProcess, Crash::kPowerCut}) {
      for (uint64_t n = 1;; ++n) {
        const std::string trace =
            absl::StrCat("sticky=", sticky, " crash=", static_cast<int>(crash),
                         " fail op ", n);
        SCOPED_TRACE(trace);
        DiskTempDir dir;
        FaultInjectionEnv env(Env::Default());
        env.set_partial_appends(true);
        Contents acked;
        std::optional<Contents> maybe;
        bool injected;
        std::string log;
        {
          auto store = OpenOrDie(&env, dir.path(), NoAutoCompact());
          ASSERT_NE(store, nullptr);
          for (const Batch& b : base) {
            ASSERT_TRUE(store->Apply(b.puts, b.deletes).ok());
            ApplyTo(b, &acked);
          }
          env.ResetCounter();
          if (sticky) {
            env.FailFrom(n);
          } else {
            env.FailNth(n);
          }
          const absl::Status s = store->Compact();
          injected = env.failures_injected() > 0;
          if (!sticky) env.ClearFaults();
          log = Describe(env);
          if (!injected) {
            EXPECT_TRUE(s.ok()) << s;
          }
          // Whatever happened, readers see the same points.
          EXPECT_EQ(ReadAll(*store), acked);
          const absl::Status s2 = store->Apply(later.puts, later.deletes);
          if (s2.ok()) {
            ApplyTo(later, &acked);
          } else {
            maybe = acked;
            ApplyTo(later, &*maybe);
          }
          env.ClearFaults();
        }
        if (crash == Crash::kPowerCut) {
          ASSERT_TRUE(env.DropUnsyncedData().ok());
        }
        ExpectRecovered(dir.path(), acked, maybe, log);
        if (!injected) break;
        ASSERT_LT(n, 100u) << "Compact does more IO than expected";
      }
    }
  }
}

TEST(PointStoreFaultTest, OpenSurvivesFailuresWhileRecoveringATornTail) {
  const std::vector<Batch> batches = BaseBatches();
  for (uint64_t n = 1;; ++n) {
    SCOPED_TRACE(n);
    DiskTempDir dir;
    const std::vector<uint64_t> sizes = BuildLog(dir.path(), batches);
    ASSERT_EQ(sizes.size(), 4u);
    ASSERT_EQ(::truncate(LogPath(dir.path(), 1).c_str(), sizes[3] - 3), 0);
    FaultInjectionEnv env(Env::Default());
    env.FailNth(n);
    absl::StatusOr<std::unique_ptr<PointStore>> s =
        PointStore::Open(&env, dir.path(), NoAutoCompact());
    const bool injected = env.failures_injected() > 0;
    EXPECT_EQ(s.ok(), !injected) << s.status();
    s = absl::StatusOr<std::unique_ptr<PointStore>>(nullptr);
    ExpectRecovered(dir.path(), StateAfter(batches, 2), std::nullopt,
                    Describe(env));
    if (!injected) break;
    ASSERT_LT(n, 20u);
  }
}

TEST(PointStoreRecoveryTest, NeverCrashesOnDamagedFiles) {
  const std::vector<Batch> batches = BaseBatches();
  DiskTempDir src;
  const std::vector<uint64_t> sizes = BuildLog(src.path(), batches);
  ASSERT_EQ(sizes.size(), 4u);
  const std::vector<uint8_t> good = ReadBytes(LogPath(src.path(), 1));
  Rng rng(42);
  int opened = 0;
  for (int iter = 0; iter < 300; ++iter) {
    SCOPED_TRACE(iter);
    std::vector<uint8_t> bytes = good;
    const int kind = iter % 3;
    if (kind == 0) {
      // Truncation is always a torn tail: the state after some batches.
      bytes.resize(rng.Next() % (bytes.size() + 1));
    } else if (kind == 1) {
      for (int i = 0, flips = 1 + rng.Next() % 3; i < flips; ++i) {
        bytes[rng.Next() % bytes.size()] ^=
            static_cast<uint8_t>(1 + rng.Next() % 255);
      }
    } else {
      const size_t at = rng.Next() % bytes.size();
      const size_t n = std::min<size_t>(1 + rng.Next() % 64, bytes.size() - at);
      for (size_t i = 0; i < n; ++i)
        bytes[at + i] = static_cast<uint8_t>(rng.Next());
    }
    DiskTempDir dir;
    WriteBytes(LogPath(dir.path(), 1), bytes.data(), bytes.size());
    PointStoreOptions o = NoAutoCompact();
    o.sync = false;
    absl::StatusOr<std::unique_ptr<PointStore>> s =
        PointStore::Open(Env::Default(), dir.path(), o);
    if (kind == 0 && bytes.size() >= kPointLogHeaderBytes) {
      ASSERT_TRUE(s.ok()) << s.status();
      const Contents got = ReadAll(**s);
      size_t k = 0;
      while (k < sizes.size() && sizes[k] <= bytes.size()) ++k;
      EXPECT_EQ(got, StateAfter(batches, k - 1)) << bytes.size() << " bytes";
    }
    if (!s.ok()) {
      EXPECT_TRUE(absl::IsDataLoss(s.status())) << s.status();
      continue;
    }
    ++opened;
    for (const std::string& key : (*s)->Keys("", 100)) {
      const auto r = (*s)->Get(key);
      EXPECT_TRUE(r.ok() || absl::IsDataLoss(r.status())) << r.status();
    }
  }
  EXPECT_GT(opened, 100);
}

// A full disk: whichever operation of a batch runs out of space (with a
// short write, or a sync), the batch fails, nothing of it is visible, the
// store takes the next batch, and a reopen (after a power cut too) shows
// exactly the acknowledged batches.
TEST(PointStoreFaultTest, DiskFullFailsTheBatchAndLaterBatchesSucceed) {
  const std::vector<Batch> base = BaseBatches();
  const Batch pending{{{"b", Rec("pb3", "vb3")}, {"f", Rec(std::string(70000, 'f'), "vf")}}, {"d"}};
  const Batch later{{{"g", Rec("pg", "vg")}}, {"b"}};
  int failed_runs = 0;
  for (bool sync : {true, false}) {
    for (uint64_t n = 1;; ++n) {
      SCOPED_TRACE(absl::StrCat("sync=", sync, " no space at op ", n));
      DiskTempDir dir;
      FaultInjectionEnv env(Env::Default());
      env.set_partial_appends(true);
      PointStoreOptions options = NoAutoCompact();
      options.sync = sync;
      Contents acked;
      bool injected;
      std::string log;
      {
        auto store = OpenOrDie(&env, dir.path(), options);
        ASSERT_NE(store, nullptr);
        for (const Batch& b : base) {
          ASSERT_TRUE(store->Apply(b.puts, b.deletes).ok());
          ApplyTo(b, &acked);
        }
        env.ResetCounter();
        env.FailNth(n, ENOSPC);
        const absl::Status s = store->Apply(pending.puts, pending.deletes);
        injected = env.failures_injected() > 0;
        env.ClearFaults();
        if (s.ok()) {
          ApplyTo(pending, &acked);
        } else {
          ++failed_runs;
          EXPECT_TRUE(IsOutOfSpace(s)) << s;
          EXPECT_FALSE(store->stats().failed);
          EXPECT_EQ(ReadAll(*store), acked);
        }
        // Space is back.
        ASSERT_TRUE(store->Apply(later.puts, later.deletes).ok());
        ApplyTo(later, &acked);
        EXPECT_EQ(ReadAll(*store), acked);
        log = Describe(env);
      }
      // Unsynced batches survive a process crash only.
      if (sync) {
        ASSERT_TRUE(env.DropUnsyncedData().ok());
      }
      ExpectRecovered(dir.path(), acked, std::nullopt, log);
      if (!injected) break;
      ASSERT_LT(n, 20u);
    }
  }
  EXPECT_GE(failed_runs, 4);
}

TEST(PointStoreFaultTest, BatchRefusedBeforePublishIsUndone) {
  DiskTempDir dir;
  Contents acked;
  {
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    for (const Batch& b : BaseBatches()) {
      ASSERT_TRUE(store->Apply(b.puts, b.deletes).ok());
      ApplyTo(b, &acked);
    }
    const std::vector<std::string> last = store->LastBatchPuts();
    const uint64_t bytes = store->stats().file_bytes;
    bool ran = false;
    const absl::Status s =
        store->Apply({{"a", Rec("new", "new")}, {"zz", Rec("z", "z")}}, {"b"}, [&] {
          ran = true;
          // Not visible yet.
          EXPECT_FALSE(store->Contains("zz"));
          return absl::UnavailableError("index said no");
        });
    EXPECT_TRUE(ran);
    EXPECT_EQ(s, absl::UnavailableError("index said no"));
    EXPECT_EQ(ReadAll(*store), acked);
    EXPECT_EQ(store->LastBatchPuts(), last);
    EXPECT_EQ(store->stats().file_bytes, bytes);
    EXPECT_FALSE(store->stats().failed);
    ASSERT_TRUE(store->Apply({{"c", Rec("pc", "")}}, {}, [] { return absl::OkStatus(); }).ok());
    acked["c"] = Rec("pc", "");
  }
  ExpectRecovered(dir.path(), acked, std::nullopt, "reopen");
}

}  // namespace
}  // namespace cairn
