// Indexes built with binary codes: the two-step read (code sections, then
// candidate vector pages) against whole-posting reads of the same index, and
// against exact scores; damage to either section.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "index/spann/coded_search.h"
#include "common/random.h"
#include "index/live/live_index.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_index.h"
#include "tests/spann_test_util.h"

namespace cairn {
namespace {

using namespace ::cairn::testing;  // NOLINT: the shared fixture and helpers
namespace fs = std::filesystem;

absl::StatusOr<std::vector<LiveResult>> TopHitsOf(LiveIndex& index, LiveSearchContext* ctx,
                                                  const std::vector<float>& v) {
  SpannSearchParams p;
  p.k = 3;
  p.max_postings = 16;
  std::vector<LiveResult> out;
  if (auto s = index.Search(v.data(), p, ctx, &out, nullptr); !s.ok()) return s;
  return out;
}

SpannSearchParams Plan(SpannSearchParams::Plan plan, uint32_t rerank_top = 0) {
  SpannSearchParams p;
  p.plan = plan;
  p.rerank_top = rerank_top;
  return p;
}

class CodedSearchTest : public SpannDataTest {
 protected:
  // One index per code family, built on first use and shared by the suite.
  const std::string& IndexFor(const std::string& family) {
    static std::map<std::string, std::string> dirs;
    auto it = dirs.find(family);
    if (it != dirs.end()) return it->second;
    SpannBuildOptions bo;
    bo.metric = Metric::kL2;
    bo.progress = false;
    bo.codes = *ParseCodeFamily(family);
    const std::string dir = S().tmp.File("index-" + family);
    auto report = BuildSpannIndex(S().base_path, dir, bo);
    EXPECT_TRUE(report.ok()) << report.status();
    return dirs[family] = dir;
  }

  std::unique_ptr<SpannIndex> Open(const std::string& dir) {
    auto index = SpannIndex::Open(dir);
    EXPECT_TRUE(index.ok()) << index.status();
    return index.ok() ? std::move(*index) : nullptr;
  }
};

TEST_F(CodedSearchTest, RabitqTwoStepReachesRecallWithExactScoresAndReadsLess) {
  auto index = Open(IndexFor("rabitq"));
  ASSERT_NE(index, nullptr);
  ASSERT_NE(index->code_model(), nullptr);
  VerifyPostings(IndexFor("rabitq"), S().base, Metric::kL2, 8);

  Results two_step, whole;
  SearchStats st2, stw;
  ASSERT_TRUE(SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kTwoStep), &two_step,
                        &st2).ok());
  ASSERT_TRUE(
      SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kWhole), &whole, &stw).ok());
  const double r2 = RecallAtK(S().gt, Ids(two_step, 10), 10, 10);
  const double rw = RecallAtK(S().gt, Ids(whole, 10), 10, 10);
  std::printf("rabitq: recall@10 two-step %.4f (%.1f KiB, %.1f reranked per query), whole %.4f "
              "(%.1f KiB)\n",
              r2, st2.bytes_read / 1024.0 / kQueries, double(st2.reranked) / kQueries, rw,
              stw.bytes_read / 1024.0 / kQueries);
  EXPECT_GE(r2, 0.95);
  // The bound discards only entries that are (w.h.p.) not in the top k.
  EXPECT_GE(r2, rw - 0.01);
  EXPECT_EQ(st2.two_step_queries, kQueries);
  EXPECT_EQ(stw.two_step_queries, 0u);
  // Reads fewer pages than whole postings and scores fewer vectors exactly.
  EXPECT_LT(st2.pages_read, stw.pages_read);
  EXPECT_LT(st2.entries_scanned, stw.entries_scanned);
  EXPECT_EQ(st2.entries_scanned, st2.reranked);

  for (uint32_t q = 0; q < kQueries; ++q) {
    const std::string what = "query " + std::to_string(q);
    ExpectWellFormed(two_step[q], kN, what);
    for (const Neighbor& n : two_step[q]) {
      // Every vector read is scored exactly as a full-vector search would.
      EXPECT_EQ(n.distance, Kernels().l2_f32(S().queries.row(q), S().base.row(n.id), kDim))
          << what;
    }
  }
}

