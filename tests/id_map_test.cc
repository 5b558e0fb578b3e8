#include "index/live/id_map.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "common/random.h"

namespace cairn {
namespace {

using ::testing::HasSubstr;

ExternalId Uuid(const char* text) { return *ExternalId::Uuid(text); }
ExternalId Str(std::string_view s) { return *ExternalId::String(s); }

// ---------------------------------------------------------------- ExternalId

TEST(ExternalIdTest, Number) {
  for (uint64_t n : {uint64_t{0}, uint64_t{42}, ~uint64_t{0}}) {
    ExternalId id = ExternalId::Number(n);
    EXPECT_EQ(id.kind(), ExternalId::Kind::kNumber);
    EXPECT_EQ(id.number(), n);
    EXPECT_EQ(id.ToString(), std::to_string(n));
    EXPECT_EQ(id.Key().size(), 9u);
    EXPECT_EQ(*ExternalId::FromKey(id.Key()), id);
  }
}

TEST(ExternalIdTest, UuidForms) {
  const std::string canonical = "123e4567-e89b-12d3-a456-426614174000";
  for (const char* text :
       {"123e4567-e89b-12d3-a456-426614174000", "123E4567-E89B-12D3-A456-426614174000",
        "123e4567E89b12d3A456426614174000"}) {
    absl::StatusOr<ExternalId> id = ExternalId::Uuid(text);
    ASSERT_TRUE(id.ok()) << text << ": " << id.status();
    EXPECT_EQ(id->kind(), ExternalId::Kind::kUuid);
    EXPECT_EQ(id->ToString(), canonical);
    EXPECT_EQ(id->number(), 0u);
    EXPECT_EQ(id->Key().size(), 17u);
    EXPECT_EQ(*ExternalId::FromKey(id->Key()), *id);
  }
  EXPECT_EQ(Uuid("00000000-0000-0000-0000-000000000000").ToString(),
            "00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(Uuid("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF").ToString(),
            "ffffffff-ffff-ffff-ffff-ffffffffffff");
}

TEST(ExternalIdTest, InvalidUuids) {
  for (const char* text :
       {"", "123e4567-e89b-12d3-a456-42661417400", "123e4567-e89b-12d3-a456-4266141740000",
        "123e4567e89b-12d3-a456-4266141740000", "123e4567-e89b-12d3-a456_426614174000",
        "123e4567-e89b-12d3-a456-42661417400g", "{123e4567-e89b-12d3-a456-426614174000}",
        "123e4567-e89b-12d3-a45-6426614174000", "123e4567e89b12d3a45642661417400",
        "-23e4567e89b12d3a456426614174000", "123e4567 e89b 12d3 a456 426614174000"}) {
    absl::StatusOr<ExternalId> id = ExternalId::Uuid(text);
    EXPECT_TRUE(absl::IsInvalidArgument(id.status())) << "\"" << text << "\"";
  }
}

TEST(ExternalIdTest, Strings) {
  EXPECT_TRUE(absl::IsInvalidArgument(ExternalId::String("").status()));
  EXPECT_TRUE(ExternalId::String(std::string(256, 'x')).ok());
  EXPECT_TRUE(absl::IsInvalidArgument(ExternalId::String(std::string(257, 'x')).status()));
  const std::string binary("a\0b\xff\0", 5);
  ExternalId id = Str(binary);
  EXPECT_EQ(id.kind(), ExternalId::Kind::kString);
  EXPECT_EQ(id.ToString(), binary);
  EXPECT_EQ(id.Key().size(), 6u);
  EXPECT_EQ(*ExternalId::FromKey(id.Key()), id);
  EXPECT_NE(Str(std::string("a\0b", 3)), Str("a"));
}

TEST(ExternalIdTest, KindsNeverCollide) {
  EXPECT_NE(Str("42"), ExternalId::Number(42));
  EXPECT_EQ(Str("42").ToString(), ExternalId::Number(42).ToString());
  absl::flat_hash_set<ExternalId> set = {ExternalId::Number(42), Str("42"),
                                         Uuid("00000000000000000000000000000042"),
                                         ExternalId::Number(42)};
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.contains(Str("42")));
  EXPECT_FALSE(set.contains(Str("43")));
}

TEST(ExternalIdTest, MalformedKeys) {
  for (const std::string& key :
       {std::string(), std::string("\0", 1), std::string("\x04xxxxxxxx"), std::string(8, '\x01'),
        std::string(10, '\x01'), std::string(16, '\x02'), std::string(18, '\x02'),
        std::string(1, '\x03'), std::string(258, '\x03')}) {
    EXPECT_TRUE(absl::IsInvalidArgument(ExternalId::FromKey(key).status())) << key.size();
  }
}

// --------------------------------------------------------------------- IdMap

TEST(IdMapTest, BulkIdsAreImplicitAndFree) {
  IdMap map(1000);
  EXPECT_EQ(map.Find(ExternalId::Number(0)), 0u);
  EXPECT_EQ(map.Find(ExternalId::Number(999)), 999u);
  EXPECT_EQ(map.Find(ExternalId::Number(1000)), std::nullopt);
  EXPECT_EQ(map.Find(Str("0")), std::nullopt);
  EXPECT_EQ(map.External(7), ExternalId::Number(7));
  EXPECT_EQ(map.External(1000), std::nullopt);
  bool created = true;
  EXPECT_EQ(*map.FindOrAssign(ExternalId::Number(5), &created), 5u);
  EXPECT_FALSE(created);
  EXPECT_EQ(map.next_internal(), 1000u);
  EXPECT_EQ(IdMap(4000000000u).ResidentBytes(), IdMap(0).ResidentBytes());
}

TEST(IdMapTest, AssignsDenseIds) {
  IdMap map(100);
  const uint64_t empty_bytes = map.ResidentBytes();
  const ExternalId ids[] = {ExternalId::Number(100), Uuid("123e4567e89b12d3a456426614174000"),
                            Str(std::string(200, 'q')), ExternalId::Number(5000000000)};
  for (uint32_t i = 0; i < 4; ++i) {
    bool created = false;
    EXPECT_EQ(*map.FindOrAssign(ids[i], &created), 100 + i);
    EXPECT_TRUE(created);
    EXPECT_EQ(*map.FindOrAssign(ids[i], &created), 100 + i);
    EXPECT_FALSE(created);
    EXPECT_EQ(*map.FindOrAssign(ids[i], nullptr), 100 + i);
  }
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(map.Find(ids[i]), 100 + i);
    EXPECT_EQ(map.External(100 + i), ids[i]);
  }
  EXPECT_EQ(map.next_internal(), 104u);
  EXPECT_EQ(map.External(104), std::nullopt);
  // Two 200-byte keys alone take more than 400 bytes of heap.
  EXPECT_GT(map.ResidentBytes(), empty_bytes + 400);
}

