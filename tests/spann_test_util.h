// Shared by the SPANN engine tests (spann_index_test.cc: search and damage;
// spann_build_test.cc: building, resuming, metrics and input errors): a
// seeded data set on a real disk, result comparisons, and an independent
// check of a built index's posting file against its input.
#ifndef CAIRN_TESTS_SPANN_TEST_UTIL_H_
#define CAIRN_TESTS_SPANN_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "datasets/ground_truth.h"
#include "datasets/synthetic.h"
#include "datasets/vector_file.h"
#include "kernels/distance.h"
#include "index/spann/head_index.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_builder.h"
#include "index/spann/spann_files.h"
#include "index/spann/spann_index.h"
#include "storage/env.h"
#include "storage/posting_file.h"
#include "tests/test_util.h"

namespace cairn::testing {

inline constexpr uint64_t kN = 20000;
inline constexpr uint32_t kDim = 32;
inline constexpr uint32_t kQueries = 200;

using ::cairn::testing::DiskTempDir;

using Results = std::vector<std::vector<Neighbor>>;

inline absl::Status SearchAll(const SpannIndex& index, const FloatMatrix& queries,
                              const SpannSearchParams& params, Results* out,
                              SearchStats* stats = nullptr) {
  auto ctx = index.NewContext();
  if (!ctx.ok()) return ctx.status();
  out->assign(queries.rows, {});
  for (uint64_t q = 0; q < queries.rows; ++q) {
    absl::Status s = index.Search(queries.row(q), params, ctx->get(), &(*out)[q], stats);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// Result ids as RecallAtK wants them: k per query, -1 where a query has fewer.
inline std::vector<int64_t> Ids(const Results& results, uint32_t k) {
  std::vector<int64_t> ids(results.size() * k, -1);
  for (size_t q = 0; q < results.size(); ++q) {
    for (size_t i = 0; i < std::min<size_t>(k, results[q].size()); ++i) {
      ids[q * k + i] = results[q][i].id;
    }
  }
  return ids;
}

// Same ids and bit-identical distances.
inline void ExpectSameResults(const Results& a, const Results& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (size_t q = 0; q < a.size(); ++q) {
    ASSERT_EQ(a[q].size(), b[q].size()) << what << ", query " << q;
    for (size_t i = 0; i < a[q].size(); ++i) {
      ASSERT_EQ(a[q][i].id, b[q][i].id) << what << ", query " << q << " rank " << i;
      ASSERT_EQ(std::memcmp(&a[q][i].distance, &b[q][i].distance, sizeof(float)), 0)
          << what << ", query " << q << " rank " << i << ": " << a[q][i].distance << " vs "
          << b[q][i].distance;
    }
  }
}

// Sorted ascending by distance, distinct ids, ids in range.
inline void ExpectWellFormed(const std::vector<Neighbor>& r, uint64_t n, const std::string& what) {
  std::set<uint32_t> seen;
  for (size_t i = 0; i < r.size(); ++i) {
    EXPECT_LT(r[i].id, n) << what;
    EXPECT_TRUE(seen.insert(r[i].id).second) << what << ": id " << r[i].id << " twice";
    EXPECT_TRUE(std::isfinite(r[i].distance)) << what;
    if (i > 0) {
      EXPECT_LE(r[i - 1].distance, r[i].distance) << what << " rank " << i;
    }
  }
}

inline std::vector<float> Normalized(const float* v, uint32_t dim) {
  std::vector<float> out(v, v + dim);
  Normalize(out.data(), dim);
  return out;
}

inline void FlipByte(const std::string& path, uint64_t offset) {
  std::vector<uint8_t> bytes = ReadBytes(path);
  ASSERT_LT(offset, bytes.size()) << path;
  bytes[offset] ^= 0x5A;
  WriteBytes(path, bytes.data(), bytes.size());
}

inline void ExpectDataLossNaming(const absl::Status& s, const std::string& path,
                                 const std::string& what) {
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << what << ": " << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(path)) << what;
}

// Checks the posting file against the input, independently of search: every
// record decodes, each entry's vector is the input row of its id (normalised
// for cosine), no id twice in one posting, every input row in at least one
// and at most `replicas` postings, directory and manifest agree, and each
// head's radius bounds its entries' distances.
inline void VerifyPostings(const std::string& dir, const FloatMatrix& base, Metric metric,
                           uint32_t replicas) {
  Env* env = Env::Default();
  auto manifest = ReadManifest(env, dir);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  auto directory = ReadDirectory(env, dir + "/directory");
  ASSERT_TRUE(directory.ok()) << directory.status();
  ASSERT_EQ(directory->size(), manifest->num_heads);
  auto heads = HeadIndex::Load(dir + "/heads.hnsw", base.dim, metric);
  ASSERT_TRUE(heads.ok()) << heads.status();
  auto postings = PostingFileReader::Open(dir + "/postings.dat");
  ASSERT_TRUE(postings.ok()) << postings.status();
  ASSERT_EQ((*postings)->num_records(), manifest->num_heads);

  std::vector<uint32_t> copies(base.rows, 0);
  uint64_t head = 0, total = 0;
  absl::Status s =
      (*postings)->ForEachRecord([&](const PostingLocation& loc, std::span<const uint8_t> payload) {
        const DirectoryEntry& e = (*directory)[head];
        EXPECT_EQ(e.offset, loc.offset) << "head " << head;
        EXPECT_EQ(e.bytes, loc.bytes) << "head " << head;
        auto view = DecodePosting(payload, base.dim, manifest->stored_type, "test",
                                  manifest->code_entry_bytes);
        if (!view.ok()) return view.status();
        EXPECT_EQ(view->count, e.count) << "head " << head;
        const float* c = (*heads)->head(static_cast<uint32_t>(head));
        EXPECT_NE(c, nullptr) << "head " << head;
        if (c != nullptr && metric == Metric::kCosine) {
          // head_index.h: cosine heads are unit vectors (the graph uses -dot).
          EXPECT_NEAR(SquaredNorm(c, base.dim), 1.0f, 1e-4f) << "head " << head;
        }
        uint32_t previous = 0;
        std::set<uint32_t> in_posting;
        std::vector<float> got(base.dim);
        for (uint32_t i = 0; i < view->count; ++i) {
          uint32_t id;
          std::memcpy(&id, view->ids + i, 4);
          if (id >= base.rows) return absl::InternalError("id out of range");
          // Full-vector postings keep build order (ascending ids); coded
          // postings are in page-locality order (index/page_order.h), so
          // there only "no id twice" holds.
          if (manifest->code_entry_bytes == 0 && i > 0) {
            EXPECT_LT(previous, id) << "head " << head << ": ids not ascending (or twice)";
          }
          if (manifest->code_entry_bytes != 0) {
            EXPECT_TRUE(in_posting.insert(id).second) << "head " << head << ": id " << id << " twice";
          }
          previous = id;
          ++copies[id];
          std::vector<float> want(base.row(id), base.row(id) + base.dim);
          if (metric == Metric::kCosine) Normalize(want.data(), base.dim);
          const uint8_t* raw = view->vector(i);
          for (uint32_t d = 0; d < base.dim; ++d) {
            switch (view->type) {
              case StoredType::kFloat32:
                std::memcpy(&got[d], raw + 4 * d, 4);
                break;
              case StoredType::kUInt8:
                got[d] = raw[d];
                break;
              case StoredType::kInt8:
                got[d] = static_cast<int8_t>(raw[d]);
                break;
            }
          }
          if (got != want) {
            ADD_FAILURE() << "head " << head << " entry " << i << ": vector of id " << id
                          << " differs from the input";
          }
          if (c != nullptr && metric != Metric::kInnerProduct) {
            const float dist = std::sqrt(Kernels().l2_f32(c, got.data(), base.dim));
            EXPECT_LE(dist, e.radius * (1 + 1e-4f) + 1e-5f) << "head " << head << " entry " << i;
          }
        }
        total += view->count;
        ++head;
        return absl::OkStatus();
      });
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(head, manifest->num_heads);
  EXPECT_EQ(total, manifest->total_entries);
  for (uint64_t id = 0; id < base.rows; ++id) {
    ASSERT_GE(copies[id], 1u) << "vector " << id << " is in no posting";
    ASSERT_LE(copies[id], replicas) << "vector " << id;
  }
}

// The suite's data set (base, queries, L2 ground truth), generated once per
// process for every suite derived from this fixture and removed at exit.
class SpannDataTest : public ::testing::Test {
 protected:
  struct Shared {
    DiskTempDir tmp;
    std::string base_path, query_path;
    FloatMatrix base, queries;
    GroundTruth gt;
    std::string error;
    // The L2 index built with default options, and its answers to the
    // queries; built on first use (see SpannIndexTest).
    bool index_tried = false;
    std::string index_dir;
    Results results;
    SearchStats stats;
    std::string index_error;
  };

  static void SetUpTestSuite() {
    unsetenv("CAIRN_IO");
    if (shared_ != nullptr) return;
    shared_ = std::make_unique<Shared>();
    Shared& s = *shared_;
    auto fail = [&](const std::string& what, const absl::Status& status) {
      s.error = what + ": " + status.ToString();
    };
    if (!s.tmp.ok()) {
      s.error = "cannot create a directory under /var/tmp";
      return;
    }
    SyntheticOptions so;
    so.n = kN;
    so.dim = kDim;
    so.queries = kQueries;
    // 200 components of 100 points: a query's neighbours lie in a few
    // postings, as in real embeddings. (With 50 components of 400 points in
    // 32-d the neighbours spread over a whole component and the default 10
    // postings reach recall@10 ~0.84; 64 postings reach 1.0.)
    so.clusters = 200;
    so.gt_k = 100;
    so.progress = false;
    const std::string data_dir = s.tmp.File("data");
    if (auto st = GenerateSynthetic(so, data_dir); !st.ok()) return fail("synthetic", st);
    s.base_path = data_dir + "/base.fbin";
    s.query_path = data_dir + "/query.fbin";
    auto base = ReadFloatMatrix(s.base_path);
    auto queries = ReadFloatMatrix(s.query_path);
    auto gt = ReadGroundTruth(data_dir + "/gt.ibin");
    if (!base.ok()) return fail("base", base.status());
    if (!queries.ok()) return fail("queries", queries.status());
    if (!gt.ok()) return fail("gt", gt.status());
    s.base = std::move(*base);
    s.queries = std::move(*queries);
    s.gt = std::move(*gt);
  }

  void SetUp() override {
    ASSERT_NE(shared_, nullptr);
    ASSERT_TRUE(shared_->error.empty()) << shared_->error;
    ASSERT_TRUE(tmp_.ok()) << "cannot create a directory under /var/tmp";
  }

  const Shared& S() const { return *shared_; }

  static inline std::unique_ptr<Shared> shared_;
  DiskTempDir tmp_;
};

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_SPANN_TEST_UTIL_H_
