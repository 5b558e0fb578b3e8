// The SPANN searcher on a real index directory: recall and exact scoring,
// reopening, both IO paths, concurrent contexts, search parameters, and every
// kind of damage to the files (which must be reported, never crash).
#include "index/spann/spann_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "datasets/ground_truth.h"
#include "kernels/distance.h"
#include "index/spann/head_index.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_files.h"
#include "storage/block_reader.h"
#include "storage/env.h"
#include "storage/posting_file.h"
#include "tests/spann_test_util.h"

namespace cairn {
namespace {

using namespace ::cairn::testing;  // NOLINT: the shared fixture and helpers
using ::testing::HasSubstr;
namespace fs = std::filesystem;

SpannOpenOptions WithIo(BlockReaderOptions::Kind kind) {
  SpannOpenOptions o;
  o.io.kind = kind;
  return o;
}

// The `count` heads nearest `query` by exhaustive L2 search over heads.hnsw.
std::vector<uint32_t> NearestHeads(const std::string& index_dir, const float* query, size_t count) {
  auto heads = HeadIndex::Load(index_dir + "/heads.hnsw", kDim, Metric::kL2);
  EXPECT_TRUE(heads.ok()) << heads.status();
  if (!heads.ok()) return {};
  std::vector<std::pair<float, uint32_t>> by_distance;
  for (uint32_t h = 0; h < (*heads)->size(); ++h) {
    by_distance.push_back({Kernels().l2_f32(query, (*heads)->head(h), kDim), h});
  }
  count = std::min(count, by_distance.size());
  std::partial_sort(by_distance.begin(), by_distance.begin() + count, by_distance.end());
  std::vector<uint32_t> ids;
  for (size_t i = 0; i < count; ++i) ids.push_back(by_distance[i].second);
  return ids;
}

// Tests of the suite's L2 index (built once per process, with default
// options apart from metric, threads and progress).
class SpannIndexTest : public SpannDataTest {
 protected:
  void SetUp() override {
    SpannDataTest::SetUp();
    if (HasFatalFailure()) return;
    Shared& s = *shared_;
    if (!s.index_tried) {
      s.index_tried = true;
      SpannBuildOptions bo;  // defaults, apart from these
      bo.metric = Metric::kL2;
      bo.threads = 0;
      bo.progress = false;
      s.index_dir = s.tmp.File("index");
      auto report = BuildSpannIndex(s.base_path, s.index_dir, bo);
      auto index = report.ok() ? SpannIndex::Open(s.index_dir)
                               : absl::StatusOr<std::unique_ptr<SpannIndex>>(report.status());
      absl::Status st = index.status();
      if (st.ok()) st = SearchAll(**index, s.queries, SpannSearchParams(), &s.results, &s.stats);
      if (!st.ok()) s.index_error = st.ToString();
    }
    ASSERT_TRUE(s.index_error.empty()) << s.index_error;
  }

