// LiveIndex: writes become searchable, deletes and replacements hide old
// copies, maintenance (flush, split, reassign, merge, compaction) keeps every
// live vector findable, checkpoints and WAL replay survive reopening, damaged
// logs are reported, and a concurrent stress run never returns a deleted id.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "storage/fault_injection_env.h"
#include "tests/live_test_util.h"
#include "tests/spann_test_util.h"

namespace cairn::testing {
namespace {

namespace fs = std::filesystem;

class LiveIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto index = BuildSmallIndex(tmp_.path(), 3000, &base_);
    ASSERT_TRUE(index.ok()) << index.status();
    index_dir_ = *index;
  }

  LiveOptions Small() const {
    LiveOptions o;
    o.memtable_capacity = 64;
    o.posting_limit = 96;
    o.min_posting = 4;
    o.reassign_k = 16;
    return o;
  }

  // Every id in `present` is the exact top hit of its own vector; no id in
  // `absent` is returned for its vector.
  void ExpectState(LiveIndex& index, const std::set<uint64_t>& present,
                   const std::set<uint64_t>& absent, const std::string& when) {
    auto ctx = index.NewContext();
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    for (uint64_t id : present) {
      auto hits = TopHits(index, ctx->get(), VectorFor(id, base_));
      ASSERT_TRUE(hits.ok()) << hits.status();
      ASSERT_FALSE(hits->empty()) << when << ": id " << id;
      EXPECT_EQ((*hits)[0].id, LiveId(id)) << when << ": id " << id << " not found";
      EXPECT_EQ((*hits)[0].distance, 0.0f) << when << ": id " << id;
    }
    for (uint64_t id : absent) {
      auto hits = TopHits(index, ctx->get(), VectorFor(id, base_), 10);
      ASSERT_TRUE(hits.ok()) << hits.status();
      for (const auto& h : *hits) EXPECT_NE(h.id, LiveId(id)) << when << ": deleted id " << id;
    }
  }

  absl::Status Insert(LiveIndex& index, uint64_t from, uint64_t to) {
    std::vector<std::vector<float>> vecs;
    std::vector<LiveIndex::Item> items;
    for (uint64_t id = from; id < to; ++id) vecs.push_back(VectorFor(id, base_));
    for (uint64_t id = from; id < to; ++id) items.push_back({LiveId(id), vecs[id - from].data()});
    return index.Upsert(items);
  }

  DiskTempDir tmp_;
  FloatMatrix base_;
  std::string index_dir_;
};

TEST_F(LiveIndexTest, WritesAreSearchableAtOnceAndAfterFlushCheckpointAndReopen) {
  std::set<uint64_t> present;
  {
    auto index = LiveIndex::Open(index_dir_, Small());
    ASSERT_TRUE(index.ok()) << index.status();
    for (uint64_t b = 0; b < 1500; b += 50) {
      ASSERT_TRUE(Insert(**index, b, b + 50).ok());
      for (uint64_t id = b; id < b + 50; ++id) present.insert(id);
    }
    ExpectState(**index, present, {}, "just acknowledged");
    ASSERT_TRUE((*index)->Flush().ok());
    ExpectState(**index, present, {}, "after flush");
    const LiveStats st = (*index)->stats();
    EXPECT_GT(st.splits, 0u) << "1500 inserts into a 3000-vector index with limit 48 split nothing";
    EXPECT_GT(st.reassign_candidates, 0u);
    EXPECT_EQ(st.live_vectors, 4500u);
    ASSERT_TRUE((*index)->Checkpoint().ok());
    ASSERT_TRUE(Insert(**index, 1500, 1600).ok());  // only in the WAL
    for (uint64_t id = 1500; id < 1600; ++id) present.insert(id);
  }
  auto index = LiveIndex::Open(index_dir_, Small());
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->stats().wal_records_replayed, 100u);
  EXPECT_EQ((*index)->stats().live_vectors, 4600u);
  ExpectState(**index, present, {}, "after reopen");
}

