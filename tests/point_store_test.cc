// The point store's API on real files: contents, order, limits, format,
// compaction, statistics and concurrent readers.
#include "storage/point_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "tests/point_store_test_util.h"

namespace cairn {
namespace {

using namespace ::cairn::testing;  // the helpers of point_store_test_util.h
using ::testing::HasSubstr;

TEST(PointStoreTest, PutGetOverwriteDelete) {
  DiskTempDir dir;
  auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->size(), 0u);
  ASSERT_TRUE(
      store->Apply({{"k1", Rec("p1", "v1")}, {"k2", Rec("p2", "v2")}}, {})
          .ok());
  EXPECT_EQ(store->size(), 2u);
  EXPECT_TRUE(store->Contains("k1"));
  EXPECT_FALSE(store->Contains("k3"));
  auto got = store->Get("k1");
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ(**got, Rec("p1", "v1"));

  ASSERT_TRUE(store->Apply({{"k1", Rec("new", "")}}, {"k2", "missing"}).ok());
  got = store->Get("k1");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, Rec("new", ""));
  got = store->Get("k2");
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  EXPECT_EQ(store->size(), 1u);

  // Binary bytes everywhere, and empty payload and vector.
  const std::string key("\0\xff\x01", 3);
  const std::string payload("\0\0x", 3);
  ASSERT_TRUE(store->Apply({{key, Rec(payload, "")}}, {}).ok());
  got = store->Get(key);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ(**got, Rec(payload, ""));
}

// The server re-indexes the last batch after a crash (Collection::Reconcile),
// so the batch must be found again by Open, also after a compaction (which
// rewrites every record, in key order unless it keeps the batch last).
TEST(PointStoreTest, LastBatchPutsSurviveReopenAndCompaction) {
  DiskTempDir dir;
  using Keys = std::vector<std::string>;
  {
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(store->LastBatchPuts(), Keys{});
    ASSERT_TRUE(store->Apply({{"a", Rec("1", "x")}, {"z", Rec("2", "y")}}, {}).ok());
    // Not last in key order: "z" sorts after both.
    ASSERT_TRUE(store->Apply({{"m", Rec("3", "u")}, {"b", Rec("4", "w")}}, {"a"}).ok());
    EXPECT_EQ(store->LastBatchPuts(), (Keys{"m", "b"}));
  }
  {
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    EXPECT_THAT(store->LastBatchPuts(), ::testing::UnorderedElementsAre("m", "b"));
    ASSERT_TRUE(store->Compact().ok());
    EXPECT_THAT(store->LastBatchPuts(), ::testing::UnorderedElementsAre("m", "b"));
    // Reads still find every record at its new place.
    EXPECT_EQ(ReadAll(*store), (Contents{{"b", Rec("4", "w")}, {"m", Rec("3", "u")},
                                         {"z", Rec("2", "y")}}));
  }
  {
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    EXPECT_THAT(store->LastBatchPuts(), ::testing::UnorderedElementsAre("m", "b"));
    EXPECT_EQ(ReadAll(*store), (Contents{{"b", Rec("4", "w")}, {"m", Rec("3", "u")},
                                         {"z", Rec("2", "y")}}));
    // A batch of deletes only: no put is ahead of anything.
    ASSERT_TRUE(store->Apply({}, {"m"}).ok());
  }
  auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->LastBatchPuts(), Keys{});
}

TEST(PointStoreTest, ReopenGivesSameContents) {
  DiskTempDir dir;
  Contents expected;
  {
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    for (const Batch& b : BaseBatches()) {
      ASSERT_TRUE(store->Apply(b.puts, b.deletes).ok());
      ApplyTo(b, &expected);
    }
    EXPECT_EQ(ReadAll(*store), expected);
  }
  for (int round = 0; round < 2; ++round) {
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    EXPECT_EQ(ReadAll(*store), expected);
    EXPECT_EQ(store->size(), expected.size());
    EXPECT_EQ(store->stats().torn_bytes_dropped, 0u);
    // Appends after a reopen continue the log cleanly.
    Batch more{{{absl::StrCat("r", round), Rec("x", "y")}}, {"b"}};
    ASSERT_TRUE(store->Apply(more.puts, more.deletes).ok());
    ApplyTo(more, &expected);
  }
  auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(*store), expected);
}

