// HeadIndex on real files: build, add and remove heads, save, load back.
// The load tests run hnswlib's loading constructor on a heap block filled
// with non-zero bytes first, so that a counter hnswlib leaves uninitialised
// shows up as the garbage it is instead of the zero a fresh page happens to
// hold.
#include "index/spann/head_index.h"

#include <stdlib.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace cairn {
namespace {

constexpr uint32_t kDim = 8;

class HeadIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn_heads_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  // Frees blocks of every small size full of 0xA5 bytes, so that the next
  // allocations (the graph object Load creates among them) reuse dirty
  // memory. (hnswlib's headers define globals, so this test cannot include
  // them to ask for the graph object's exact size.)
  static void PoisonHeap() {
    std::vector<void*> blocks;
    for (size_t size = 16; size <= 4096; size += 16) {
      for (int i = 0; i < 2; ++i) {
        blocks.push_back(malloc(size));
        std::memset(blocks.back(), 0xA5, size);
      }
    }
    for (void* p : blocks) free(p);
  }

  static std::vector<float> RandomVectors(uint32_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> g;
    std::vector<float> v(size_t{n} * kDim);
    for (float& x : v) x = g(rng);
    return v;
  }

  std::string dir_;
};

TEST_F(HeadIndexTest, AnEmptyGraphLoadsEmpty) {
  auto empty = HeadIndex::CreateEmpty(kDim, Metric::kL2, HeadIndexOptions());
  ASSERT_TRUE(empty.ok()) << empty.status();
  ASSERT_TRUE((*empty)->Save(dir_ + "/heads.hnsw").ok());
  for (int round = 0; round < 3; ++round) {
    PoisonHeap();
    auto loaded = HeadIndex::Load(dir_ + "/heads.hnsw", kDim, Metric::kL2);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ((*loaded)->size(), 0u);
    // The live index adds the first head of an empty index only when this
    // is 0; anything else leaves every vector without a posting.
    EXPECT_EQ((*loaded)->live_count(), 0u);
    const std::vector<float> v = RandomVectors(1, 1);
    ASSERT_TRUE((*loaded)->Add(v.data(), 0).ok());
    EXPECT_EQ((*loaded)->live_count(), 1u);
    std::vector<HeadHit> hits;
    (*loaded)->Search(v.data(), 1, 8, &hits);
    ASSERT_EQ(hits.size(), 1u);
    EXPECT_EQ(hits[0].head, 0u);
  }
}

TEST_F(HeadIndexTest, RemovedHeadsStayRemovedAcrossSaveAndLoad) {
  const uint32_t n = 200;
  const std::vector<float> heads = RandomVectors(n, 2);
  HeadIndexOptions options;
  options.progress = false;
  auto built = HeadIndex::Build(heads.data(), n, kDim, Metric::kL2, options);
  ASSERT_TRUE(built.ok()) << built.status();
  for (uint32_t id = 0; id < n; id += 4) ASSERT_TRUE((*built)->Remove(id).ok());
  EXPECT_EQ((*built)->live_count(), n - n / 4);
  ASSERT_TRUE((*built)->Save(dir_ + "/heads.hnsw").ok());

  PoisonHeap();
  auto loaded = HeadIndex::Load(dir_ + "/heads.hnsw", kDim, Metric::kL2);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->size(), n);
  EXPECT_EQ((*loaded)->live_count(), n - n / 4);
  std::vector<HeadHit> hits;
  for (uint32_t id = 0; id < n; ++id) {
    EXPECT_EQ((*loaded)->removed(id), id % 4 == 0) << id;
    (*loaded)->Search(heads.data() + size_t{id} * kDim, 10, 64, &hits);
    ASSERT_FALSE(hits.empty());
    for (const HeadHit& hit : hits) EXPECT_NE(hit.head % 4, 0u) << "removed head " << hit.head;
    if (id % 4 != 0) EXPECT_EQ(hits[0].head, id);
  }
  // Removing again is a no-op, removing what was never added an error.
  EXPECT_TRUE((*loaded)->Remove(0).ok());
  EXPECT_EQ((*loaded)->live_count(), n - n / 4);
  EXPECT_FALSE((*loaded)->Remove(n + 5).ok());
}

TEST_F(HeadIndexTest, SerializeRoundTripKeepsTheLiveCount) {
  auto index = HeadIndex::CreateEmpty(kDim, Metric::kInnerProduct, HeadIndexOptions());
  ASSERT_TRUE(index.ok());
  const std::vector<float> v = RandomVectors(20, 3);
  for (uint32_t id = 0; id < 20; ++id) ASSERT_TRUE((*index)->Add(v.data() + id * kDim, id).ok());
  for (uint32_t id = 0; id < 5; ++id) ASSERT_TRUE((*index)->Remove(id).ok());
  auto bytes = (*index)->Serialize(dir_ + "/scratch");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  PoisonHeap();
  auto back = HeadIndex::Deserialize(*bytes, dir_ + "/scratch", kDim, Metric::kInnerProduct);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->size(), 20u);
  EXPECT_EQ((*back)->live_count(), 15u);
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/scratch"));
}

}  // namespace
}  // namespace cairn
