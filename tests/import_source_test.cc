// What `cairn import` reads (cli/import_source.h): vector files with
// payload and id files, JSON lines, bad lines with their numbers, and the
// damage that stops an import.
#include "cli/import_source.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::TempDir;
using client::PointId;
using ::testing::HasSubstr;

FloatMatrix Rows(uint64_t n, uint32_t dim) {
  FloatMatrix m;
  m.rows = n;
  m.dim = dim;
  for (uint64_t i = 0; i < n * dim; ++i) m.data.push_back(static_cast<float>(i));
  return m;
}

TEST(ImportSourceTest, VectorFileWithPayloadsAndIds) {
  TempDir dir;
  ASSERT_TRUE(WriteFloatMatrix(dir.File("v.fbin"), Rows(5, 3)).ok());
  std::ofstream(dir.File("p.jsonl")) << "{\"a\":0}\nnull\n[1]\n{\"a\":3}\n{\"a\":4}\n";
  std::ofstream(dir.File("ids.txt")) << "10\nuuid-1\n12\n\n14\n";
  auto s = ImportSource::Open({dir.File("v.fbin"), dir.File("p.jsonl"), dir.File("ids.txt")});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->lines(), 5u);
  EXPECT_EQ((*s)->first_dim(), 3u);
  SourceBatch b;
  ASSERT_TRUE(*(*s)->Next(3, true, &b));
  EXPECT_EQ(b.first_line, 1u);
  EXPECT_EQ(b.lines, 3u);
  ASSERT_EQ(b.points.size(), 2u);
  EXPECT_EQ(b.points[0].id, PointId(uint64_t{10}));
  EXPECT_EQ(b.points[0].payload, client::Json({{"a", 0}}));
  EXPECT_EQ(b.points[1].id, PointId("uuid-1"));
  EXPECT_TRUE(b.points[1].payload.is_null());
  EXPECT_EQ(b.points[1].vector, std::vector<float>({3, 4, 5}));
  ASSERT_EQ(b.bad.size(), 1u);
  EXPECT_EQ(b.bad[0].line, 3u);
  EXPECT_EQ(b.bad[0].file, dir.File("p.jsonl"));
  ASSERT_TRUE(*(*s)->Next(3, true, &b));
  EXPECT_EQ(b.first_line, 4u);
  ASSERT_EQ(b.bad.size(), 1u);  // line 4's id is empty
  EXPECT_EQ(b.bad[0].file, dir.File("ids.txt"));
  EXPECT_EQ(b.bad[0].line, 4u);
  ASSERT_EQ(b.points.size(), 1u);
  EXPECT_EQ(b.points[0].id, PointId(uint64_t{14}));
  EXPECT_FALSE(*(*s)->Next(3, true, &b));
}

TEST(ImportSourceTest, JsonLinesSkippedBatchesAndDimensions) {
  TempDir dir;
  const std::string path = dir.File("p.jsonl");
  std::ofstream(path) << "{\"id\":1,\"vector\":[1,2]}\n"
                      << "{\"id\":-1,\"vector\":[1,2]}\n"
                      << "\n"
                      << "{\"id\":\"x\",\"vector\":[1,2],\"payload\":{\"k\":1}}\n"
                      << "{\"id\":5,\"vector\":[1,2,3]}\n"
                      << "{\"id\":6,\"vectors\":[1,2]}\n"
                      << "{\"id\":7,\"vector\":[1e300,2]}\n"
                      << "{\"id\":8,\"vector\":[1,2],\"payload\":3}\n";
  auto s = ImportSource::Open({path, "", ""});
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->lines(), 8u);
  EXPECT_EQ((*s)->first_dim(), 2u);
  (*s)->set_collection(2, false);
  SourceBatch b;
  ASSERT_TRUE(*(*s)->Next(2, false, &b));  // passed over: nothing parsed
  EXPECT_EQ(b.lines, 2u);
  EXPECT_TRUE(b.points.empty() && b.bad.empty());
  ASSERT_TRUE(*(*s)->Next(10, true, &b));
  EXPECT_EQ(b.first_line, 3u);
  EXPECT_EQ(b.lines, 6u);
  ASSERT_EQ(b.points.size(), 1u);
  EXPECT_EQ(b.points[0].id, PointId("x"));
  std::vector<std::pair<uint64_t, std::string>> bad;
  for (const BadLine& l : b.bad) bad.emplace_back(l.line, l.message);
  ASSERT_EQ(bad.size(), 5u);
  EXPECT_EQ(bad[0], std::make_pair(uint64_t{3}, std::string("empty line")));
  EXPECT_THAT(bad[1].second, HasSubstr("has 3 numbers, the collection 2"));
  EXPECT_THAT(bad[2].second, HasSubstr("unknown field \"vectors\""));
  EXPECT_THAT(bad[3].second, HasSubstr("not a finite float"));
  EXPECT_THAT(bad[4].second, HasSubstr("\"payload\" must be an object or null"));
}

TEST(ImportSourceTest, ZeroVectorsUnderCosineAndRepeatedIds) {
  TempDir dir;
  const std::string path = dir.File("p.jsonl");
  std::ofstream(path) << "{\"id\":1,\"vector\":[1,2]}\n"
                      << "{\"id\":2,\"vector\":[0,0]}\n"
                      << "{\"id\":\"1\",\"vector\":[3,4]}\n"
                      << "{\"id\":1,\"vector\":[5,6]}\n"
                      << "{\"id\":1,\"vector\":[7,8]}\n";
  auto s = ImportSource::Open({path, "", ""});
  ASSERT_TRUE(s.ok());
  (*s)->set_collection(2, true);
  SourceBatch b;
  ASSERT_TRUE(*(*s)->Next(10, true, &b));
  ASSERT_EQ(b.bad.size(), 1u);
  EXPECT_EQ(b.bad[0].line, 2u);
  EXPECT_THAT(b.bad[0].message, HasSubstr("zero vector"));
  // 1 and "1" are different points; the last of the three 1s wins.
  ASSERT_EQ(b.points.size(), 2u);
  EXPECT_EQ(b.points[0].id, PointId("1"));
  EXPECT_EQ(b.points[1].id, PointId(uint64_t{1}));
  EXPECT_EQ(b.points[1].vector, std::vector<float>({7, 8}));
  EXPECT_EQ(b.point_lines, std::vector<uint64_t>({3, 5}));
  ASSERT_EQ(b.replaced.size(), 2u);
  EXPECT_EQ(b.replaced[0].line, 1u);
  EXPECT_THAT(b.replaced[0].message, HasSubstr("id 1 is given again at line 5"));
  EXPECT_EQ(b.replaced[1].line, 4u);
}

TEST(ImportSourceTest, DamageStopsTheImport) {
  TempDir dir;
  ASSERT_TRUE(WriteFloatMatrix(dir.File("v.fbin"), Rows(4, 2)).ok());
  std::ofstream(dir.File("short.jsonl")) << "{}\n{}\n";
  auto s = ImportSource::Open({dir.File("v.fbin"), dir.File("short.jsonl"), ""});
  ASSERT_TRUE(s.ok());
  SourceBatch b;
  absl::StatusOr<bool> r = (*s)->Next(4, true, &b);
  EXPECT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("has 2 lines, fewer than"));
  EXPECT_FALSE(ImportSource::Open({dir.File("v.txt"), "", ""}).ok());
  EXPECT_FALSE(ImportSource::Open({dir.File("none.fbin"), "", ""}).ok());
  EXPECT_FALSE(ImportSource::Open({dir.File("v.fbin"), dir.File("none.jsonl"), ""}).ok());
}

}  // namespace
}  // namespace cairn