TEST(PointStoreTest, KeysInByteOrderAndPaging) {
  DiskTempDir dir;
  auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
  ASSERT_NE(store, nullptr);
  std::vector<std::string> keys = {"b",    "a",    "ab", std::string("a\0", 2),
                                   "\xff", "\x7f", "B",  "aa",
                                   "\x80z"};
  Puts puts;
  for (const std::string& k : keys) puts.push_back({k, Rec(k, "")});
  ASSERT_TRUE(store->Apply(puts, {}).ok());
  std::vector<std::string> sorted = keys;
  // Unsigned byte order, as memcmp.
  std::sort(sorted.begin(), sorted.end(),
            [](const std::string& x, const std::string& y) {
              return std::lexicographical_compare(
                  x.begin(), x.end(), y.begin(), y.end(), [](char p, char q) {
                    return static_cast<uint8_t>(p) < static_cast<uint8_t>(q);
                  });
            });
  EXPECT_EQ(store->Keys("", 100), sorted);
  EXPECT_EQ(store->Keys("", 0), std::vector<std::string>());
  EXPECT_EQ(store->Keys("\xff\xff", 10), std::vector<std::string>());
  // Start is inclusive and need not be a key.
  EXPECT_EQ(store->Keys("ab", 2), std::vector<std::string>({"ab", "b"}));
  EXPECT_EQ(store->Keys("aab", 1), std::vector<std::string>({"ab"}));

  // Scroll with a next-page offset: ask for one more than the page.
  for (size_t page : {1u, 2u, 3u, 4u, 20u}) {
    std::vector<std::string> all;
    std::string offset;
    bool more = true;
    int pages = 0;
    while (more) {
      std::vector<std::string> got = store->Keys(offset, page + 1);
      more = got.size() > page;
      if (more) {
        offset = got.back();
        got.pop_back();
      }
      all.insert(all.end(), got.begin(), got.end());
      ASSERT_LT(++pages, 100);
    }
    EXPECT_EQ(all, sorted) << "page " << page;
  }

  std::vector<std::string> seen;
  store->ForEachKey([&](const std::string& k) {
    seen.push_back(k);
    return seen.size() < 4;
  });
  EXPECT_EQ(seen, std::vector<std::string>(sorted.begin(), sorted.begin() + 4));
}

TEST(PointStoreTest, ForEachKeyPagesThroughLargeStoresAndAllowsWrites) {
  DiskTempDir dir;
  PointStoreOptions o = NoAutoCompact();
  o.sync = false;
  auto store = OpenOrDie(Env::Default(), dir.path(), o);
  ASSERT_NE(store, nullptr);
  Puts puts;
  for (int i = 0; i < 2500; ++i) {
    puts.push_back({absl::StrCat("key", 100000 + i), Rec("", "")});
  }
  ASSERT_TRUE(store->Apply(puts, {}).ok());
  size_t n = 0;
  std::string last;
  store->ForEachKey([&](const std::string& k) {
    EXPECT_LT(last, k);
    last = k;
    ++n;
    // Writing from inside fn must not deadlock; deleted keys ahead are then
    // not visited.
    if (n == 1000) {
      EXPECT_TRUE(store->Apply({}, {"key102499"}).ok());
    }
    return true;
  });
  EXPECT_EQ(n, 2499u);
}

