// Fault injection through the storage seam: a scenario of inserts, a flush
// that splits postings, deletes, a compaction that merges postings and
// checkpoints, and a final checkpoint is run once to count its IO operations,
// then once per operation with that operation failing (EIO). After each
// failure the unsynced data is dropped (a power cut) and the index must
// reopen cleanly with every acknowledged write in place.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

#include "absl/time/clock.h"
#include "storage/fault_injection_env.h"
#include "tests/live_test_util.h"
#include "tests/test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

LiveOptions ScenarioOptions(Env* env) {
  LiveOptions o;
  o.env = env;
  o.background = false;
  o.memtable_capacity = 16;
  o.posting_limit = 40;
  o.min_posting = 8;
  o.reassign_k = 8;
  return o;
}

struct Acked {
  std::set<uint64_t> present, absent;
  std::set<uint64_t> bulk_deleted;
};

// Runs the scenario until the first error; records what was acknowledged.
absl::Status Scenario(LiveIndex& index, const FloatMatrix& base, Acked* acked) {
  auto upsert = [&](uint64_t from, uint64_t to) -> absl::Status {
    std::vector<std::vector<float>> vecs;
    std::vector<LiveIndex::Item> items;
    for (uint64_t id = from; id < to; ++id) vecs.push_back(VectorFor(id, base));
    for (uint64_t id = from; id < to; ++id) items.push_back({LiveId(id), vecs[id - from].data()});
    absl::Status s = index.Upsert(items);
    if (s.ok()) {
      for (uint64_t id = from; id < to; ++id) acked->present.insert(id);
    }
    return s;
  };
  for (uint64_t b = 0; b < 60; b += 20) {
    if (auto s = upsert(b, b + 20); !s.ok()) return s;
  }
  if (auto s = index.Flush(); !s.ok()) return s;  // splits
  // Delete a run of bulk rows (they sit in the same postings) and some new ids.
  std::vector<ExternalId> gone;
  for (uint64_t row = 0; row < 300; row += 2) gone.push_back(ExternalId::Number(row));
  for (uint64_t id = 0; id < 60; id += 3) gone.push_back(LiveId(id));
  uint64_t n = 0;
  if (auto s = index.Delete(gone, &n); !s.ok()) return s;
  for (uint64_t row = 0; row < 300; row += 2) acked->bulk_deleted.insert(row);
  for (uint64_t id = 0; id < 60; id += 3) {
    acked->present.erase(id);
    acked->absent.insert(id);
  }
  if (auto s = index.Compact(); !s.ok()) return s;  // cleans, merges, checkpoints
  if (auto s = upsert(60, 80); !s.ok()) return s;
  return index.Checkpoint();
}

void Verify(const std::string& dir, const FloatMatrix& base, const Acked& acked,
            const std::string& when) {
  auto index = LiveIndex::Open(dir, ScenarioOptions(nullptr));
  ASSERT_TRUE(index.ok()) << when << ": reopen failed: " << index.status();
  auto ctx = (*index)->NewContext();
  ASSERT_TRUE(ctx.ok());
  for (uint64_t id : acked.present) {
    auto hits = TopHits(**index, ctx->get(), VectorFor(id, base));
    ASSERT_TRUE(hits.ok()) << when << ": " << hits.status();
    ASSERT_FALSE(hits->empty()) << when;
    ASSERT_EQ((*hits)[0].id, LiveId(id)) << when << ": acknowledged id " << id << " lost";
  }
  for (uint64_t id : acked.absent) {
    auto hits = TopHits(**index, ctx->get(), VectorFor(id, base), 5);
    ASSERT_TRUE(hits.ok());
    for (const auto& h : *hits) ASSERT_NE(h.id, LiveId(id)) << when << ": deleted id " << id;
  }
  for (uint64_t row : acked.bulk_deleted) {
    std::vector<float> v(base.row(row), base.row(row) + base.dim);
    auto hits = TopHits(**index, ctx->get(), v, 3);
    ASSERT_TRUE(hits.ok());
    for (const auto& h : *hits) ASSERT_NE(h.id, ExternalId::Number(row)) << when;
  }
}