// sq8's bound holds for every entry, so the two-step read returns exactly
// what reading every vector returns (ids and exact distances), while it
// reads code sections plus a few vector pages; the same holds under a
// target_recall budget.
TEST_F(CodedSearchTest, Sq8TwoStepReturnsExactlyTheWholeReadResults) {
  auto index = Open(IndexFor("sq8"));
  ASSERT_NE(index, nullptr);
  ASSERT_NE(index->code_model(), nullptr);
  EXPECT_EQ(index->code_model()->family(), CodeFamily::kSq8);
  VerifyPostings(IndexFor("sq8"), S().base, Metric::kL2, 8);
  Results two_step, whole;
  SearchStats st2, stw;
  for (uint32_t postings : {4u, 16u}) {
    SpannSearchParams p2 = Plan(SpannSearchParams::Plan::kTwoStep);
    SpannSearchParams pw = Plan(SpannSearchParams::Plan::kWhole);
    p2.max_postings = pw.max_postings = postings;
    ASSERT_TRUE(SearchAll(*index, S().queries, p2, &two_step, &st2).ok());
    ASSERT_TRUE(SearchAll(*index, S().queries, pw, &whole, &stw).ok());
    ExpectSameResults(two_step, whole, "sq8 two-step vs whole, " + std::to_string(postings));
  }
  SpannSearchParams t2 = Plan(SpannSearchParams::Plan::kTwoStep);
  SpannSearchParams tw = Plan(SpannSearchParams::Plan::kWhole);
  t2.target_recall = tw.target_recall = 0.95;
  Results routed2, routedw;
  ASSERT_TRUE(SearchAll(*index, S().queries, t2, &routed2).ok());
  ASSERT_TRUE(SearchAll(*index, S().queries, tw, &routedw).ok());
  ExpectSameResults(routed2, routedw, "sq8 at target_recall 0.95");
  std::printf("sq8: %.1f KiB and %.1f reranked per query two-step, %.1f KiB whole\n",
              st2.bytes_read / 2048.0 / kQueries, double(st2.reranked) / (2 * kQueries),
              stw.bytes_read / 2048.0 / kQueries);
  EXPECT_EQ(st2.two_step_queries, 2 * kQueries);
  EXPECT_LT(st2.pages_read, stw.pages_read);
  // The bound is tight: few more entries are reranked than returned.
  EXPECT_LT(st2.reranked, 4 * 10 * 2 * kQueries);
  EXPECT_LT(st2.entries_scanned, stw.entries_scanned / 4);
}

TEST_F(CodedSearchTest, AutoPlanWeighsTheExtraBatchAgainstBytesSaved) {
  auto index = Open(IndexFor("rabitq"));
  ASSERT_NE(index, nullptr);
  Results whole, costly, free_batch;
  SearchStats stw, st_costly, st_free;
  ASSERT_TRUE(
      SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kWhole), &whole, &stw).ok());
  // A second batch dearer than any saving: every query reads whole postings,
  // with the same results and bytes as the whole plan.
  SpannSearchParams p = Plan(SpannSearchParams::Plan::kAuto);
  p.batch_cost_kib = 1u << 22;
  ASSERT_TRUE(SearchAll(*index, S().queries, p, &costly, &st_costly).ok());
  EXPECT_EQ(st_costly.two_step_queries, 0u);
  EXPECT_EQ(st_costly.bytes_read, stw.bytes_read);
  EXPECT_EQ(st_costly.reads, stw.reads);
  ExpectSameResults(costly, whole, "auto with a costly batch vs whole");
  // A free second batch: bytes alone decide, and two-step reads fewer here
  // (see RabitqTwoStepReachesRecallWithExactScoresAndReadsLess).
  p.batch_cost_kib = 0;
  ASSERT_TRUE(SearchAll(*index, S().queries, p, &free_batch, &st_free).ok());
  EXPECT_GT(st_free.two_step_queries, kQueries / 2);
  EXPECT_LT(st_free.bytes_read, stw.bytes_read);
  // Every two-step query issues at least one read per posting plus one more.
  EXPECT_GT(st_free.reads, stw.reads);
  p.batch_cost_kib = (1u << 22) + 1;
  std::vector<Neighbor> out;
  auto ctx = index->NewContext();
  ASSERT_TRUE(ctx.ok());
  EXPECT_EQ(index->Search(S().queries.row(0), p, ctx->get(), &out, nullptr).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(CodedSearchTest, RerankingEveryEntryEqualsWholePostingReads) {
  auto index = Open(IndexFor("rabitq"));
  ASSERT_NE(index, nullptr);
  Results all, whole;
  ASSERT_TRUE(SearchAll(*index, S().queries,
                        Plan(SpannSearchParams::Plan::kTwoStep, 1000000), &all).ok());
  ASSERT_TRUE(SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kWhole), &whole).ok());
  ExpectSameResults(all, whole, "rerank all vs whole");
}