TEST_F(LiveIndexTest, DeletesAndReplacementsHideOldCopies) {
  auto index = LiveIndex::Open(index_dir_, Small());
  ASSERT_TRUE(index.ok()) << index.status();
  ASSERT_TRUE(Insert(**index, 0, 400).ok());
  ASSERT_TRUE((*index)->Flush().ok());
  std::vector<ExternalId> gone;
  std::set<uint64_t> absent, present;
  for (uint64_t id = 0; id < 400; ++id) (id % 3 == 0 ? absent : present).insert(id);
  for (uint64_t id : absent) gone.push_back(LiveId(id));
  gone.push_back(LiveId(999999));  // unknown: not an error
  uint64_t deleted = 0;
  ASSERT_TRUE((*index)->Delete(gone, &deleted).ok());
  EXPECT_EQ(deleted, absent.size());
  ExpectState(**index, present, absent, "after delete");

  // Replace id 1's vector with id 5000's: the old vector no longer finds it.
  const std::vector<float> moved = VectorFor(5000, base_);
  ASSERT_TRUE((*index)->Upsert({{LiveId(1), moved.data()}}).ok());
  auto ctx = (*index)->NewContext();
  ASSERT_TRUE(ctx.ok());
  auto hits = TopHits(**index, ctx->get(), moved);
  ASSERT_TRUE(hits.ok() && !hits->empty());
  EXPECT_EQ((*hits)[0].id, LiveId(1));
  EXPECT_EQ((*hits)[0].distance, 0.0f);
  auto old = TopHits(**index, ctx->get(), VectorFor(1, base_), 10);
  ASSERT_TRUE(old.ok());
  for (const auto& h : *old) {
    if (h.id == LiveId(1)) {
      EXPECT_GT(h.distance, 0.0f) << "the replaced vector is still indexed";
    }
  }
  // Bulk rows are external ids Number(row): deleting one hides it.
  ASSERT_TRUE((*index)->Delete({ExternalId::Number(7)}, &deleted).ok());
  EXPECT_EQ(deleted, 1u);
  std::vector<float> row7(base_.row(7), base_.row(7) + base_.dim);
  auto r = TopHits(**index, ctx->get(), row7, 10);
  ASSERT_TRUE(r.ok());
  for (const auto& h : *r) EXPECT_NE(h.id, ExternalId::Number(7));

  // Compaction drops the stale copies and merges emptied postings.
  const uint64_t before = (*index)->stats().store.live_bytes;
  ASSERT_TRUE((*index)->Compact().ok());
  const LiveStats st = (*index)->stats();
  EXPECT_LT(st.store.live_bytes, before);
  EXPECT_GT(st.cleaned_entries, 0u);
  present.erase(1);
  ExpectState(**index, present, absent, "after compaction");
}

TEST_F(LiveIndexTest, RepeatedUpsertsOfOneIdOutliveTheSevenBitVersion) {
  auto index = LiveIndex::Open(index_dir_, Small());
  ASSERT_TRUE(index.ok()) << index.status();
  std::vector<float> v;
  for (uint64_t round = 0; round < 300; ++round) {
    v = VectorFor(10000 + round, base_);
    ASSERT_TRUE((*index)->Upsert({{LiveId(42), v.data()}}).ok()) << round;
    if (round % 50 == 0) {
      ASSERT_TRUE((*index)->Flush().ok());
    }
  }
  auto ctx = (*index)->NewContext();
  for (uint64_t round = 0; round < 299; ++round) {
    auto hits = TopHits(**index, ctx->get(), VectorFor(10000 + round, base_), 3);
    ASSERT_TRUE(hits.ok());
    for (const auto& h : *hits) {
      if (h.id == LiveId(42)) {
        EXPECT_GT(h.distance, 0.0f) << "stale version " << round << " revived";
      }
    }
  }
  auto last = TopHits(**index, ctx->get(), v);
  ASSERT_TRUE(last.ok() && !last->empty());
  EXPECT_EQ((*last)[0].id, LiveId(42));
  EXPECT_EQ((*last)[0].distance, 0.0f);
  EXPECT_EQ((*index)->stats().live_vectors, 3001u);
}