TEST(PointStoreTest, RejectsBadInputAndChangesNothing) {
  DiskTempDir dir;
  PointStoreOptions o = NoAutoCompact();
  o.sync = false;  // a 64 MiB record below; its fsync would only cost time
  auto store = OpenOrDie(Env::Default(), dir.path(), o);
  ASSERT_NE(store, nullptr);
  ASSERT_TRUE(store->Apply({{"k", Rec("p", "v")}}, {}).ok());
  const uint64_t bytes = store->stats().file_bytes;

  const std::string long_key(kPointMaxKeyBytes + 1, 'k');
  const std::string max_key(kPointMaxKeyBytes, 'k');
  const std::vector<Batch> bad = {
      {{{"", Rec("p", "v")}}, {}},
      {{{long_key, Rec("p", "v")}}, {}},
      {{}, {""}},
      {{}, {long_key}},
      {{{"x", Rec("p", "v")}, {"x", Rec("q", "w")}}, {}},
      {{{"x", Rec("p", "v")}}, {"x"}},
      {{}, {"k", "k"}},
      {{{"ok", Rec("p", "v")},
        {"big", Rec(std::string(kPointMaxBodyBytes / 2, 'p'),
                    std::string(kPointMaxBodyBytes / 2, 'v'))}},
       {"k"}},
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    absl::Status s = store->Apply(bad[i].puts, bad[i].deletes);
    EXPECT_TRUE(absl::IsInvalidArgument(s)) << i << ": " << s;
  }
  EXPECT_EQ(store->stats().file_bytes, bytes);
  EXPECT_EQ(ReadAll(*store), Contents({{"k", Rec("p", "v")}}));
  EXPECT_FALSE(store->stats().failed);

  // The limits themselves are fine.
  const size_t room = kPointMaxBodyBytes - kPointBodyHeaderBytes - 3;
  ASSERT_TRUE(store
                  ->Apply({{max_key, Rec("", "")},
                           {"big", Rec(std::string(room - 5, 'p'), "vvvvv")}},
                          {})
                  .ok());
  auto got = store->Get("big");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->payload.size(), room - 5);
  EXPECT_TRUE(store->Contains(max_key));
  // Deleting what is absent writes nothing.
  const uint64_t before = store->stats().file_bytes;
  ASSERT_TRUE(store->Apply({}, {"absent", "also absent"}).ok());
  ASSERT_TRUE(store->Apply({}, {}).ok());
  EXPECT_EQ(store->stats().file_bytes, before);

  PointStoreOptions bad_options;
  bad_options.compaction_garbage_fraction = 1.0;
  EXPECT_TRUE(absl::IsInvalidArgument(
      PointStore::Open(Env::Default(), dir.File("other"), bad_options)
          .status()));
}

TEST(PointStoreTest, LogBytesMatchTheDocumentedFormat) {
  DiskTempDir dir;
  {
    auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
    ASSERT_NE(store, nullptr);
    ASSERT_TRUE(
        store->Apply({{"k1", Rec("p1", "v1")}, {"k2", Rec("", "v")}}, {}).ok());
    ASSERT_TRUE(store->Apply({{"k3", Rec("p", "")}}, {"k1", "nope"}).ok());
  }
  std::vector<uint8_t> expected = Header(1);
  PutRecord(expected, 1, 1, "k1", "p1", "v1");
  PutRecord(expected, 1 | 0x80, 2, "k2", "", "v");
  // Deletes come first in a batch; the commit bit marks its last record.
  PutRecord(expected, 2, 3, "k1", "", "");
  PutRecord(expected, 1 | 0x80, 4, "k3", "p", "");
  EXPECT_EQ(ReadBytes(LogPath(dir.path(), 1)), expected);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>({"points.1.log"}));

  // And a hand-written log opens.
  DiskTempDir dir2;
  std::vector<uint8_t> log = Header(3);
  PutRecord(log, 1, 1, "x", "px", "vx");
  PutRecord(log, 2 | 0x80, 2, "y", "", "");
  WriteBytes(LogPath(dir2.path(), 3), log.data(), log.size());
  auto store = OpenOrDie(Env::Default(), dir2.path());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(*store), Contents({{"x", Rec("px", "vx")}}));
  EXPECT_EQ(store->stats().generation, 3u);
}

