// Fault injection through the storage seam: a scenario of inserts, a flush
// that splits postings, deletes, a compaction that merges postings and
// checkpoints, and a final checkpoint is run once to count its IO operations,
// then once per operation with that operation failing (EIO). After each
// failure the unsynced data is dropped (a power cut) and the index must
// reopen cleanly with every acknowledged write in place.
#include <gtest/gtest.h>

#include <filesystem>
#include <cstdlib>
#include <set>

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

}  // namespace
}  // namespace cairn::testing
