// Inputs the fuzz targets (fuzz/, docs/fuzzing.md) found crashing, each
// rebuilt here from a valid file of our own writers plus the corruption the
// fuzzer made, so that the case reads as what it is. Every one must now be
// an error Status.
#include <stdlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <span>
#include <string>
#include <vector>

#include "datasets/dataset_manifest.h"
#include "gtest/gtest.h"
#include "index/codes/code_model.h"
#include "index/spann/head_index.h"
#include "index/spann/spann_files.h"
#include "storage/env.h"
#include "storage/record_file.h"

namespace cairn {
namespace {

class FuzzRegressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "fuzzreg-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ + "/" + name, std::ios::binary) << bytes;
  }
  std::string Read(const std::string& name) {
    auto bytes = Env::Default()->ReadFile(dir_ + "/" + name);
    EXPECT_TRUE(bytes.ok());
    return bytes.value_or("");
  }

  // A 5-head graph of dimension 4 as the builder writes it (M 16, so 32
  // level-0 links), saved to heads.hnsw.
  void SaveSmallGraph() {
    const float heads[] = {0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1};
    HeadIndexOptions options;
    options.threads = 1;
    options.progress = false;
    auto index = HeadIndex::Build(heads, 5, 4, Metric::kL2, options);
    ASSERT_TRUE(index.ok());
    ASSERT_TRUE((*index)->Save(dir_ + "/heads.hnsw").ok());
  }

  std::string dir_;
};

// manifest_fuzzer: dataset.json with "gt_k": 1.888e36 was converted to
// uint32_t by nlohmann's value() (UBSan: float-cast-overflow).
TEST_F(FuzzRegressionTest, DatasetManifestOutOfRangeNumbersAreErrors) {
  for (const char* bad :
       {R"({"dim": 4, "gt_k": 1888888888888888888888888888888888888})", R"({"dim": 4.5})",
        R"({"dim": -1})", R"({"num_base": "many"})", R"({"dim": 4294967296})"}) {
    Write("dataset.json", bad);
    EXPECT_FALSE(ReadDatasetManifest(dir_).ok()) << bad;
  }
  Write("dataset.json", R"({"name": "t", "dim": 4, "num_base": 10, "gt_k": 1})");
  auto m = ReadDatasetManifest(dir_);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->dim, 4u);
  EXPECT_EQ(m->num_base, 10u);
}

// The index manifest had the same conversions (get<uint32_t>()).
TEST_F(FuzzRegressionTest, IndexManifestOutOfRangeNumbersAreDataLoss) {
  const std::string body =
      R"({"dim": 1e40, "metric": "l2", "stored_type": "float32", "num_vectors": 1,
          "num_heads": 1, "total_entries": 1, "files": {}})";
  ASSERT_TRUE(WriteRecordFile(Env::Default(), dir_ + "/manifest", kManifestMagic, 1, body).ok());
  auto m = ReadManifest(Env::Default(), dir_);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << m.status();
}

// head_graph_fuzzer: one level-0 link of head 0 changed to point far past
// the graph; Load accepted it and the first Search read out of bounds
// (ASan SEGV in hnswlib's searchBaseLayerST).
TEST_F(FuzzRegressionTest, HeadGraphLinkPastTheGraphIsRefused) {
  SaveSmallGraph();
  std::string bytes = Read("heads.hnsw");
  // Header 96 bytes, then head 0's level-0 list: u32 count, then links.
  ASSERT_GT(bytes.size(), 96u + 16);
  bytes[96 + 14] = 0x4d;  // link 2's high bytes: an id of about 5 million
  Write("heads.hnsw", bytes);
  auto index = HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2);
  EXPECT_EQ(index.status().code(), absl::StatusCode::kDataLoss) << index.status();
}

// head_graph_fuzzer, second finding: an unused slot after head 0's last
// level-0 link held a huge id; hnswlib's search prefetches that slot's
// element, and the address arithmetic overflowed (UBSan: pointer overflow).
TEST_F(FuzzRegressionTest, HeadGraphGarbageInUnusedLinkSlotIsRefused) {
  SaveSmallGraph();
  std::string bytes = Read("heads.hnsw");
  uint32_t count = 0;
  std::memcpy(&count, bytes.data() + 96, 4);
  count &= 0xffff;
  ASSERT_LT(count, 32u);  // head 0 has fewer than maxM0 links
  const uint32_t garbage = 0xbadbad;
  std::memcpy(bytes.data() + 96 + 4 + 4 * count, &garbage, 4);
  Write("heads.hnsw", bytes);
  auto index = HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2);
  EXPECT_EQ(index.status().code(), absl::StatusCode::kDataLoss) << index.status();
}

// The header fields hnswlib allocates by: a capacity far beyond the heads,
// and a layout that is not the one of the dimension asked for.
TEST_F(FuzzRegressionTest, HeadGraphHeaderIsChecked) {
  SaveSmallGraph();
  const std::string good = Read("heads.hnsw");
  ASSERT_TRUE(HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2).ok());
  EXPECT_FALSE(HeadIndex::Load(dir_ + "/heads.hnsw", 8, Metric::kL2).ok());  // wrong dim
  std::string bytes = good;
  const uint64_t huge = uint64_t{1} << 40;
  std::memcpy(bytes.data() + 8, &huge, 8);  // max_elements
  Write("heads.hnsw", bytes);
  EXPECT_EQ(HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2).status().code(),
            absl::StatusCode::kDataLoss);
  bytes = good;
  const uint32_t entry = 77;
  std::memcpy(bytes.data() + 52, &entry, 4);  // enter point past the heads
  Write("heads.hnsw", bytes);
  EXPECT_EQ(HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2).status().code(),
            absl::StatusCode::kDataLoss);
}