TEST(LiveFaultTest, EveryFailedOperationLeavesARecoverableIndex) {
  DiskTempDir tmp;
  FloatMatrix base;
  auto built = BuildSmallIndex(tmp.path(), 300, &base);
  ASSERT_TRUE(built.ok()) << built.status();
  const std::string pristine = *built;

  // Dry run: count operations, and check the scenario really splits, merges
  // and checkpoints.
  uint64_t total_ops = 0;
  {
    const std::string dir = tmp.File("dry");
    fs::copy(pristine, dir, fs::copy_options::recursive);
    FaultInjectionEnv env(Env::Default());
    Acked acked;
    {
      auto index = LiveIndex::Open(dir, ScenarioOptions(&env));
      ASSERT_TRUE(index.ok()) << index.status();
      env.ResetCounter();
      ASSERT_TRUE(Scenario(**index, base, &acked).ok());
      total_ops = env.operation_count();
      const LiveStats st = (*index)->stats();
      EXPECT_GT(st.splits, 0u);
      EXPECT_GT(st.merges, 0u);
      EXPECT_GE(st.checkpoints, 2u);
    }
    Verify(dir, base, acked, "no fault");
  }
  ASSERT_GT(total_ops, 50u);
  std::fprintf(stderr, "scenario: %llu IO operations\n", (unsigned long long)total_ops);
  if (std::getenv("CAIRN_FAULT_DRY_RUN") != nullptr) return;

  for (uint64_t n = 1; n <= total_ops; ++n) {
    const std::string dir = tmp.File("run");
    fs::remove_all(dir);
    fs::copy(pristine, dir, fs::copy_options::recursive);
    FaultInjectionEnv env(Env::Default());
    Acked acked;
    {
      auto index = LiveIndex::Open(dir, ScenarioOptions(&env));
      ASSERT_TRUE(index.ok()) << index.status();
      env.ResetCounter();
      env.FailNth(n);
      absl::Status s = Scenario(**index, base, &acked);
      if (s.ok() && env.failures_injected() > 0) {
        // Only the best-effort cleanup after a committed checkpoint may fail
        // without failing the call (the next open removes the leftovers).
        bool cleanup = false;
        for (const std::string& line : env.operation_log()) {
          cleanup |= line.find("FAILED") != std::string::npos &&
                     line.find("remove") != std::string::npos;
        }
        const auto log = env.operation_log();
        EXPECT_TRUE(cleanup) << "operation " << n << " failed silently: "
                             << (log.empty() ? "" : log[std::min<size_t>(n, log.size()) - 1]);
      }
      env.ClearFaults();
    }
    ASSERT_TRUE(env.DropUnsyncedData().ok());
    Verify(dir, base, acked, "failure at operation " + std::to_string(n));
    if (HasFatalFailure()) return;
  }
}