TEST_F(CodedSearchTest, MergedPageRunsReadMoreButScoreTheSame) {
  auto index = Open(IndexFor("rabitq"));
  ASSERT_NE(index, nullptr);
  Results exact_runs, merged;
  SearchStats st0, st8;
  SpannSearchParams p = Plan(SpannSearchParams::Plan::kTwoStep);
  ASSERT_TRUE(SearchAll(*index, S().queries, p, &exact_runs, &st0).ok());
  p.merge_gap = 8;
  ASSERT_TRUE(SearchAll(*index, S().queries, p, &merged, &st8).ok());
  ExpectSameResults(exact_runs, merged, "merge_gap 0 vs 8");
  EXPECT_EQ(st0.reranked, st8.reranked);
  EXPECT_GT(st8.pages_read, st0.pages_read);
}

TEST_F(CodedSearchTest, NearestPostingsReadWholeKeepResultsExact) {
  auto index = Open(IndexFor("rabitq"));
  ASSERT_NE(index, nullptr);
  Results mixed_all, whole, mixed;
  SearchStats st0, st3;
  SpannSearchParams p = Plan(SpannSearchParams::Plan::kTwoStep, 1000000);
  p.whole_nearest = 3;
  ASSERT_TRUE(SearchAll(*index, S().queries, p, &mixed_all).ok());
  ASSERT_TRUE(SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kWhole), &whole).ok());
  ExpectSameResults(mixed_all, whole, "3 whole + rerank all vs whole postings");
  // By the bound: no worse recall than all code sections, and fewer
  // entries left to rerank from codes.
  ASSERT_TRUE(SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kTwoStep), &mixed,
                        &st0).ok());
  p.rerank_top = 0;
  Results with_whole;
  ASSERT_TRUE(SearchAll(*index, S().queries, p, &with_whole, &st3).ok());
  EXPECT_GE(RecallAtK(S().gt, Ids(with_whole, 10), 10, 10),
            RecallAtK(S().gt, Ids(mixed, 10), 10, 10) - 0.005);
  EXPECT_LT(st3.reranked, st0.reranked);
  for (uint32_t q = 0; q < kQueries; ++q) {
    for (const Neighbor& n : with_whole[q]) {
      EXPECT_EQ(n.distance, Kernels().l2_f32(S().queries.row(q), S().base.row(n.id), kDim));
    }
  }
}

TEST_F(CodedSearchTest, LshAndItqIndexesSearchWithTopCRerank) {
  for (const std::string family : {"lsh", "itq"}) {
    auto index = Open(IndexFor(family));
    ASSERT_NE(index, nullptr) << family;
    Results r;
    SearchStats st;
    ASSERT_TRUE(SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kTwoStep, 100), &r,
                          &st).ok());
    const double recall = RecallAtK(S().gt, Ids(r, 10), 10, 10);
    std::printf("%s: recall@10 %.4f reranking the 100 best estimates\n", family.c_str(), recall);
    EXPECT_GE(recall, 0.85) << family;
    EXPECT_LE(st.reranked, 100u * kQueries);
  }
}

TEST_F(CodedSearchTest, ReopenedCodedIndexGivesIdenticalResults) {
  Results a, b;
  {
    auto index = Open(IndexFor("rabitq"));
    ASSERT_NE(index, nullptr);
    ASSERT_TRUE(SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kTwoStep), &a).ok());
  }
  auto index = Open(IndexFor("rabitq"));
  ASSERT_NE(index, nullptr);
  ASSERT_TRUE(SearchAll(*index, S().queries, Plan(SpannSearchParams::Plan::kTwoStep), &b).ok());
  ExpectSameResults(a, b, "reopened");
}