TEST(IdMapTest, RunsOutOfIds) {
  IdMap map(kMaxInternalId);
  EXPECT_EQ(*map.FindOrAssign(ExternalId::Number(kMaxInternalId), nullptr), kMaxInternalId);
  EXPECT_EQ(map.next_internal(), kMaxInternalId + 1);
  EXPECT_TRUE(absl::IsResourceExhausted(map.FindOrAssign(Str("x"), nullptr).status()));
  EXPECT_EQ(*map.FindOrAssign(ExternalId::Number(3), nullptr), 3u);
  EXPECT_TRUE(absl::IsInvalidArgument(map.Bind(Str("x"), kMaxInternalId + 1)));
}

TEST(IdMapTest, BindIsIdempotentAndLeavesGaps) {
  IdMap map(10);
  const ExternalId a = Str("a"), b = Str("b"), c = Str("c");
  ASSERT_TRUE(map.Bind(a, 15).ok());
  ASSERT_TRUE(map.Bind(a, 15).ok());
  EXPECT_EQ(map.next_internal(), 16u);
  EXPECT_EQ(map.Find(a), 15u);
  EXPECT_EQ(map.External(15), a);
  for (uint32_t gap = 10; gap < 15; ++gap) EXPECT_EQ(map.External(gap), std::nullopt);
  ASSERT_TRUE(map.Bind(b, 12).ok());  // fills a gap
  EXPECT_EQ(map.External(12), b);
  EXPECT_EQ(map.next_internal(), 16u);
  EXPECT_EQ(*map.FindOrAssign(c, nullptr), 16u);

  const std::string before = map.Serialize();
  EXPECT_TRUE(absl::IsFailedPrecondition(map.Bind(c, 15)));
  EXPECT_TRUE(absl::IsInvalidArgument(map.Bind(c, 3)));
  EXPECT_TRUE(absl::IsInvalidArgument(map.Bind(ExternalId::Number(4), 3)));
  EXPECT_TRUE(map.Bind(ExternalId::Number(3), 3).ok());
  EXPECT_EQ(map.Serialize(), before);  // failures and no-ops changed nothing
}