// A full disk (ENOSPC from every operation from some point on) under
// writes, flushes with splits, and checkpoints: each call that needs the
// disk fails with an out-of-space error and leaves the index healthy and
// searchable; once space returns the same calls succeed, and a reopen has
// every acknowledged write.
TEST(LiveFaultTest, FullDiskFailsCallsCleanlyAndTheyResumeWhenSpaceReturns) {
  DiskTempDir tmp;
  FloatMatrix base;
  auto built = BuildSmallIndex(tmp.path(), 300, &base);
  ASSERT_TRUE(built.ok()) << built.status();
  const std::string dir = *built;
  FaultInjectionEnv env(Env::Default());
  Acked acked;
  int refused = 0;
  {
    auto index = LiveIndex::Open(dir, ScenarioOptions(&env));
    ASSERT_TRUE(index.ok()) << index.status();
    auto ctx = (*index)->NewContext();
    ASSERT_TRUE(ctx.ok());
    auto upsert = [&](uint64_t from, uint64_t to) {
      std::vector<std::vector<float>> vecs;
      std::vector<LiveIndex::Item> items;
      for (uint64_t id = from; id < to; ++id) vecs.push_back(VectorFor(id, base));
      for (uint64_t id = from; id < to; ++id) items.push_back({LiveId(id), vecs[id - from].data()});
      absl::Status s = (*index)->Upsert(items);
      for (uint64_t id = from; id < to; ++id) (s.ok() ? acked.present : acked.absent).insert(id);
      return s;
    };
    auto searchable = [&](const std::string& when) {
      for (uint64_t id : acked.present) {
        auto hits = TopHits(**index, ctx->get(), VectorFor(id, base));
        ASSERT_TRUE(hits.ok()) << when << ": " << hits.status();
        ASSERT_FALSE(hits->empty()) << when;
        ASSERT_EQ((*hits)[0].id, LiveId(id)) << when << ": acknowledged id " << id;
      }
      for (uint64_t id : acked.absent) {
        auto hits = TopHits(**index, ctx->get(), VectorFor(id, base), 3);
        ASSERT_TRUE(hits.ok()) << when;
        for (const auto& h : *hits) ASSERT_NE(h.id, LiveId(id)) << when << ": refused id " << id;
      }
    };
    uint64_t next = 0;
    for (uint64_t k = 1; k <= 40; ++k) {
      const std::string when = "disk full from operation " + std::to_string(k);
      ASSERT_TRUE(upsert(next, next + 12).ok());
      next += 12;
      env.FailFrom(env.operation_count() + k, ENOSPC);
      std::vector<absl::Status> results;
      results.push_back(upsert(next, next + 12));
      next += 12;
      results.push_back((*index)->Flush());  // memtables into postings; splits
      results.push_back((*index)->Checkpoint());
      for (const absl::Status& s : results) {
        if (s.ok()) continue;
        ++refused;
        ASSERT_TRUE(IsOutOfSpace(s)) << when << ": " << s;
      }
      ASSERT_TRUE((*index)->health().ok()) << when << ": " << (*index)->health();
      searchable(when);
      env.ClearFaults();
      ASSERT_TRUE(upsert(next, next + 12).ok()) << when;
      next += 12;
      ASSERT_TRUE((*index)->Flush().ok()) << when;
      ASSERT_TRUE((*index)->Checkpoint().ok()) << when;
      searchable(when + ", space back");
      if (HasFatalFailure()) return;
    }
    EXPECT_GT((*index)->stats().splits, 0u);
  }
  EXPECT_GE(refused, 40);
  Verify(dir, base, acked, "reopen");
}

// With the maintenance thread: once it cannot flush for lack of space and
// the frozen memtables are at their limit, writers get the error instead of
// waiting; when space returns the thread catches up and writes go on.
TEST(LiveFaultTest, FullDiskStopsWritersInsteadOfBlockingThem) {
  DiskTempDir tmp;
  FloatMatrix base;
  auto built = BuildSmallIndex(tmp.path(), 300, &base);
  ASSERT_TRUE(built.ok()) << built.status();
  FaultInjectionEnv env(Env::Default());
  LiveOptions o = ScenarioOptions(&env);
  o.background = true;
  o.max_frozen_memtables = 1;
  auto index = LiveIndex::Open(*built, o);
  ASSERT_TRUE(index.ok()) << index.status();
  auto upsert = [&](uint64_t id) {
    std::vector<float> v = VectorFor(id, base);
    return (*index)->Upsert({{LiveId(id), v.data()}});
  };
  ASSERT_TRUE(upsert(0).ok());
  // Only the postings' file is full, so that the WAL takes the writes and
  // the memtables fill (the WAL's own refusal is tested above).
  env.FailWritesOf(*built + "/postings.dat", ENOSPC);
  absl::Status refused;
  uint64_t id = 1;
  for (; id < 400 && refused.ok(); ++id) refused = upsert(id);
  EXPECT_TRUE(IsOutOfSpace(refused)) << refused;
  EXPECT_TRUE((*index)->health().ok());
  env.ClearFaults();
  absl::Status s;
  for (int attempt = 0; attempt < 200; ++attempt) {
    s = upsert(id);
    if (s.ok()) break;
    absl::SleepFor(absl::Milliseconds(25));
  }
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_TRUE((*index)->space_error().ok());
}

}  // namespace
}  // namespace cairn::testing