TEST_F(CodedSearchTest, DamagedVectorPageOrCodeSectionIsDataLoss) {
  const std::string dir = tmp_.File("damaged");
  fs::copy(IndexFor("rabitq"), dir, fs::copy_options::recursive);
  const std::string postings = dir + "/postings.dat";
  auto manifest = ReadManifest(Env::Default(), dir);
  ASSERT_TRUE(manifest.ok());
  auto directory = ReadDirectory(Env::Default(), dir + "/directory");
  ASSERT_TRUE(directory.ok());
  // Damage every posting: the code section of even heads, the last vector
  // page of odd heads.
  std::vector<uint8_t> bytes = ReadBytes(postings);
  for (size_t h = 0; h < directory->size(); ++h) {
    const DirectoryEntry& e = (*directory)[h];
    if (e.count == 0) continue;
    bytes[h % 2 == 0 ? e.offset + 64 : e.offset + e.bytes - 4096 + 10] ^= 0x5A;
  }
  WriteBytes(postings, bytes.data(), bytes.size());
  auto index = Open(dir);
  ASSERT_NE(index, nullptr);
  auto ctx = index->NewContext();
  ASSERT_TRUE(ctx.ok());
  std::vector<Neighbor> r;
  int failed = 0;
  for (uint32_t q = 0; q < 50; ++q) {
    for (auto plan : {SpannSearchParams::Plan::kTwoStep, SpannSearchParams::Plan::kWhole}) {
      absl::Status s = index->Search(S().queries.row(q), Plan(plan, 1000000), ctx->get(), &r,
                                     nullptr);
      ASSERT_FALSE(s.ok()) << "query " << q;
      ExpectDataLossNaming(s, postings, "query " + std::to_string(q));
      ++failed;
    }
  }
  EXPECT_EQ(failed, 100);
}

TEST_F(CodedSearchTest, LiveUpdatesAndSplitsReencodeWhatTheyMove) {
  const std::string dir = tmp_.File("live");
  fs::copy(IndexFor("rabitq"), dir, fs::copy_options::recursive);
  LiveOptions lo;
  lo.background = false;
  lo.sync_writes = false;
  lo.posting_limit = 100;  // about 3x the mean posting: inserts near the queries split some
  {
    auto live = LiveIndex::Open(dir, lo);
    ASSERT_TRUE(live.ok()) << live.status();
    // Before any write, the bulk build's codes are all of their heads.
    auto checked = (*live)->CheckCodes();
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_GT(*checked, kN);
    // New vectors near the queries (so they land in busy postings), then
    // delete a third of them.
    Rng rng(5);
    std::vector<std::vector<float>> added;
    for (uint32_t i = 0; i < 1200; ++i) {
      std::vector<float> v(S().queries.row(i % kQueries), S().queries.row(i % kQueries) + kDim);
      for (float& x : v) x += static_cast<float>(rng.Gaussian() * 0.05);
      added.push_back(v);
    }
    for (uint32_t b = 0; b < 1200; b += 100) {
      std::vector<LiveIndex::Item> items;
      for (uint32_t i = b; i < b + 100; ++i) {
        items.push_back({ExternalId::Number(1000000 + i), added[i].data()});
      }
      ASSERT_TRUE((*live)->Upsert(items).ok());
    }
    std::vector<ExternalId> gone;
    for (uint32_t i = 0; i < 1200; i += 3) gone.push_back(ExternalId::Number(1000000 + i));
    uint64_t deleted = 0;
    ASSERT_TRUE((*live)->Delete(gone, &deleted).ok());
    EXPECT_EQ(deleted, gone.size());
    ASSERT_TRUE((*live)->Checkpoint().ok());
    const LiveStats st = (*live)->stats();
    std::printf("live coded index: %llu splits, %llu rewrites, %llu reassigned\n",
                (unsigned long long)st.splits, (unsigned long long)st.posting_rewrites,
                (unsigned long long)st.reassigned);
    EXPECT_GT(st.splits, 0u);
    checked = (*live)->CheckCodes();
    ASSERT_TRUE(checked.ok()) << checked.status();
    EXPECT_GT(*checked, kN + 800);
    // Inserted vectors are found, deleted ones never returned.
    auto ctx = (*live)->NewContext();
    ASSERT_TRUE(ctx.ok());
    int found = 0;
    for (uint32_t i = 0; i < 1200; i += 7) {
      auto hits = TopHitsOf(**live, ctx->get(), added[i]);
      ASSERT_TRUE(hits.ok()) << hits.status();
      const bool is_deleted = i % 3 == 0;
      for (const LiveResult& r : *hits) {
        if (is_deleted) {
          EXPECT_FALSE(r.id == ExternalId::Number(1000000 + i)) << i;
        }
      }
      if (!is_deleted && !hits->empty() && hits->front().id == ExternalId::Number(1000000 + i)) {
        ++found;
      }
    }
    EXPECT_GE(found, 0.95 * (1200 / 7 * 2 / 3));
  }
  // Reopened, the index still decodes and its codes still check.
  auto again = LiveIndex::Open(dir, lo);
  ASSERT_TRUE(again.ok()) << again.status();
  auto checked = (*again)->CheckCodes();
  ASSERT_TRUE(checked.ok()) << checked.status();
}

}  // namespace
}  // namespace cairn