TEST(IdMapTest, BindMovesIds) {
  IdMap map(10);
  const ExternalId a = Str("a"), seven = ExternalId::Number(7);
  ASSERT_EQ(*map.FindOrAssign(a, nullptr), 10u);
  ASSERT_TRUE(map.Bind(a, map.next_internal()).ok());
  EXPECT_EQ(map.Find(a), 11u);
  EXPECT_EQ(map.External(10), std::nullopt);
  EXPECT_EQ(map.External(11), a);

  // A bulk id moves off its implicit slot, and back.
  ASSERT_TRUE(map.Bind(seven, 12).ok());
  EXPECT_EQ(map.Find(seven), 12u);
  EXPECT_EQ(*map.FindOrAssign(seven, nullptr), 12u);
  EXPECT_EQ(map.External(7), std::nullopt);
  EXPECT_EQ(map.External(12), seven);
  EXPECT_EQ(map.Find(ExternalId::Number(6)), 6u);
  absl::StatusOr<IdMap> copy = IdMap::Deserialize(map.Serialize(), "f");
  ASSERT_TRUE(copy.ok()) << copy.status();
  EXPECT_EQ(copy->Find(seven), 12u);
  EXPECT_EQ(copy->External(7), std::nullopt);
  ASSERT_TRUE(map.Bind(seven, 13).ok());
  EXPECT_EQ(map.External(12), std::nullopt);
  ASSERT_TRUE(map.Bind(seven, 7).ok());
  EXPECT_EQ(map.Find(seven), 7u);
  EXPECT_EQ(map.External(7), seven);
  EXPECT_EQ(map.External(13), std::nullopt);
  // The freed slot takes a new id; the bulk slot does not.
  ASSERT_TRUE(map.Bind(Str("z"), 12).ok());
  EXPECT_EQ(map.External(12), Str("z"));
}

IdMap SampleMap() {
  IdMap map(50);
  Rng rng(7);
  for (int i = 0; i < 40; ++i) {
    std::string s(1 + rng.Next() % 30, '\0');
    for (char& ch : s) ch = static_cast<char>(rng.Next());
    const ExternalId id = i % 3 == 0   ? ExternalId::Number(50 + rng.Next() % 1000)
                          : i % 3 == 1 ? Str(s)
                                       : Uuid("123e4567e89b12d3a456426614174000");
    EXPECT_TRUE(map.FindOrAssign(id, nullptr).ok());
  }
  EXPECT_TRUE(map.Bind(ExternalId::Number(3), map.next_internal() + 4).ok());
  EXPECT_TRUE(map.Bind(Str("moved"), map.next_internal() + 2).ok());
  EXPECT_TRUE(map.Bind(Str("moved"), map.next_internal()).ok());
  return map;
}

TEST(IdMapTest, SerializeRoundTrip) {
  for (uint32_t n_bulk : {0u, 1u, 123456u}) {
    IdMap empty(n_bulk);
    absl::StatusOr<IdMap> back = IdMap::Deserialize(empty.Serialize(), "f");
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(back->n_bulk(), n_bulk);
    EXPECT_EQ(back->next_internal(), n_bulk);
  }
  IdMap map = SampleMap();
  const std::string body = map.Serialize();
  absl::StatusOr<IdMap> back = IdMap::Deserialize(body, "f");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->Serialize(), body);
  EXPECT_EQ(back->n_bulk(), map.n_bulk());
  EXPECT_EQ(back->next_internal(), map.next_internal());
  for (uint32_t i = 0; i < map.next_internal() + 2; ++i) {
    EXPECT_EQ(back->External(i), map.External(i)) << i;
    if (std::optional<ExternalId> e = map.External(i)) {
      EXPECT_EQ(back->Find(*e), i);
    }
  }
}

