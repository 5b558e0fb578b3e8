// Named dense vectors over HTTP (server/vector_json.h): collections created
// with Qdrant's map of named vectors, "" included, the names each request
// may use, the shapes answers take, Manhattan, and the 400s for what Cairn
// cannot hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tests/server_test_fixture.h"

namespace cairn::testing {
namespace {

class NamedVectorsTest : public ServerTest {
 protected:
  // Creates `name` with one vector called `vector_name` (kDim, `distance`).
  void CreateNamed(const std::string& name, const std::string& vector_name,
                   const std::string& distance = "Cosine") {
    auto r = client_->Json("PUT", "/collections/" + name,
                           {{"vectors", {{vector_name, {{"size", kDim}, {"distance", distance}}}}},
                            {"sparse_vectors", json::object()}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // Upserts points 0..n-1 with `vector(i)` as each point's "vector" field.
  void Put(const std::string& name, uint64_t n, const std::function<json(uint64_t)>& vector) {
    json points = json::array();
    for (uint64_t i = 0; i < n; ++i) {
      points.push_back({{"id", i}, {"vector", vector(i)}, {"payload", {{"i", i}}}});
    }
    auto r =
        client_->Json("PUT", "/collections/" + name + "/points?wait=true", {{"points", points}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // A 400 whose message contains `needle` (the field it names).
  void Expect400(const HttpResult& r, const std::string& needle) {
    ExpectError(r, 400);
    EXPECT_NE(r.json["status"]["error"].get<std::string>().find(needle), std::string::npos)
        << "want \"" << needle << "\" in " << r.body;
  }
};

TEST_F(NamedVectorsTest, ConfigIsReportedAsGiven) {
  CreateNamed("empty_name", "");
  CreateNamed("dense", "text-dense", "Dot");
  CreateCollection("plain", "Euclid");
  auto info = client_->Request("GET", "/collections/empty_name");
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.json["result"]["config"]["params"]["vectors"],
            json({{"", {{"size", kDim}, {"distance", "Cosine"}}}}));
  info = client_->Request("GET", "/collections/dense");
  EXPECT_EQ(info.json["result"]["config"]["params"]["vectors"],
            json({{"text-dense", {{"size", kDim}, {"distance", "Dot"}}}}));
  info = client_->Request("GET", "/collections/plain");
  EXPECT_EQ(info.json["result"]["config"]["params"]["vectors"],
            json({{"size", kDim}, {"distance", "Euclid"}}));
  // The name survives a restart (collection.json).
  Stop();
  Start({}, {});
  info = client_->Request("GET", "/collections/dense");
  EXPECT_EQ(info.json["result"]["config"]["params"]["vectors"],
            json({{"text-dense", {{"size", kDim}, {"distance", "Dot"}}}}));
}

TEST_F(NamedVectorsTest, RefusesConfigsItCannotHold) {
  auto put = [&](const json& body) { return client_->Json("PUT", "/collections/x", body); };
  const json params = {{"size", kDim}, {"distance", "Cosine"}};
  Expect400(put({{"vectors", {{"a", params}, {"b", params}}}}), "vectors: 2 named vectors");
  Expect400(put({{"vectors", json::object()}}), "vectors: an empty map");
  Expect400(put(json::object()), "vectors: missing");
  Expect400(
      put({{"vectors", {{"a", params}}}, {"sparse_vectors", {{"a", json::object()}}}}),
      "sparse_vectors[\"a\"]: the name is taken by the dense vector");
  Expect400(put({{"vectors", {{"a", params}}},
                 {"sparse_vectors", {{"s", {{"modifier", "bm25"}}}}}}),
            "sparse_vectors[\"s\"].modifier");
  Expect400(
      put({{"vectors", {{"a", {{"size", kDim}, {"distance", "Cosine"}, {"datatype", "uint8"}}}}}}),
      "vectors[\"a\"].datatype");
  Expect400(put({{"vectors",
                  {{"a",
                    {{"size", kDim},
                     {"distance", "Cosine"},
                     {"multivector_config", {{"comparator", "max_sim"}}}}}}}}),
            "vectors[\"a\"].multivector_config");
  Expect400(put({{"vectors", {{"a", {{"size", kDim}, {"distance", "Hamming"}}}}}}),
            "vectors[\"a\"].distance");
  Expect400(put({{"vectors", {{"a", {{"size", 0}, {"distance", "Dot"}}}}}}), "vectors[\"a\"].size");
  Expect400(put({{"vectors", {{"a", {{"size", kDim}, {"distance", "Dot"}, {"colour", 1}}}}}}),
            "vectors[\"a\"].colour: unknown field");
  EXPECT_FALSE(client_->Request("GET", "/collections/x/exists").json["result"]["exists"]);
  // Nulls are absent, as the Python client sends them.
  auto ok = put({{"vectors",
                  {{"a",
                    {{"size", kDim},
                     {"distance", "Manhattan"},
                     {"hnsw_config", nullptr},
                     {"quantization_config", nullptr},
                     {"on_disk", nullptr},
                     {"datatype", nullptr},
                     {"multivector_config", nullptr}}}}},
                 {"sparse_vectors", nullptr},
                 {"shard_number", nullptr}});
  EXPECT_EQ(ok.status, 200) << ok.body;
}

TEST_F(NamedVectorsTest, EmptyNameTakesListsAndTheEmptyName) {
  CreateNamed("lc", "");
  Put("lc", 20, [](uint64_t i) { return json{{"", Vec(i)}}; });  // LangChain's shape
  auto r = client_->Json("PUT", "/collections/lc/points",
                         {{"points", {{{"id", 20}, {"vector", Vec(20)}}}}});  // a plain list
  ASSERT_EQ(r.status, 200) << r.body;
  // LangChain's query: query + using "".
  auto q = client_->Json("POST", "/collections/lc/points/query",
                         {{"query", {{"nearest", Vec(20)}, {"mmr", nullptr}}},
                          {"using", ""},
                          {"limit", 3},
                          {"with_payload", true},
                          {"with_vector", false},
                          {"prefetch", nullptr},
                          {"lookup_from", nullptr}});
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.json["result"]["points"][0]["id"], 20);
  // Qdrant answers a lone "" vector as a plain list.
  q = client_->Json("POST", "/collections/lc/points/query",
                    {{"query", Vec(3)}, {"limit", 1}, {"with_vector", true}});
  ASSERT_EQ(q.status, 200) << q.body;
  ASSERT_TRUE(q.json["result"]["points"][0]["vector"].is_array()) << q.body;
  EXPECT_EQ(q.json["result"]["points"][0]["vector"].size(), kDim);
  auto s = client_->Json("POST", "/collections/lc/points/search",
                         {{"vector", {{"name", ""}, {"vector", Vec(4)}}},
                          {"limit", 1},
                          {"with_vector", json::array({""})}});
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.json["result"][0]["id"], 4);
  EXPECT_TRUE(s.json["result"][0]["vector"].is_array()) << s.body;
  auto got = client_->Json("POST", "/collections/lc/points",
                           {{"ids", {5}}, {"with_vector", json::array()}});
  ASSERT_EQ(got.status, 200) << got.body;
  EXPECT_EQ(got.json["result"][0]["vector"], json::object());  // no names asked for
}

TEST_F(NamedVectorsTest, UnnamedCollectionTakesTheEmptyName) {
  // LlamaIndex creates an unnamed collection, then writes and searches "".
  CreateCollection("li");
  Put("li", 10, [](uint64_t i) { return json{{"", Vec(i)}}; });
  auto s = client_->Json(
      "POST", "/collections/li/points/search",
      {{"vector", {{"name", ""}, {"vector", Vec(7)}}}, {"limit", 1}, {"with_vector", true}});
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.json["result"][0]["id"], 7);
  EXPECT_TRUE(s.json["result"][0]["vector"].is_array());
  Expect400(client_->Json("POST", "/collections/li/points/search",
                          {{"vector", {{"name", "text-dense"}, {"vector", Vec(7)}}}}),
            "vector.name: Not existing vector name error: text-dense");
  Expect400(client_->Json("PUT", "/collections/li/points",
                          {{"points", {{{"id", 1}, {"vector", {{"text-dense", Vec(1)}}}}}}}),
            "points[0].vector[\"text-dense\"]: Not existing vector name error");
}

TEST_F(NamedVectorsTest, NamedCollectionNeedsItsName) {
  CreateNamed("n", "text");
  Put("n", 30, [](uint64_t i) { return json{{"text", Vec(i)}}; });
  auto q =
      client_->Json("POST", "/collections/n/points/query",
                    {{"query", Vec(9)}, {"using", "text"}, {"limit", 1}, {"with_vector", true}});
  ASSERT_EQ(q.status, 200) << q.body;
  EXPECT_EQ(q.json["result"]["points"][0]["id"], 9);
  EXPECT_EQ(q.json["result"]["points"][0]["vector"].size(), 1u);
  EXPECT_TRUE(q.json["result"]["points"][0]["vector"]["text"].is_array()) << q.body;
  auto got = client_->Request("GET", "/collections/n/points/9");
  EXPECT_TRUE(got.json["result"]["vector"]["text"].is_array()) << got.body;
  auto scroll = client_->Json("POST", "/collections/n/points/scroll",
                              {{"limit", 2}, {"with_vector", json::array({"text"})}});
  EXPECT_TRUE(scroll.json["result"]["points"][0]["vector"]["text"].is_array()) << scroll.body;
  auto s = client_->Json("POST", "/collections/n/points/search",
                         {{"vector", {{"name", "text"}, {"vector", Vec(11)}}}, {"limit", 1}});
  EXPECT_EQ(s.json["result"][0]["id"], 11) << s.body;

  // Every other name, and the default "" a plain list means, is a 400.
  Expect400(client_->Json("POST", "/collections/n/points/query", {{"query", Vec(9)}}),
            "Not existing vector name error");
  Expect400(
      client_->Json("POST", "/collections/n/points/query", {{"query", Vec(9)}, {"using", "nope"}}),
      "using: Not existing vector name error: nope");
  Expect400(client_->Json("POST", "/collections/n/points/search", {{"vector", Vec(9)}}),
            "vector: Not existing vector name error");
  Expect400(client_->Json("POST", "/collections/n/points/scroll",
                          {{"with_vector", json::array({"nope"})}}),
            "with_vector[0]: Not existing vector name error: nope");
  Expect400(client_->Json("PUT", "/collections/n/points",
                          {{"points", {{{"id", 1}, {"vector", Vec(1)}}}}}),
            "points[0].vector: Not existing vector name error");
  Expect400(client_->Json("PUT", "/collections/n/points",
                          {{"points", {{{"id", 1}, {"vector", {{"other", Vec(1)}}}}}}}),
            "points[0].vector[\"other\"]: Not existing vector name error: other");
  // The batch form names its vectors the same way.
  auto b = client_->Json(
      "PUT", "/collections/n/points",
      {{"batch", {{"ids", {100, 101}}, {"vectors", {{"text", {Vec(100), Vec(101)}}}}}}});
  EXPECT_EQ(b.status, 200) << b.body;
  Expect400(client_->Json("PUT", "/collections/n/points",
                          {{"batch", {{"ids", {102}}, {"vectors", {Vec(102)}}}}}),
            "batch.vectors: Not existing vector name error");
  EXPECT_EQ(client_->Request("GET", "/collections/n").json["result"]["points_count"], 32);
}

TEST_F(NamedVectorsTest, BadVectorsUnderANameAre400AndChangeNothing) {
  CreateNamed("b", "text");
  auto upsert = [&](const json& vector) {
    return client_->Json("PUT", "/collections/b/points",
                         {{"points", {{{"id", 1}, {"vector", vector}}}}});
  };
  Expect400(upsert({{"text", {1, 2, 3}}}),
            "points[0].vector[\"text\"]: wrong vector dimension: expected 8, got 3");
  Expect400(upsert({{"text", {{"indices", {1}}, {"values", {0.5}}}}}),
            "points[0].vector[\"text\"]: a sparse vector under a dense vector's name");
  Expect400(upsert({{"text", {Vec(1), Vec(2)}}}), "multivectors");
  Expect400(upsert({{"text", {{"text", "hello"}, {"model", "bm25"}}}}), "inference objects");
  Expect400(upsert({{"text", "abc"}}), "points[0].vector[\"text\"]: expected a list of numbers");
  Expect400(upsert(nullptr), "points[0].vector: expected a list of numbers or a map");
  // NaN is not JSON; Python's json.dumps writes it anyway.
  std::string body = R"({"points":[{"id":1,"vector":{"text":[NaN,1,1,1,1,1,1,1]}}]})";
  ExpectError(client_->Request("PUT", "/collections/b/points", body), 400);
  Expect400(client_->Json("POST", "/collections/b/points/query",
                          {{"query", {{"indices", {1}}, {"values", {1.0}}}}, {"using", "text"}}),
            "query: a sparse vector needs `using` naming a sparse vector");
  Expect400(
      client_->Json("POST", "/collections/b/points/query", {{"query", {1, 2}}, {"using", "text"}}),
      "wrong vector dimension");
  EXPECT_EQ(client_->Request("GET", "/collections/b").json["result"]["points_count"], 0);
}

TEST_F(NamedVectorsTest, UnsupportedFieldsAre400NotIgnored) {
  CreateNamed("u", "");
  Put("u", 5, [](uint64_t i) { return json{{"", Vec(i)}}; });
  Expect400(client_->Json("POST", "/collections/u/points/query",
                          {{"query", 1}, {"lookup_from", {{"collection", "other"}}}}),
            "lookup_from is not supported");
  // order_by needs a range index (payload_index_http_test.cc covers it).
  Expect400(client_->Json("POST", "/collections/u/points/scroll", {{"order_by", "i"}}),
            "No range index for `order_by` key");
  Expect400(client_->Json("PUT", "/collections/u/points",
                          {{"points", {{{"id", 1}, {"vector", Vec(1)}}}},
                           {"update_filter", {{"must", json::array()}}}}),
            "update_filter is not supported");
  Expect400(client_->Json("POST", "/collections/u/points/query",
                          {{"prefetch", {{{"query", Vec(1)}}}},
                           {"query", {{"discover", {{"target", 1}}}}}}),
            "query.discover: this query kind is not supported");
}

TEST_F(NamedVectorsTest, ManhattanScoresAreL1Distances) {
  CreateNamed("m", "v", "Manhattan");
  Put("m", 300, [](uint64_t i) { return json{{"v", Vec(i)}}; });
  const std::vector<float> q = Vec(1234);
  auto l1 = [&](uint64_t i) {
    const std::vector<float> x = Vec(i);
    double s = 0;
    for (uint32_t d = 0; d < kDim; ++d) s += std::fabs(double{q[d]} - x[d]);
    return s;
  };
  std::vector<uint64_t> order(300);
  for (uint64_t i = 0; i < 300; ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](uint64_t a, uint64_t b) { return l1(a) < l1(b); });
  for (bool exact : {true, false}) {
    SCOPED_TRACE(exact ? "exact" : "index");
    auto r =
        client_->Json("POST", "/collections/m/points/query",
                      {{"query", q}, {"using", "v"}, {"limit", 5}, {"params", {{"exact", exact}}}});
    ASSERT_EQ(r.status, 200) << r.body;
    const json& pts = r.json["result"]["points"];
    ASSERT_EQ(pts.size(), 5u) << r.body;
    for (size_t k = 0; k < 5; ++k) {
      const uint64_t id = pts[k]["id"].get<uint64_t>();
      EXPECT_NEAR(pts[k]["score"].get<double>(), l1(id), 1e-4);  // the reported score is L1
      if (k > 0) EXPECT_LE(pts[k - 1]["score"].get<double>(), pts[k]["score"].get<double>());
    }
    // 300 points are all in the memtable, which the index scans exactly:
    // the L2 candidates (4x over) hold the L1 nearest here.
    EXPECT_EQ(pts[0]["id"].get<uint64_t>(), order[0]) << r.body;
  }
  // A threshold is an upper bound on the distance (halfway to the 4th).
  const double t = (l1(order[2]) + l1(order[3])) / 2;
  auto r = client_->Json("POST", "/collections/m/points/query",
                         {{"query", q}, {"using", "v"}, {"limit", 10}, {"score_threshold", t}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["result"]["points"].size(), 3u) << r.body;
  // MMR runs with the L1 similarity.
  r = client_->Json(
      "POST", "/collections/m/points/query",
      {{"query", {{"nearest", q}, {"mmr", {{"diversity", 0.5}}}}}, {"using", "v"}, {"limit", 4}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["result"]["points"].size(), 4u);
}

}  // namespace
}  // namespace cairn::testing