  // A copy of the suite's index in this test's directory, to damage.
  std::string CopyIndex(const std::string& name) {
    const std::string to = tmp_.File(name);
    fs::copy(S().index_dir, to, fs::copy_options::recursive);
    return to;
  }
};

// ---- Recall and exact scoring -------------------------------------------

TEST_F(SpannIndexTest, DefaultBuildReachesRecallWithExactSortedDistances) {
  const uint32_t k = SpannSearchParams().k;
  ASSERT_EQ(k, 10u);
  const double recall = RecallAtK(S().gt, Ids(S().results, k), k, k);
  std::printf("L2 recall@10 with default options: %.4f (%.1f postings, %.0f distances per query)\n",
              recall, static_cast<double>(S().stats.postings_read) / kQueries,
              static_cast<double>(S().stats.entries_scanned) / kQueries);
  EXPECT_GE(recall, 0.95);

  for (uint32_t q = 0; q < kQueries; ++q) {
    const std::vector<Neighbor>& r = S().results[q];
    const std::string what = "query " + std::to_string(q);
    ASSERT_EQ(r.size(), k) << what;
    ExpectWellFormed(r, kN, what);
    for (size_t i = 0; i < r.size(); ++i) {
      // Scored with the same kernel on the stored (unchanged) vector: exact.
      const float exact = Kernels().l2_f32(S().queries.row(q), S().base.row(r[i].id), kDim);
      EXPECT_EQ(r[i].distance, exact) << what << " rank " << i << " id " << r[i].id;
      // The i-th of a subset is never closer than the true i-th nearest.
      const float truth = S().gt.distances[size_t{q} * S().gt.k + i];
      EXPECT_GE(r[i].distance, truth * (1 - 1e-4f) - 1e-4f) << what << " rank " << i;
    }
  }
  EXPECT_GT(S().stats.postings_read, 0u);
  EXPECT_GT(S().stats.entries_scanned, 0u);
  EXPECT_EQ(S().stats.bytes_read % kPostingPageBytes, 0u);
}

TEST_F(SpannIndexTest, ManifestDescribesTheBuild) {
  auto index = SpannIndex::Open(S().index_dir);
  ASSERT_TRUE(index.ok()) << index.status();
  const IndexManifest& m = (*index)->manifest();
  EXPECT_EQ(m.dim, kDim);
  EXPECT_EQ(m.metric, Metric::kL2);
  EXPECT_EQ(m.num_vectors, kN);
  EXPECT_EQ((*index)->num_vectors(), kN);
  // About head_ratio (0.12) x n heads.
  const double ratio = static_cast<double>(m.num_heads) / kN;
  EXPECT_GT(ratio, 0.06) << m.num_heads << " heads";
  EXPECT_LT(ratio, 0.24) << m.num_heads << " heads";
  EXPECT_GE(m.total_entries, kN);
  EXPECT_LE(m.total_entries, kN * SpannBuildOptions().replicas);
  EXPECT_GT((*index)->ResidentBytes(), 0u);
  EXPECT_EQ((*index)->PostingFileBytes(), fs::file_size(S().index_dir + "/postings.dat"));
}

TEST_F(SpannIndexTest, PostingsHoldEveryInputVectorExactly) {
  VerifyPostings(S().index_dir, S().base, Metric::kL2, SpannBuildOptions().replicas);
}

// ---- Reopen and repeat --------------------------------------------------

TEST_F(SpannIndexTest, ReopenedIndexGivesIdenticalResults) {
  auto index = SpannIndex::Open(S().index_dir);
  ASSERT_TRUE(index.ok()) << index.status();
  Results again;
  ASSERT_TRUE(SearchAll(**index, S().queries, SpannSearchParams(), &again).ok());
  ExpectSameResults(S().results, again, "reopened");

  // One context reused for the same query many times (its visited set and
  // buffers are recycled): still the same answer.
  auto ctx = (*index)->NewContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  std::vector<Neighbor> r;
  for (int rep = 0; rep < 5; ++rep) {
    for (uint32_t q : {0u, 7u, 0u}) {
      ASSERT_TRUE(
          (*index)->Search(S().queries.row(q), SpannSearchParams(), ctx->get(), &r, nullptr).ok());
      ExpectSameResults({S().results[q]}, {r}, "repeat of query " + std::to_string(q));
    }
  }
}

TEST_F(SpannIndexTest, ConcurrentSearchesAgreeWithSequentialOnes) {
  auto index = SpannIndex::Open(S().index_dir);
  ASSERT_TRUE(index.ok()) << index.status();
  constexpr int kThreads = 3;
  std::vector<Results> per_thread(kThreads);
  std::vector<absl::Status> status(kThreads);
  std::vector<std::thread> pool;
  for (int t = 0; t < kThreads; ++t) {
    pool.emplace_back([&, t] {
      status[t] = SearchAll(**index, S().queries, SpannSearchParams(), &per_thread[t]);
    });
  }
  for (auto& th : pool) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_TRUE(status[t].ok()) << status[t];
    ExpectSameResults(S().results, per_thread[t], "thread " + std::to_string(t));
  }
}

// ---- pread and io_uring -------------------------------------------------

TEST_F(SpannIndexTest, PreadAndIoUringGiveIdenticalResults) {
  unsetenv("CAIRN_IO");
  auto pread_index = SpannIndex::Open(S().index_dir, WithIo(BlockReaderOptions::kPread));
  ASSERT_TRUE(pread_index.ok()) << pread_index.status();
  {
    auto ctx = (*pread_index)->NewContext();
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    EXPECT_STREQ((*ctx)->io_kind(), "pread");
  }
  Results with_pread;
  ASSERT_TRUE(SearchAll(**pread_index, S().queries, SpannSearchParams(), &with_pread).ok());
  ExpectSameResults(S().results, with_pread, "pread");

  BlockReaderOptions uring;
  uring.kind = BlockReaderOptions::kIoUring;
  auto probe = OpenBlockReader(S().index_dir + "/postings.dat", uring);
  if (!probe.ok() && probe.status().code() == absl::StatusCode::kUnavailable) {
    GTEST_SKIP() << "io_uring is not available here: " << probe.status();
  }
  ASSERT_TRUE(probe.ok()) << probe.status();
  auto uring_index = SpannIndex::Open(S().index_dir, WithIo(BlockReaderOptions::kIoUring));
  ASSERT_TRUE(uring_index.ok()) << uring_index.status();
  {
    auto ctx = (*uring_index)->NewContext();
    ASSERT_TRUE(ctx.ok()) << ctx.status();
    EXPECT_STREQ((*ctx)->io_kind(), "io_uring");
  }
  Results with_uring;
  ASSERT_TRUE(SearchAll(**uring_index, S().queries, SpannSearchParams(), &with_uring).ok());
  ExpectSameResults(with_pread, with_uring, "io_uring vs pread");
}

// ---- Search parameters -----------------------------------------------------

TEST(SearchPlanTest, NamesRoundTrip) {
  using Plan = SpannSearchParams::Plan;
  for (Plan plan : {Plan::kAuto, Plan::kTwoStep, Plan::kWhole}) {
    EXPECT_EQ(*SpannSearchParams::ParsePlan(SpannSearchParams::PlanName(plan)), plan);
  }
  EXPECT_EQ(SpannSearchParams::PlanName(Plan::kTwoStep), std::string("two-step"));
  EXPECT_EQ(SpannSearchParams::ParsePlan("codes").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(SpannIndexTest, SearchParametersAreValidatedAndHonoured) {
  auto index = SpannIndex::Open(S().index_dir);
  ASSERT_TRUE(index.ok()) << index.status();
  auto ctx = (*index)->NewContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  const float* q = S().queries.row(3);
  std::vector<Neighbor> r;
  auto search = [&](const SpannSearchParams& p, SearchStats* stats = nullptr) {
    return (*index)->Search(q, p, ctx->get(), &r, stats);
  };
  SpannSearchParams p;
  p.k = 0;
  EXPECT_EQ(search(p).code(), absl::StatusCode::kInvalidArgument);
  p = {};
  p.max_postings = 0;
  EXPECT_EQ(search(p).code(), absl::StatusCode::kInvalidArgument);
  p = {};
  p.epsilon = -1;
  EXPECT_EQ(search(p).code(), absl::StatusCode::kInvalidArgument);
  p.epsilon = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(search(p).code(), absl::StatusCode::kInvalidArgument);
  std::vector<float> bad(q, q + kDim);
  bad[5] = std::numeric_limits<float>::infinity();
  EXPECT_EQ((*index)->Search(bad.data(), SpannSearchParams(), ctx->get(), &r, nullptr).code(),
            absl::StatusCode::kInvalidArgument);

  // Without pruning exactly max_postings postings are read.
  p = {};
  p.max_postings = 16;
  p.epsilon = std::numeric_limits<float>::infinity();
  SearchStats stats;
  ASSERT_TRUE(search(p, &stats).ok());
  EXPECT_EQ(stats.postings_read, 16u);
  EXPECT_EQ(r.size(), p.k);
  // epsilon 0 keeps only the nearest head (and exact ties).
  p.epsilon = 0;
  stats = {};
  ASSERT_TRUE(search(p, &stats).ok());
  EXPECT_GE(stats.postings_read, 1u);
  EXPECT_LE(stats.postings_read, 2u);

  // More neighbours than one posting holds: all of it, sorted, no more.
  p = {};
  p.k = 100000;
  p.max_postings = 1;
  stats = {};
  ASSERT_TRUE(search(p, &stats).ok());
  EXPECT_EQ(stats.postings_read, 1u);
  EXPECT_EQ(r.size(), stats.entries_scanned);
  EXPECT_GT(r.size(), 0u);
  ExpectWellFormed(r, kN, "one posting");

  // A larger k returns a superset whose first 10 are the k = 10 answer.
  p = {};
  p.k = 50;
  ASSERT_TRUE(search(p).ok());
  ASSERT_EQ(r.size(), 50u);
  ExpectWellFormed(r, kN, "k = 50");
  std::vector<Neighbor> top10(r.begin(), r.begin() + 10);
  ExpectSameResults({S().results[3]}, {top10}, "k = 50 vs k = 10");
}

// ---- Damage -------------------------------------------------------------

TEST_F(SpannIndexTest, CorruptPostingFailsExactlyTheSearchesThatReadIt) {
  const std::string dir = CopyIndex("bad-payload");
  const std::string postings = dir + "/postings.dat";
  auto directory = ReadDirectory(Env::Default(), dir + "/directory");
  ASSERT_TRUE(directory.ok()) << directory.status();
  // The postings of query 0's three nearest heads: its search reads at least
  // one of them whatever the beam and pruning.
  const std::vector<uint32_t> nearest = NearestHeads(dir, S().queries.row(0), 3);
  ASSERT_EQ(nearest.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    const DirectoryEntry& e = (*directory)[nearest[i]];
    ASSERT_GT(e.count, 0u);
    const uint64_t payload = PostingPayloadBytes(e.count, kDim, StoredType::kFloat32);
    FlipByte(postings, e.offset + kPostingFrameHeaderBytes + payload / 2);
  }

  // Open reads no posting, so it succeeds; searches find the damage.
  auto index = SpannIndex::Open(dir);
  ASSERT_TRUE(index.ok()) << index.status();
  auto ctx = (*index)->NewContext();
  ASSERT_TRUE(ctx.ok()) << ctx.status();
  int failed = 0;
  std::vector<Neighbor> r;
  for (uint32_t q = 0; q < kQueries; ++q) {
    absl::Status s =
        (*index)->Search(S().queries.row(q), SpannSearchParams(), ctx->get(), &r, nullptr);
    if (s.ok()) {
      // A search that did not read the damaged posting is unaffected.
      ExpectSameResults({S().results[q]}, {r}, "query " + std::to_string(q));
    } else {
      ++failed;
      ExpectDataLossNaming(s, postings, "query " + std::to_string(q));
    }
    if (q == 0) {
      EXPECT_FALSE(s.ok()) << "query 0 reads the damaged posting";
    }
  }
  EXPECT_GE(failed, 1);
  std::printf("%d of %u queries read a damaged posting\n", failed, kQueries);

  // The context survives the errors: a clean search on it still works.
  auto clean = SpannIndex::Open(S().index_dir);
  ASSERT_TRUE(clean.ok());
  auto ctx2 = (*clean)->NewContext();
  ASSERT_TRUE(ctx2.ok());
  ASSERT_TRUE(
      (*clean)->Search(S().queries.row(0), SpannSearchParams(), ctx2->get(), &r, nullptr).ok());
}

TEST_F(SpannIndexTest, CorruptPostingFrameIsDataLossNamingTheFile) {
  auto directory = ReadDirectory(Env::Default(), S().index_dir + "/directory");
  ASSERT_TRUE(directory.ok()) << directory.status();
  const std::vector<uint32_t> nearest = NearestHeads(S().index_dir, S().queries.row(1), 1);
  ASSERT_EQ(nearest.size(), 1u);
  const DirectoryEntry& e = (*directory)[nearest[0]];
  // Frame magic, version, payload length, checksum; and the zero padding
  // after the payload is not checked, so it is left out.
  for (uint64_t field : {0u, 4u, 8u, 16u}) {
    const std::string dir = CopyIndex("bad-frame-" + std::to_string(field));
    FlipByte(dir + "/postings.dat", e.offset + field);
    auto index = SpannIndex::Open(dir);
    ASSERT_TRUE(index.ok()) << index.status();
    Results r;
    absl::Status s = SearchAll(**index, S().queries, SpannSearchParams(), &r);
    ExpectDataLossNaming(s, dir + "/postings.dat", "frame byte " + std::to_string(field));
  }
}

TEST_F(SpannIndexTest, DamagedPostingFileFailsOpen) {
  // Truncated by a page, by a byte, to its header, to nothing.
  const uint64_t size = fs::file_size(S().index_dir + "/postings.dat");
  for (uint64_t new_size : {size - kPostingPageBytes, size - 1, uint64_t{kPostingPageBytes},
                            uint64_t{100}, uint64_t{0}}) {
    const std::string dir = CopyIndex("truncated-" + std::to_string(new_size));
    fs::resize_file(dir + "/postings.dat", new_size);
    auto index = SpannIndex::Open(dir);
    ASSERT_FALSE(index.ok()) << "truncated to " << new_size;
    ExpectDataLossNaming(index.status(), dir + "/postings.dat",
                         "truncated to " + std::to_string(new_size));
  }
  // A page appended.
  {
    const std::string dir = CopyIndex("longer");
    fs::resize_file(dir + "/postings.dat", size + kPostingPageBytes);
    auto index = SpannIndex::Open(dir);
    ASSERT_FALSE(index.ok());
    ExpectDataLossNaming(index.status(), dir + "/postings.dat", "one page longer");
  }
  // A flipped byte in the file header.
  {
    const std::string dir = CopyIndex("bad-header");
    FlipByte(dir + "/postings.dat", 20);
    auto index = SpannIndex::Open(dir);
    ASSERT_FALSE(index.ok());
    ExpectDataLossNaming(index.status(), dir + "/postings.dat", "header byte");
  }
  // Missing.
  {
    const std::string dir = CopyIndex("no-postings");
    fs::remove(dir + "/postings.dat");
    auto index = SpannIndex::Open(dir);
    ASSERT_FALSE(index.ok());
    EXPECT_THAT(std::string(index.status().message()), HasSubstr(dir + "/postings.dat"));
  }
}

// Flips single bytes at the start, middle and end of `name`; every copy
// must fail Open with DataLoss naming that file.
void ExpectFlipsFailOpen(const std::string& index_dir, const std::string& name,
                         const std::function<std::string(const std::string&)>& copy) {
  const uint64_t size = fs::file_size(index_dir + "/" + name);
  for (uint64_t offset :
       {uint64_t{0}, uint64_t{9}, uint64_t{20}, uint64_t{40}, size / 2, size - 1}) {
    const std::string dir = copy(name + "-" + std::to_string(offset));
    FlipByte(dir + "/" + name, offset);
    auto index = SpannIndex::Open(dir);
    ASSERT_FALSE(index.ok()) << name << " byte " << offset;
    ExpectDataLossNaming(index.status(), dir + "/" + name,
                         name + " byte " + std::to_string(offset));
  }
}

TEST_F(SpannIndexTest, FlippedByteInDirectoryFailsOpen) {
  ExpectFlipsFailOpen(S().index_dir, "directory",
                      [this](const std::string& n) { return CopyIndex(n); });
}

TEST_F(SpannIndexTest, FlippedByteInManifestFailsOpen) {
  ExpectFlipsFailOpen(S().index_dir, "manifest",
                      [this](const std::string& n) { return CopyIndex(n); });
}

TEST_F(SpannIndexTest, FlippedByteInHeadGraphFailsOpen) {
  ExpectFlipsFailOpen(S().index_dir, "heads.hnsw",
                      [this](const std::string& n) { return CopyIndex(n); });
  // Truncated, too.
  const std::string dir = CopyIndex("short-heads");
  fs::resize_file(dir + "/heads.hnsw", fs::file_size(dir + "/heads.hnsw") / 2);
  auto index = SpannIndex::Open(dir);
  ASSERT_FALSE(index.ok());
  ExpectDataLossNaming(index.status(), dir + "/heads.hnsw", "truncated heads.hnsw");
}

TEST_F(SpannIndexTest, DirectoryThatDisagreesWithThePostingsFailsOpen) {
  // Well-formed directory files (valid checksum) with wrong contents.
  auto good = ReadDirectory(Env::Default(), S().index_dir + "/directory");
  ASSERT_TRUE(good.ok()) << good.status();
  const uint64_t file_size = fs::file_size(S().index_dir + "/postings.dat");
  struct Case {
    std::string name;
    std::function<void(std::vector<DirectoryEntry>&)> damage;
  };
  const std::vector<Case> cases = {
      {"past-the-end", [&](auto& d) { d[3].offset = file_size; }},
      {"unaligned", [&](auto& d) { d[3].offset += 512; }},
      {"zero-bytes", [&](auto& d) { d[3].bytes = 0; }},
      {"count-too-big", [&](auto& d) { d[3].count += 1000; }},
      {"one-entry-short", [&](auto& d) { d.pop_back(); }},
      {"one-entry-extra", [&](auto& d) { d.push_back(d.back()); }},
  };
  for (const Case& c : cases) {
    const std::string dir = CopyIndex("dir-" + c.name);
    std::vector<DirectoryEntry> entries = *good;
    c.damage(entries);
    ASSERT_TRUE(WriteDirectory(Env::Default(), dir + "/directory", entries).ok());
    auto index = SpannIndex::Open(dir);
    ASSERT_FALSE(index.ok()) << c.name;
    ExpectDataLossNaming(index.status(), dir + "/directory", c.name);
  }
}

TEST_F(SpannIndexTest, MissingFilesFailOpenWithoutCrashing) {
  for (const std::string name : {"manifest", "directory", "heads.hnsw"}) {
    const std::string dir = CopyIndex("no-" + name);
    fs::remove(dir + "/" + name);
    auto index = SpannIndex::Open(dir);
    ASSERT_FALSE(index.ok()) << name;
    EXPECT_TRUE(index.status().code() == absl::StatusCode::kNotFound ||
                index.status().code() == absl::StatusCode::kDataLoss)
        << name << ": " << index.status();
    EXPECT_THAT(std::string(index.status().message()), HasSubstr(dir + "/" + name));
  }
  auto missing = SpannIndex::Open(tmp_.File("no-such-index"));
  EXPECT_FALSE(missing.ok());
}

}  // namespace
}  // namespace cairn