TEST(IdMapTest, MalformedBodies) {
  const std::string body = SampleMap().Serialize();
  for (size_t len = 0; len < body.size(); ++len) {
    absl::StatusOr<IdMap> m = IdMap::Deserialize(body.substr(0, len), "/x/idmap");
    ASSERT_TRUE(absl::IsDataLoss(m.status())) << len;
    EXPECT_THAT(m.status().message(), HasSubstr("/x/idmap"));
  }
  EXPECT_TRUE(absl::IsDataLoss(IdMap::Deserialize(body + "x", "f").status()));

  // next < n_bulk; a huge id count in a tiny body; a repeated key.
  auto header = [](uint32_t n_bulk, uint32_t next) {
    std::string h(8, '\0');
    for (int i = 0; i < 4; ++i) h[i] = static_cast<char>(n_bulk >> (8 * i));
    for (int i = 0; i < 4; ++i) h[4 + i] = static_cast<char>(next >> (8 * i));
    return h;
  };
  EXPECT_TRUE(absl::IsDataLoss(IdMap::Deserialize(header(5, 4), "f").status()));
  EXPECT_TRUE(absl::IsDataLoss(IdMap::Deserialize(header(0, 0xFFFFFFFFu), "f").status()));
  const std::string key = Str("k").Key();
  const std::string entry = std::string("\x02\x00", 2) + key;
  EXPECT_TRUE(IdMap::Deserialize(header(0, 1) + entry, "f").ok());
  EXPECT_TRUE(absl::IsDataLoss(IdMap::Deserialize(header(0, 2) + entry + entry, "f").status()));
  EXPECT_TRUE(absl::IsDataLoss(
      IdMap::Deserialize(header(0, 1) + std::string("\x02\x00\x09x", 4), "f").status()));

  // Random flips and random bodies: a clean error or a map that re-serialises
  // to the same bytes, never a crash.
  Rng rng(1);
  int accepted = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    std::string bad = body;
    if (trial % 4 == 3) {
      bad.assign(rng.Next() % 64, '\0');
      for (char& ch : bad) ch = static_cast<char>(rng.Next());
    } else {
      const int flips = 1 + trial % 3;
      for (int f = 0; f < flips; ++f) bad[rng.Next() % bad.size()] ^= 1 << (rng.Next() % 8);
    }
    absl::StatusOr<IdMap> m = IdMap::Deserialize(bad, "f");
    if (m.ok()) {
      ++accepted;
      EXPECT_EQ(m->Serialize(), bad);
    } else {
      EXPECT_TRUE(absl::IsDataLoss(m.status())) << m.status();
    }
  }
  EXPECT_GT(accepted, 0);  // flips inside string keys are undetectable here
}

// ---------------------------------------------------------------- VersionMap

TEST(VersionMapTest, GetSetGrow) {
  VersionMap v(5);
  EXPECT_EQ(v.size(), 5u);
  for (uint32_t i = 0; i < 5; ++i) EXPECT_TRUE(v.IsLive(i, 0));
  EXPECT_EQ(v.Get(5), kVersionDeletedBit);
  EXPECT_EQ(v.Get(0xFFFFFFFFu), kVersionDeletedBit);
  EXPECT_FALSE(v.IsLive(5, 0));
  v.Set(3, 1);
  EXPECT_TRUE(v.IsLive(3, 1));
  EXPECT_FALSE(v.IsLive(3, 0));
  v.Set(3, 1 | kVersionDeletedBit);
  EXPECT_FALSE(v.IsLive(3, 1));
  EXPECT_FALSE(v.IsLive(3, 1 | kVersionDeletedBit));

  const uint64_t small = v.ResidentBytes();
  const uint32_t far = 2 * VersionMap::kChunkSize + 7;
  v.Set(far, 9);
  EXPECT_EQ(v.size(), far + 1);
  EXPECT_EQ(v.Get(far), 9);
  EXPECT_EQ(v.Get(far - 1), kVersionDeletedBit);
  EXPECT_EQ(v.Get(VersionMap::kChunkSize), kVersionDeletedBit);
  EXPECT_EQ(v.Get(far + 1), kVersionDeletedBit);
  EXPECT_EQ(v.ResidentBytes(), small + 2 * VersionMap::kChunkSize);
  v.Set(0xFFFFFFFFu, 1);  // beyond kMaxInternalId: ignored
  EXPECT_EQ(v.size(), far + 1);
}