TEST_F(LiveIndexTest, BadInputIsRejectedWithoutSideEffects) {
  auto index = LiveIndex::Open(index_dir_, Small());
  ASSERT_TRUE(index.ok()) << index.status();
  std::vector<float> good = VectorFor(1, base_), nan = good;
  nan[3] = std::nanf("");
  absl::Status s = (*index)->Upsert({{LiveId(1), good.data()}, {LiveId(2), nan.data()}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("doc-2"), std::string::npos) << s;
  ExpectState(**index, {}, {1, 2}, "after a rejected batch");
  EXPECT_FALSE(ExternalId::String(std::string(257, 'x')).ok());
}

TEST_F(LiveIndexTest, TornWalTailIsDroppedAndCorruptMiddleIsDataLoss) {
  {
    auto index = LiveIndex::Open(index_dir_, Small());
    ASSERT_TRUE(index.ok()) << index.status();
    for (uint64_t id = 0; id < 20; ++id) ASSERT_TRUE(Insert(**index, id, id + 1).ok());
  }
  const std::string wal = index_dir_ + "/wal.1";
  ASSERT_TRUE(fs::exists(wal));
  const uint64_t size = fs::file_size(wal);
  fs::resize_file(wal, size - 5);  // the last record loses its tail
  {
    auto index = LiveIndex::Open(index_dir_, Small());
    ASSERT_TRUE(index.ok()) << index.status();
    EXPECT_EQ((*index)->stats().wal_records_replayed, 19u);
    std::set<uint64_t> present;
    for (uint64_t id = 0; id < 19; ++id) present.insert(id);
    ExpectState(**index, present, {19}, "after a torn tail");
  }
  // The reopen folded the log into a checkpoint; write a new log and damage
  // an early record of it.
  std::string newest;
  {
    auto index = LiveIndex::Open(index_dir_, Small());
    ASSERT_TRUE(index.ok()) << index.status();
    for (uint64_t id = 100; id < 120; ++id) ASSERT_TRUE(Insert(**index, id, id + 1).ok());
  }
  for (const auto& e : fs::directory_iterator(index_dir_)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("wal.", 0) == 0 && fs::file_size(e.path()) > 1000) newest = e.path().string();
  }
  ASSERT_FALSE(newest.empty());
  FlipByte(newest, 200);  // inside an early record, valid records follow
  auto broken = LiveIndex::Open(index_dir_, Small());
  ASSERT_FALSE(broken.ok());
  EXPECT_EQ(broken.status().code(), absl::StatusCode::kDataLoss) << broken.status();
  EXPECT_NE(broken.status().message().find(fs::path(newest).filename().string()), std::string::npos)
      << broken.status();
}

TEST_F(LiveIndexTest, ConcurrentInsertDeleteSearchNeverReturnsDeletedIds) {
  LiveOptions o = Small();
  o.sync_writes = false;  // the stress is about visibility, not fsync
  auto opened = LiveIndex::Open(index_dir_, o);
  ASSERT_TRUE(opened.ok()) << opened.status();
  LiveIndex& index = **opened;
  constexpr uint64_t kIds = 1600;
  // 0 never written, 1 acknowledged, 2 deleted (acknowledged).
  std::vector<std::atomic<int>> state(kIds);
  std::atomic<bool> done{false};
  std::atomic<uint64_t> failures{0}, checks{0};
  auto writer = [&](uint64_t first, uint64_t step) {
    for (uint64_t id = first; id < kIds; id += step) {
      const std::vector<float> v = VectorFor(id, base_);
      if (!index.Upsert({{LiveId(id), v.data()}}).ok()) ++failures;
      state[id] = 1;
      if (id % 4 == 0 && id >= 40) {
        const uint64_t victim = id - 40;
        if (state[victim] == 1) {
          uint64_t n = 0;
          if (!index.Delete({LiveId(victim)}, &n).ok()) ++failures;
          state[victim] = 2;
        }
      }
    }
  };
  auto searcher = [&](uint64_t seed, uint32_t max_postings) {
    auto ctx = index.NewContext();
    if (!ctx.ok()) {
      ++failures;
      return;
    }
    Rng rng(seed);
    while (!done) {
      const uint64_t id = rng.Next() % kIds;
      const int before = state[id];
      if (before == 0) continue;
      // One searcher reads every posting (what a search may see while
      // writes and maintenance run); the other reads 16, as a user would,
      // so that placement that drifts out of reach fails too.
      SpannSearchParams all;
      all.k = 5;
      all.max_postings = max_postings;
      std::vector<LiveResult> results;
      const std::vector<float> v = VectorFor(id, base_);
      absl::Status st = index.Search(v.data(), all, ctx->get(), &results, nullptr);
      if (!st.ok()) {
        ++failures;
        continue;
      }
      const std::vector<LiveResult>* hits = &results;
      const bool found = !hits->empty() && (*hits)[0].id == LiveId(id) && (*hits)[0].distance == 0;
      bool returned = false;
      for (const auto& h : *hits) returned |= h.id == LiveId(id);
      if (before == 2 && returned) {
        ADD_FAILURE() << "deleted id " << id << " returned";
        ++failures;
      }
      if (before == 1 && state[id] == 1 && !found) {
        ADD_FAILURE() << "acknowledged id " << id << " not found by its own vector";
        ++failures;
      }
      ++checks;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(searcher, 1, 100000);
  threads.emplace_back(searcher, 2, 16);
  std::thread w1(writer, 0, 2), w2(writer, 1, 2);
  w1.join();
  w2.join();
  done = true;
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0u);
  EXPECT_GT(checks.load(), 100u);
  ASSERT_TRUE(index.Flush().ok());
  const LiveStats st = index.stats();
  EXPECT_GT(st.splits, 0u);
  EXPECT_TRUE(index.health().ok()) << index.health();
}

}  // namespace
}  // namespace cairn::testing