TEST(PointStoreTest, CompactionReclaimsSpaceAndPreservesContents) {
  DiskTempDir dir;
  Contents expected;
  Rng rng(7);
  auto store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 8; ++round) {
    Batch b;
    for (int i = 0; i < 50; ++i) {
      b.puts.push_back({absl::StrCat("key", i),
                        Rec(RandomBytes(100, rng), RandomBytes(512, rng))});
    }
    if (round == 7) {
      for (int i = 0; i < 50; i += 5) {
        b.puts.erase(std::find_if(b.puts.begin(), b.puts.end(), [&](auto& p) {
          return p.first == absl::StrCat("key", i);
        }));
        b.deletes.push_back(absl::StrCat("key", i));
      }
    }
    ASSERT_TRUE(store->Apply(b.puts, b.deletes).ok());
    ApplyTo(b, &expected);
  }
  const PointStoreStats before = store->stats();
  EXPECT_GT(before.garbage_bytes, 6 * before.live_bytes);
  ASSERT_TRUE(store->Compact().ok());
  const PointStoreStats after = store->stats();
  EXPECT_EQ(after.generation, 2u);
  EXPECT_EQ(after.compactions, 1u);
  EXPECT_EQ(after.garbage_bytes, 0u);
  EXPECT_EQ(after.live_bytes, before.live_bytes);
  EXPECT_EQ(after.file_bytes, kPointLogHeaderBytes + after.live_bytes);
  EXPECT_EQ(std::filesystem::file_size(LogPath(dir.path(), 2)),
            after.file_bytes);
  EXPECT_EQ(DirEntries(dir.path()), std::vector<std::string>({"points.2.log"}));
  EXPECT_EQ(ReadAll(*store), expected);
  // Writes continue in the new generation.
  ASSERT_TRUE(store->Apply({{"key0", Rec("z", "z")}}, {"key1"}).ok());
  ApplyTo({{{"key0", Rec("z", "z")}}, {"key1"}}, &expected);
  EXPECT_EQ(ReadAll(*store), expected);
  store.reset();
  store = OpenOrDie(Env::Default(), dir.path(), NoAutoCompact());
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(ReadAll(*store), expected);
  EXPECT_EQ(store->stats().generation, 2u);

  // Compacting an empty store leaves an empty log.
  std::vector<std::string> all = store->Keys("", 1000);
  ASSERT_TRUE(store->Apply({}, all).ok());
  ASSERT_TRUE(store->Compact().ok());
  EXPECT_EQ(store->stats().file_bytes, kPointLogHeaderBytes);
  EXPECT_EQ(store->size(), 0u);
}

TEST(PointStoreTest, AutomaticCompactionBoundsGarbage) {
  DiskTempDir dir;
  PointStoreOptions o;
  o.compaction_min_garbage_bytes = 4096;
  o.compaction_garbage_fraction = 0.5;
  Contents expected;
  auto store = OpenOrDie(Env::Default(), dir.path(), o);
  ASSERT_NE(store, nullptr);
  for (int round = 0; round < 40; ++round) {
    Batch b;
    for (int i = 0; i < 20; ++i) {
      b.puts.push_back({absl::StrCat("k", i), Rec(absl::StrCat("round", round),
                                                  std::string(200, 'v'))});
    }
    ASSERT_TRUE(store->Apply(b.puts, b.deletes).ok());
    ApplyTo(b, &expected);
    const PointStoreStats s = store->stats();
    // Checked after each Apply: garbage is at most half of the records, or
    // below the minimum.
    EXPECT_TRUE(s.garbage_bytes <= o.compaction_min_garbage_bytes ||
                s.garbage_bytes * 2 <= s.file_bytes - kPointLogHeaderBytes)
        << round << ": " << s.garbage_bytes << " of " << s.file_bytes;
  }
  EXPECT_GT(store->stats().compactions, 3u);
  EXPECT_EQ(store->stats().last_compaction_error, "");
  EXPECT_EQ(ReadAll(*store), expected);
  const uint64_t generation = store->stats().generation;
  store.reset();
  store = OpenOrDie(Env::Default(), dir.path(), o);
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->stats().generation, generation);
  EXPECT_EQ(ReadAll(*store), expected);
  EXPECT_EQ(
      DirEntries(dir.path()),
      std::vector<std::string>({absl::StrCat("points.", generation, ".log")}));
}