TEST(VersionMapTest, Versions) {
  EXPECT_EQ(VersionMap::NextVersion(0), 1);
  EXPECT_EQ(VersionMap::NextVersion(0x7E), 0x7F);
  EXPECT_EQ(VersionMap::NextVersion(0x7F), 0);
  EXPECT_EQ(VersionMap::NextVersion(0x85), 6);
  EXPECT_TRUE(VersionMap::WouldWrap(0x7F));
  EXPECT_TRUE(VersionMap::WouldWrap(0xFF));
  EXPECT_FALSE(VersionMap::WouldWrap(0));
  EXPECT_FALSE(VersionMap::WouldWrap(0x80));
  uint8_t v = 0;
  int replacements = 0;
  while (!VersionMap::WouldWrap(v)) v = VersionMap::NextVersion(v), ++replacements;
  EXPECT_EQ(replacements, 127);
}

TEST(VersionMapTest, SerializeRoundTrip) {
  VersionMap v(VersionMap::kChunkSize + 3);
  v.Set(17, 5);
  v.Set(VersionMap::kChunkSize + 10, 0x83);
  const std::string body = v.Serialize();
  ASSERT_EQ(body.size(), 4u + VersionMap::kChunkSize + 11);
  absl::StatusOr<std::unique_ptr<VersionMap>> back = VersionMap::Deserialize(body, "f");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)->size(), v.size());
  EXPECT_EQ((*back)->Serialize(), body);
  EXPECT_EQ((*back)->Get(17), 5);
  EXPECT_EQ((*back)->Get(VersionMap::kChunkSize + 9), kVersionDeletedBit);

  absl::StatusOr<std::unique_ptr<VersionMap>> empty =
      VersionMap::Deserialize(VersionMap().Serialize(), "f");
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)->size(), 0u);

  const std::string small = VersionMap(6).Serialize();
  for (size_t len = 0; len < small.size(); ++len) {
    absl::StatusOr<std::unique_ptr<VersionMap>> m =
        VersionMap::Deserialize(small.substr(0, len), "/x/versions");
    ASSERT_TRUE(absl::IsDataLoss(m.status())) << len;
    EXPECT_THAT(m.status().message(), HasSubstr("/x/versions"));
  }
  EXPECT_TRUE(absl::IsDataLoss(VersionMap::Deserialize(small + "x", "f").status()));
  EXPECT_TRUE(
      absl::IsDataLoss(VersionMap::Deserialize(std::string("\xff\xff\xff\xff", 4), "f").status()));
}

// One writer grows the map across chunk boundaries (skipping every 1000th id,
// which must stay deleted) and then flips bit 6 of random entries; readers
// check every byte below the size they saw.
TEST(VersionMapTest, ConcurrentReadersWhileWriterGrows) {
  VersionMap v;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> checked{0};
  std::atomic<int> bad{0};
  auto expected_low = [](uint32_t id) { return static_cast<uint8_t>(id & 0x3F); };
  std::vector<std::thread> readers;
  for (int t = 0; t < 8; ++t) {
    readers.emplace_back([&, t] {
      Rng rng(100 + t);
      int64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const uint32_t size = v.size();
        const uint32_t id = static_cast<uint32_t>(rng.Next() % (uint64_t{size} + 64));
        const uint8_t got = v.Get(id);
        if (id < size) {
          const bool ok =
              id % 1000 == 999 ? got == kVersionDeletedBit : (got & 0xBF) == expected_low(id);
          if (!ok) bad.fetch_add(1);
        }
        ++n;
      }
      checked.fetch_add(n);
    });
  }
  const uint32_t target = 3 * VersionMap::kChunkSize + 12345;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
  for (uint32_t id = 0; id < target; ++id) {
    if (id % 1000 != 999) v.Set(id, expected_low(id));
  }
  Rng rng(5);
  while (std::chrono::steady_clock::now() < deadline) {
    for (int i = 0; i < 1000; ++i) {
      const uint32_t id = static_cast<uint32_t>(rng.Next() % target);
      if (id % 1000 != 999) v.Set(id, v.Get(id) ^ 0x40);
    }
  }
  stop.store(true);
  for (std::thread& r : readers) r.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(checked.load(), 0);
  EXPECT_EQ(v.size(), target);  // its last id, 3158072, is not a skipped one
}

}  // namespace
}  // namespace cairn