// head_graph_fuzzer, third finding: an element's upper-level link-list size
// that is not a whole number of link blocks. hnswlib's loader took the level
// as size / block (0 for a size of 1), malloc'd the bytes and, the element
// being at level 0, never freed them (LeakSanitizer: 1 byte). Here head 0's
// size grows by one and one byte follows, so the file still passes
// hnswlib's own length check.
TEST_F(FuzzRegressionTest, HeadGraphPartialLinkBlockIsRefused) {
  SaveSmallGraph();
  const std::string good = Read("heads.hnsw");
  uint64_t per_element = 0;
  std::memcpy(&per_element, good.data() + 24, 8);  // size_data_per_element
  const size_t at = 96 + 5 * per_element;          // head 0's link-list size
  ASSERT_LE(at + 4, good.size());
  for (uint32_t extra : {1u, 3u}) {
    std::string bytes = good;
    uint32_t size = 0;
    std::memcpy(&size, bytes.data() + at, 4);
    size += extra;
    std::memcpy(bytes.data() + at, &size, 4);
    bytes.insert(at + 4, extra, '\0');
    Write("heads.hnsw", bytes);
    auto index = HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2);
    EXPECT_EQ(index.status().code(), absl::StatusCode::kDataLoss) << extra << index.status();
  }
  // One byte too many or too few at the end is refused by the same walk.
  Write("heads.hnsw", good + '\0');
  EXPECT_EQ(HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2).status().code(),
            absl::StatusCode::kDataLoss);
  Write("heads.hnsw", good.substr(0, good.size() - 1));
  EXPECT_EQ(HeadIndex::Load(dir_ + "/heads.hnsw", 4, Metric::kL2).status().code(),
            absl::StatusCode::kDataLoss);
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// PrepareQuery's contract for the conversion of its levels: the scale is 0
// or has a finite reciprocal, and the estimates are finite.
void ExpectQueryDefined(const CodeModel& model, const std::vector<float>& q,
                        const std::string& what) {
  CodeQuery cq;
  model.PrepareQuery(q.data(), &cq);
  EXPECT_TRUE(cq.scale == 0 || std::isfinite(1.0f / cq.scale)) << what << ": scale " << cq.scale;
  std::vector<float> head(model.dim(), 0.25f);
  std::vector<uint8_t> entry(model.entry_bytes());
  model.Encode(q.data(), head.data(), entry.data());
  float est = 0, err = 0;
  model.EstimatePosting(cq, PostingQueryTerms{1.0f, 0.5f}, entry.data(), 1, &est, &err);
  EXPECT_TRUE(std::isfinite(est) && std::isfinite(err)) << what << ": " << est << " +- " << err;
}

// code_model_fuzzer: a model whose matrix is zero but for one tiny (normal)
// entry, 3.79e-37. T q then spans less than 255 * FLT_MIN, the quantisation
// scale was subnormal, 1 / scale infinite, and 0 * inf = NaN went to
// uint32_t in PrepareQuery (UBSan: -nan is outside the range of unsigned
// int). The fuzzer's file was an itq model; an lsh one of our writer, with
// the same matrix, takes the same path. A user's query of tiny values takes
// it with an untouched model.
TEST(FuzzRegressionCodeModelTest, TinyQuantisationRangeIsDefined) {
  CodeParams params;
  params.family = CodeFamily::kLsh;
  auto trained = CodeModel::Train(params, Metric::kL2, 8, nullptr, 0);
  ASSERT_TRUE(trained.ok()) << trained.status();
  std::string body;
  (*trained)->Serialize(&body);
  // lsh's body ends with the 8 x 8 matrix.
  const size_t matrix_at = body.size() - 64 * sizeof(float);
  std::fill(body.begin() + matrix_at, body.end(), '\0');
  const float tiny = 3.790969281e-37f;
  std::memcpy(body.data() + matrix_at + (6 * 8 + 3) * sizeof(float), &tiny, sizeof(tiny));
  auto model = CodeModel::Deserialize(Bytes(body), "codes.model");
  ASSERT_TRUE(model.ok()) << model.status();  // a legal, if useless, model
  std::vector<float> q(8);
  for (uint32_t i = 0; i < 8; ++i) q[i] = 0.5f - 0.1f * (i % 7);
  ExpectQueryDefined(**model, q, "tiny matrix entry");
  ExpectQueryDefined(**trained, std::vector<float>{1e-38f, 0, 0, 0, 0, 0, 0, 0}, "tiny query");
  // T q overflows: no estimate means anything, but the levels are defined.
  CodeQuery cq;
  const std::vector<float> huge_q{3e38f, -3e38f, 3e38f, -3e38f, 3e38f, 0, 0, 0};
  (*trained)->PrepareQuery(huge_q.data(), &cq);
  EXPECT_TRUE(cq.scale == 0 || std::isfinite(1.0f / cq.scale)) << "huge query: " << cq.scale;

  // A matrix entry no writer of ours makes is DataLoss naming the entry.
  const float huge = 1e30f;
  std::memcpy(body.data() + matrix_at + (6 * 8 + 3) * sizeof(float), &huge, sizeof(huge));
  auto bad = CodeModel::Deserialize(Bytes(body), "codes.model");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
  EXPECT_NE(bad.status().message().find("matrix entry (6, 3)"), std::string::npos) << bad.status();
}

}  // namespace
}  // namespace cairn
