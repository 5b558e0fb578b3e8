// Points without a vector ("vector": {}, Haystack's documents without an
// embedding), PUT /points/vectors and POST /points/vectors/delete, over
// HTTP: stored with their payload, found by id, scroll, count and filters,
// never by a search; kept across restarts and after a cut write; and the
// collection config's version upgrade.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "server/collection.h"
#include "server/point_id.h"
#include "storage/point_store.h"
#include "storage/record_file.h"
#include "tests/server_test_fixture.h"

namespace cairn::testing {
namespace {

class VectorlessPointsTest : public ServerTest {
 protected:
  // 0..29 with vectors, 100..109 without (payload {"kind": "bare"}).
  void FillMixed(const std::string& name) {
    json points = json::array();
    for (uint64_t i = 0; i < 30; ++i) {
      points.push_back({{"id", i}, {"vector", {{"", Vec(i)}}}, {"payload", {{"kind", "full"}}}});
    }
    for (uint64_t i = 100; i < 110; ++i) {
      points.push_back({{"id", i}, {"vector", json::object()}, {"payload", {{"kind", "bare"}}}});
    }
    auto r =
        client_->Json("PUT", "/collections/" + name + "/points?wait=true", {{"points", points}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // The ids a search for `v` returns (limit 100, or exact).
  std::set<uint64_t> SearchIds(const std::string& name, const std::vector<float>& v, bool exact,
                               const json& filter = nullptr) {
    auto r = client_->Json(
        "POST", "/collections/" + name + "/points/search",
        {{"vector", v}, {"limit", 100}, {"params", {{"exact", exact}}}, {"filter", filter}});
    EXPECT_EQ(r.status, 200) << r.body;
    std::set<uint64_t> ids;
    for (const json& p : r.json["result"]) ids.insert(p["id"].get<uint64_t>());
    return ids;
  }

  json Info(const std::string& name) {
    return client_->Request("GET", "/collections/" + name).json["result"];
  }
};

TEST_F(VectorlessPointsTest, StoredFoundAndNeverSearched) {
  CreateCollection("h");
  FillMixed("h");
  EXPECT_EQ(Info("h")["points_count"], 40);
  EXPECT_EQ(Info("h")["indexed_vectors_count"], 30);
  auto got = client_->Request("GET", "/collections/h/points/105");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json["result"]["vector"], json::object());
  EXPECT_EQ(got.json["result"]["payload"]["kind"], "bare");
  auto count =
      client_->Json("POST", "/collections/h/points/count",
                    {{"filter", {{"must", {{{"key", "kind"}, {"match", {{"value", "bare"}}}}}}}}});
  EXPECT_EQ(count.json["result"]["count"], 10) << count.body;
  auto scroll =
      client_->Json("POST", "/collections/h/points/scroll",
                    {{"limit", 100},
                     {"with_vector", true},
                     {"filter", {{"must", {{{"key", "kind"}, {"match", {{"value", "bare"}}}}}}}}});
  ASSERT_EQ(scroll.json["result"]["points"].size(), 10u) << scroll.body;
  EXPECT_EQ(scroll.json["result"]["points"][0]["vector"], json::object());
  const json bare = {{"must", {{{"key", "kind"}, {"match", {{"value", "bare"}}}}}}};
  for (bool exact : {false, true}) {
    const std::set<uint64_t> ids = SearchIds("h", Vec(3), exact);
    EXPECT_EQ(ids.size(), 30u);
    EXPECT_EQ(*ids.rbegin(), 29u);  // none of 100..109
    EXPECT_TRUE(SearchIds("h", Vec(3), exact, bare).empty());
  }
  // A query by a point without a vector has nothing to search with.
  auto q = client_->Json("POST", "/collections/h/points/query", {{"query", 104}});
  ExpectError(q, 400);
  // Deleting by filter takes them too.
  auto del = client_->Json("POST", "/collections/h/points/delete", {{"filter", bare}});
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(Info("h")["points_count"], 30);
}

TEST_F(VectorlessPointsTest, OverwritesMoveAPointInAndOutOfTheIndex) {
  CreateCollection("o", "Euclid");
  FillMixed("o");
  // 7 loses its vector, 101 gains one.
  auto r = client_->Json(
      "PUT", "/collections/o/points",
      {{"points", {{{"id", 7}, {"vector", json::object()}}, {{"id", 101}, {"vector", Vec(101)}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  for (bool exact : {false, true}) {
    EXPECT_FALSE(SearchIds("o", Vec(7), exact).count(7));
    EXPECT_TRUE(SearchIds("o", Vec(101), exact).count(101));
  }
  EXPECT_EQ(Info("o")["indexed_vectors_count"], 30);
  Stop();
  Start({}, {});
  EXPECT_FALSE(SearchIds("o", Vec(7), false).count(7));
  EXPECT_TRUE(SearchIds("o", Vec(101), false).count(101));
  EXPECT_EQ(Info("o")["points_count"], 40);
}

TEST_F(VectorlessPointsTest, UpdateAndDeleteVectors) {
  CreateCollection("v");
  FillMixed("v");
  // update_vectors keeps the payload and moves the point in the index.
  auto r = client_->Json(
      "PUT", "/collections/v/points/vectors?wait=true",
      {{"points", {{{"id", 100}, {"vector", {{"", Vec(500)}}}}, {{"id", 2}, {"vector", Vec(600)}}}},
       {"shard_key", nullptr},
       {"update_filter", nullptr}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto s = client_->Json("POST", "/collections/v/points/search",
                         {{"vector", Vec(500)}, {"limit", 1}, {"with_payload", true}});
  EXPECT_EQ(s.json["result"][0]["id"], 100) << s.body;
  EXPECT_EQ(s.json["result"][0]["payload"]["kind"], "bare");
  s = client_->Json("POST", "/collections/v/points/search", {{"vector", Vec(600)}, {"limit", 1}});
  EXPECT_EQ(s.json["result"][0]["id"], 2) << s.body;
  // A missing point is a 404 and nothing changes; bad names and empty
  // vectors are 400s.
  ExpectError(
      client_->Json(
          "PUT", "/collections/v/points/vectors",
          {{"points", {{{"id", 3}, {"vector", Vec(700)}}, {{"id", 999}, {"vector", Vec(999)}}}}}),
      404);
  s = client_->Json("POST", "/collections/v/points/search",
                    {{"vector", Vec(3)}, {"limit", 1}, {"params", {{"exact", true}}}});
  EXPECT_EQ(s.json["result"][0]["id"], 3) << s.body;  // 3 kept its vector
  EXPECT_NEAR(s.json["result"][0]["score"].get<double>(), 1.0, 1e-5);
  ExpectError(client_->Json("PUT", "/collections/v/points/vectors",
                            {{"points", {{{"id", 3}, {"vector", {{"x", Vec(1)}}}}}}}),
              400);
  ExpectError(client_->Json("PUT", "/collections/v/points/vectors",
                            {{"points", {{{"id", 3}, {"vector", json::object()}}}}}),
              400);
  ExpectError(
      client_->Json("PUT", "/collections/v/points/vectors",
                    {{"points", {{{"id", 3}, {"vector", Vec(3)}, {"payload", {{"a", 1}}}}}}}),
      400);

  // delete_vectors: by ids and by filter; the payload stays.
  r = client_->Json("POST", "/collections/v/points/vectors/delete",
                    {{"points", {2, 4, 12345}}, {"vector", {""}}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto got = client_->Request("GET", "/collections/v/points/4");
  EXPECT_EQ(got.json["result"]["vector"], json::object());
  EXPECT_EQ(got.json["result"]["payload"]["kind"], "full");
  EXPECT_FALSE(SearchIds("v", Vec(4), false).count(4));
  r = client_->Json("POST", "/collections/v/points/vectors/delete",
                    {{"filter", {{"must", {{{"has_id", {5, 6}}}}}}}, {"vector", {""}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(SearchIds("v", Vec(5), true).count(5));
  EXPECT_EQ(Info("v")["indexed_vectors_count"], 30 + 1 - 4);
  EXPECT_EQ(Info("v")["points_count"], 40);
  ExpectError(client_->Json("POST", "/collections/v/points/vectors/delete",
                            {{"points", {1}}, {"vector", {"text"}}}),
              400);
  ExpectError(client_->Json("POST", "/collections/v/points/vectors/delete",
                            {{"points", {1}}, {"vector", json::array()}}),
              400);
  ExpectError(client_->Json("POST", "/collections/v/points/vectors/delete", {{"vector", {""}}}),
              400);
}

TEST_F(VectorlessPointsTest, VectorRemovalCutBeforeTheIndexIsRepairedOnOpen) {
  CreateCollection("c", "Euclid");
  Fill("c", 150);
  Stop();
  {
    // Collection::Upsert's first write alone: point 5 without a vector.
    auto store = PointStore::Open(Env::Default(), tmp_.path() + "/data/collections/c/points", {});
    ASSERT_TRUE(store.ok()) << store.status();
    PointRecord rec;
    rec.payload = R"({"name":"bare"})";
    ASSERT_TRUE((*store)->Apply({{StoreKey(ExternalId::Number(5)), rec}}, {}).ok());
  }
  Start({}, {});
  auto got = client_->Request("GET", "/collections/c/points/5");
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json["result"]["vector"], json::object());
  EXPECT_FALSE(SearchIds("c", Vec(5), false).count(5));
  EXPECT_EQ(Info("c")["indexed_vectors_count"], 149);
  EXPECT_EQ(Info("c")["points_count"], 150);
}

TEST_F(VectorlessPointsTest, VersionOneConfigOpensAndIsUpgraded) {
  CreateCollection("old", "Dot");
  Fill("old", 20);
  Stop();
  const std::string dir = tmp_.path() + "/data/collections/old";
  // What a build before named vectors wrote.
  ASSERT_TRUE(WriteRecordFile(Env::Default(), dir + "/collection.json", "CAIRNCOL", 1,
                              R"({"size":8,"distance":"Dot","max_postings":32,"sync_writes":true})")
                  .ok());
  Start({}, {});
  auto info = client_->Request("GET", "/collections/old");
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.json["result"]["config"]["params"]["vectors"],
            json({{"size", kDim}, {"distance", "Dot"}}));
  EXPECT_EQ(info.json["result"]["points_count"], 20);
  uint32_t version = 0;
  ASSERT_TRUE(
      ReadRecordFile(Env::Default(), dir + "/collection.json", "CAIRNCOL", 2, &version).ok());
  EXPECT_EQ(version, 2u);
  // A version this build does not know is refused, not misread.
  Stop();
  ASSERT_TRUE(WriteRecordFile(Env::Default(), dir + "/collection.json", "CAIRNCOL", 3, "{}").ok());
  auto bad = Collection::Open(dir);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss) << bad.status();
}

}  // namespace
}  // namespace cairn::testing