TEST(PointStoreTest, StatsReportBytesPerPoint) {
  DiskTempDir dir;
  PointStoreOptions o = NoAutoCompact();
  o.sync = false;
  auto store = OpenOrDie(Env::Default(), dir.path(), o);
  ASSERT_NE(store, nullptr);
  constexpr int kPoints = 20000;
  Puts puts;
  uint64_t live = 0;
  for (int i = 0; i < kPoints; ++i) {
    // 9 bytes, like a numeric external-id key: held inline.
    std::string key(9, '\0');
    key[0] = 1;
    for (int b = 0; b < 8; ++b) {
      key[1 + b] = static_cast<char>(uint64_t(i) >> (8 * (7 - b)));
    }
    puts.push_back({key, Rec("{}", std::string(16, 'v'))});
    live += PointRecordBytes(9, 2, 16);
  }
  ASSERT_TRUE(store->Apply(puts, {}).ok());
  PointStoreStats s = store->stats();
  EXPECT_EQ(s.points, uint64_t{kPoints});
  EXPECT_EQ(s.live_bytes, live);
  EXPECT_EQ(s.garbage_bytes, 0u);
  EXPECT_EQ(s.file_bytes, kPointLogHeaderBytes + live);
  // A 48-byte slot per point at the btree's fill, plus inner nodes.
  EXPECT_GE(s.ram_bytes_per_point, 48.0);
  EXPECT_LE(s.ram_bytes_per_point, 120.0);
  std::printf("RAM per point, 9-byte keys: %.1f bytes (%llu total)\n",
              s.ram_bytes_per_point,
              static_cast<unsigned long long>(s.ram_bytes));
  const double short_keys = s.ram_bytes_per_point;

  // 17-byte keys (UUIDs) live on the heap.
  DiskTempDir dir2;
  auto store2 = OpenOrDie(Env::Default(), dir2.path(), o);
  ASSERT_NE(store2, nullptr);
  for (auto& [key, r] : puts) key.append(8, 'u');
  ASSERT_TRUE(store2->Apply(puts, {}).ok());
  s = store2->stats();
  EXPECT_NEAR(s.ram_bytes_per_point, short_keys + 18, 1.0);
  std::printf("RAM per point, 17-byte keys: %.1f bytes\n",
              s.ram_bytes_per_point);

  // Deletes free the map's memory and turn records into garbage.
  std::vector<std::string> gone;
  for (int i = 0; i < kPoints; ++i) gone.push_back(puts[i].first);
  ASSERT_TRUE(store2->Apply({}, gone).ok());
  s = store2->stats();
  EXPECT_EQ(s.points, 0u);
  EXPECT_LE(s.ram_bytes, 1024u);
  EXPECT_EQ(s.live_bytes, 0u);
  EXPECT_EQ(s.garbage_bytes, s.file_bytes - kPointLogHeaderBytes);
}

TEST(PointStoreTest, ConcurrentReadersSeeWholeBatches) {
  DiskTempDir dir;
  PointStoreOptions o = NoAutoCompact();
  o.sync = false;  // also checks that unsynced batches are readable
  auto store = OpenOrDie(Env::Default(), dir.path(), o);
  ASSERT_NE(store, nullptr);
  constexpr int kBatches = 300;
  constexpr int kKeys = 8;
  // Batch i puts keys g<i>-0 .. g<i>-7 and deletes those of batch i - 1.
  const auto batch = [&](int i) {
    Batch b;
    const std::string prefix = absl::StrCat("g", 1000 + i);
    for (int k = 0; k < kKeys; ++k) {
      b.puts.push_back({absl::StrCat(prefix, "-", k),
                        Rec(prefix, std::string(1000, prefix.back()))});
      if (i > 0) b.deletes.push_back(absl::StrCat("g", 999 + i, "-", k));
    }
    return b;
  };
  ASSERT_TRUE(store->Apply(batch(0).puts, {}).ok());
  std::atomic<bool> done{false};
  std::atomic<int> observations{0};
  auto reader = [&] {
    while (!done.load()) {
      // Exactly one batch's keys, never a mix or a gap.
      const std::vector<std::string> keys = store->Keys("", 100);
      ASSERT_EQ(keys.size(), size_t{kKeys});
      const std::string prefix = keys[0].substr(0, keys[0].find('-'));
      for (const std::string& k : keys) {
        ASSERT_EQ(k.substr(0, k.find('-')), prefix);
        // May be gone by now, but never unreadable (compaction replaces the
        // file under readers).
        const auto r = store->Get(k);
        ASSERT_TRUE(r.ok()) << r.status();
        if (r->has_value()) {
          EXPECT_EQ((*r)->payload, prefix);
          EXPECT_EQ((*r)->vector, std::string(1000, prefix.back()));
        }
      }
      ++observations;
    }
  };
  std::thread r1(reader), r2(reader);
  for (int i = 1; i < kBatches; ++i) {
    const Batch b = batch(i);
    const absl::Status s = store->Apply(b.puts, b.deletes);
    EXPECT_TRUE(s.ok()) << s;
    if (i % 25 == 0) {
      EXPECT_TRUE(store->Compact().ok());
    }
    if (!s.ok()) break;
  }
  done = true;
  r1.join();
  r2.join();
  EXPECT_GT(observations.load(), 0);
  EXPECT_EQ(store->stats().compactions, uint64_t{(kBatches - 1) / 25});
}

}  // namespace
}  // namespace cairn
