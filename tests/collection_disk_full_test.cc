// A full disk at the collection level (point store + live index), through the
// fault-injection Env: a write that cannot be made durable fails whole (no
// point of it readable by id or found by search), everything acknowledged
// before stays readable and searchable, writes succeed again once space
// returns, and a reopen shows exactly the acknowledged writes. The same on a
// real small file system: tests/crash/disk_full_test.py.
#include <gtest/gtest.h>

#include <cerrno>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/random.h"
#include "server/collection.h"
#include "storage/fault_injection_env.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::DiskTempDir;

constexpr uint32_t kDim = 16;

std::vector<float> VectorOf(uint64_t id) {
  Rng rng(id * 7919 + 1);
  std::vector<float> v(kDim);
  for (float& x : v) x = static_cast<float>(rng.Gaussian());
  return v;
}

std::vector<PointData> Batch(uint64_t from, uint64_t to) {
  std::vector<PointData> out;
  for (uint64_t id = from; id < to; ++id) {
    PointData p;
    p.id = ExternalId::Number(id);
    p.vector = VectorOf(id);
    p.payload = {{"n", id}};
    out.push_back(std::move(p));
  }
  return out;
}

// Present: readable with its payload and its own nearest neighbour.
// Absent: neither readable nor found.
void Expect(const Collection& c, const std::set<uint64_t>& present,
            const std::set<uint64_t>& absent, const std::string& when) {
  SCOPED_TRACE(when);
  for (uint64_t id : present) {
    auto got = c.Get(ExternalId::Number(id));
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value()) << "acknowledged point " << id << " lost";
    EXPECT_EQ((*got)->payload["n"], id);
    SearchRequest r;
    r.vector = VectorOf(id);
    r.limit = 1;
    r.exact = false;
    SearchInfo info;
    auto hits = c.Search(r, &info);
    ASSERT_TRUE(hits.ok()) << hits.status();
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ((*hits)[0].id, ExternalId::Number(id)) << "point " << id << " not found by search";
  }
  for (uint64_t id : absent) {
    auto got = c.Get(ExternalId::Number(id));
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->has_value()) << "unacknowledged point " << id << " is readable";
    SearchRequest r;
    r.vector = VectorOf(id);
    r.limit = 3;
    SearchInfo info;
    auto hits = c.Search(r, &info);
    ASSERT_TRUE(hits.ok()) << hits.status();
    for (const ScoredPoint& h : *hits) {
      EXPECT_NE(h.id, ExternalId::Number(id)) << "unacknowledged point " << id << " is found";
    }
  }
}

CollectionConfig Config() {
  CollectionConfig config;
  config.size = kDim;
  config.distance = VectorDistance::kEuclid;
  return config;
}

TEST(CollectionDiskFullTest, WritesOnAFullDiskFailWholeAndResumeWhenSpaceReturns) {
  DiskTempDir tmp;
  const std::string dir = tmp.File("c");
  FaultInjectionEnv env(Env::Default());
  std::set<uint64_t> present, absent;
  uint64_t next = 0;
  int refused = 0;
  {
    auto c = Collection::Create(dir, Config(), &env);
    ASSERT_TRUE(c.ok()) << c.status();
    for (; next < 40; next += 10) {
      ASSERT_TRUE((*c)->Upsert(Batch(next, next + 10)).ok());
      for (uint64_t id = next; id < next + 10; ++id) present.insert(id);
    }
    // The disk fills at each operation of an upsert in turn (point log
    // append and sync, WAL append and sync, ...) and stays full.
    for (uint64_t k = 1; k <= 8; ++k, next += 10) {
      SCOPED_TRACE(k);
      env.FailFrom(env.operation_count() + k, ENOSPC);
      const absl::Status s = (*c)->Upsert(Batch(next, next + 10));
      for (uint64_t id = next; id < next + 10; ++id) (s.ok() ? present : absent).insert(id);
      if (!s.ok()) {
        ++refused;
        EXPECT_TRUE(IsOutOfSpace(s)) << s;
        // Reads and searches go on while the disk is full.
        Expect(**c, present, absent, "disk full");
        // So does the refusal of the next write.
        EXPECT_TRUE(IsOutOfSpace((*c)->Upsert(Batch(1000, 1001)))) << "still full";
        absent.insert(1000);
        uint64_t deleted = 0;
        EXPECT_TRUE(IsOutOfSpace((*c)->Delete({ExternalId::Number(0)}, &deleted)));
      }
      env.ClearFaults();
      Expect(**c, present, absent, "space is back");
      // Space is back: writes succeed again.
      next += 10;
      ASSERT_TRUE((*c)->Upsert(Batch(next, next + 10)).ok());
      for (uint64_t id = next; id < next + 10; ++id) present.insert(id);
    }
    uint64_t deleted = 0;
    ASSERT_TRUE((*c)->Delete({ExternalId::Number(0)}, &deleted).ok());
    EXPECT_EQ(deleted, 1u);
    present.erase(0);
    absent.insert(0);
    Expect(**c, present, absent, "before reopen");
  }
  EXPECT_GE(refused, 4);
  auto c = Collection::Open(dir);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ((*c)->points_count(), present.size());
  Expect(**c, present, absent, "after reopen");
}

}  // namespace
}  // namespace cairn
