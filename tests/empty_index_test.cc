// An index created empty grows by live inserts alone: the first flush makes
// the first head, splits make the rest, and it reopens like any other.
#include <gtest/gtest.h>

#include <set>

#include "index/spann/empty_index.h"
#include "index/live/live_index.h"
#include "tests/live_test_util.h"
#include "tests/test_util.h"

namespace cairn::testing {
namespace {

TEST(EmptyIndexTest, GrowsFromNothingAndReopens) {
  DiskTempDir tmp;
  FloatMatrix base;
  // BuildSmallIndex also writes the synthetic vectors we insert.
  ASSERT_TRUE(BuildSmallIndex(tmp.path(), 2000, &base).ok());
  const std::string dir = tmp.path() + "/empty";
  SpannBuildOptions bo;
  ASSERT_TRUE(CreateEmptyIndex(Env::Default(), dir, kLiveDim, StoredType::kFloat32, bo).ok());
  EXPECT_EQ(CreateEmptyIndex(Env::Default(), dir, kLiveDim, StoredType::kFloat32, bo).code(),
            absl::StatusCode::kAlreadyExists);
  LiveOptions o;
  o.background = false;
  o.memtable_capacity = 64;
  {
    auto index = LiveIndex::Open(dir, o);
    ASSERT_TRUE(index.ok()) << index.status();
    EXPECT_EQ((*index)->stats().live_vectors, 0u);
    auto ctx = (*index)->NewContext();
    ASSERT_TRUE(ctx.ok());
    // Searching an empty index answers with nothing, not an error.
    auto none = TopHits(**index, ctx->get(), VectorFor(0, base));
    ASSERT_TRUE(none.ok()) << none.status();
    EXPECT_TRUE(none->empty());
    for (uint64_t id = 0; id < 1500; id += 50) {
      std::vector<std::vector<float>> vecs;
      std::vector<LiveIndex::Item> items;
      for (uint64_t i = id; i < id + 50; ++i) vecs.push_back(VectorFor(i, base));
      for (uint64_t i = 0; i < 50; ++i) items.push_back({LiveId(id + i), vecs[i].data()});
      ASSERT_TRUE((*index)->Upsert(items).ok());
    }
    ASSERT_TRUE((*index)->Flush().ok());
    const LiveStats st = (*index)->stats();
    EXPECT_EQ(st.live_vectors, 1500u);
    EXPECT_GT(st.splits, 5u) << "one head for 1500 vectors: splits did not run";
    EXPECT_GT(st.live_heads, 10u);
    for (uint64_t id = 0; id < 1500; id += 7) {
      auto hits = TopHits(**index, ctx->get(), VectorFor(id, base));
      ASSERT_TRUE(hits.ok());
      ASSERT_FALSE(hits->empty());
      EXPECT_EQ((*hits)[0].id, LiveId(id));
      EXPECT_EQ((*hits)[0].distance, 0.0f);
    }
    ASSERT_TRUE((*index)->Checkpoint().ok());
  }
  auto index = LiveIndex::Open(dir, o);
  ASSERT_TRUE(index.ok()) << index.status();
  EXPECT_EQ((*index)->stats().live_vectors, 1500u);
  auto ctx = (*index)->NewContext();
  ASSERT_TRUE(ctx.ok());
  for (uint64_t id = 3; id < 1500; id += 11) {
    auto hits = TopHits(**index, ctx->get(), VectorFor(id, base));
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ((*hits)[0].id, LiveId(id));
  }
}

TEST(EmptyIndexTest, RejectsBadDimension) {
  DiskTempDir tmp;
  SpannBuildOptions bo;
  EXPECT_EQ(CreateEmptyIndex(Env::Default(), tmp.path() + "/x", 0, StoredType::kFloat32, bo).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace cairn::testing
