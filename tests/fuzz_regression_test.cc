// Inputs the fuzz targets (fuzz/, docs/fuzzing.md) found crashing, each
// rebuilt here from a valid file of our own writers plus the corruption the
// fuzzer made, so that the case reads as what it is. Every one must now be
// an error Status.
#include <stdlib.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "datasets/dataset_manifest.h"
#include "gtest/gtest.h"
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

}  // namespace
}  // namespace cairn
