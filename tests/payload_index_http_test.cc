// Payload indexes over HTTP: PUT / DELETE /collections/{n}/index,
// payload_schema, filtered search, scroll, count and delete-by-filter
// reading only the index's candidates (counted, not timed), match.text as a
// token match, order_by, and the indexes across a restart.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "server/collection.h"
#include "tests/server_test_fixture.h"

namespace cairn::testing {
namespace {

constexpr uint64_t kPoints = 2000;

json DocFilter(const std::string& doc) {
  return {{"must", {{{"key", "metadata.doc_id"}, {"match", {{"value", doc}}}}}}};
}

class PayloadIndexHttpTest : public ServerTest {
 protected:
  // Points 0..kPoints-1: metadata.doc_id "doc<i % 200>" (10 points each),
  // rank i, body text, and an unindexed copy of the doc id.
  void FillDocs(const std::string& name) {
    for (uint64_t start = 0; start < kPoints; start += 250) {
      json points = json::array();
      for (uint64_t i = start; i < start + 250; ++i) {
        const std::string doc = "doc" + std::to_string(i % 200);
        points.push_back({{"id", i},
                          {"vector", Vec(i)},
                          {"payload",
                           {{"metadata", {{"doc_id", doc}}},
                            {"plain_doc", doc},
                            {"rank", static_cast<int64_t>(i % 500)},
                            {"body", i % 4 == 0 ? "The Quick brown Fox" : "lazy dogs, quickly"}}}});
      }
      auto r =
          client_->Json("PUT", "/collections/" + name + "/points?wait=true", {{"points", points}});
      ASSERT_EQ(r.status, 200) << r.body;
    }
  }
  void Index(const std::string& name, const std::string& field, const json& schema) {
    auto r = client_->Json("PUT", "/collections/" + name + "/index?wait=true",
                           {{"field_name", field}, {"field_schema", schema}});
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.json["result"]["status"], "completed");
  }
  uint64_t Count(const std::string& name, const json& filter) {
    auto r = client_->Json("POST", "/collections/" + name + "/points/count", {{"filter", filter}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json["result"]["count"].get<uint64_t>();
  }
  uint64_t Reads(const std::string& name) { return manager_->Get(name)->filter_points_read(); }
  json Schema(const std::string& name) {
    return client_->Request("GET", "/collections/" + name).json["result"]["payload_schema"];
  }
  std::vector<uint64_t> SearchIds(const std::string& name, uint64_t q, const json& filter,
                                  bool exact) {
    auto r = client_->Json(
        "POST", "/collections/" + name + "/points/search",
        {{"vector", Vec(q)}, {"limit", 5}, {"filter", filter}, {"params", {{"exact", exact}}}});
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<uint64_t> ids;
    for (const json& p : r.json["result"]) ids.push_back(p["id"].get<uint64_t>());
    return ids;
  }
};

TEST_F(PayloadIndexHttpTest, SelectiveFilterReadsOnlyItsPoints) {
  CreateCollection("c");
  FillDocs("c");
  // Without an index every point's payload is read.
  uint64_t before = Reads("c");
  EXPECT_EQ(Count("c", DocFilter("doc7")), 10u);
  EXPECT_EQ(Reads("c") - before, kPoints);
  Index("c", "metadata.doc_id", "keyword");
  before = Reads("c");
  EXPECT_EQ(Count("c", DocFilter("doc7")), 10u);
  EXPECT_EQ(Reads("c") - before, 10u);
  auto scroll = client_->Json("POST", "/collections/c/points/scroll",
                              {{"filter", DocFilter("doc7")}, {"limit", 4}});
  ASSERT_EQ(scroll.status, 200) << scroll.body;
  EXPECT_EQ(scroll.json["result"]["points"].size(), 4u);
  EXPECT_EQ(scroll.json["result"]["points"][0]["id"], 7);
  EXPECT_EQ(scroll.json["result"]["next_page_offset"], 807);
  // A search scores the 10 candidates exactly: the exact answer.
  SearchRequest req;
  req.vector = Vec(3);
  req.limit = 5;
  auto f = Filter::Parse(DocFilter("doc7"));
  ASSERT_TRUE(f.ok());
  req.filter = &*f;
  SearchInfo info;
  auto hits = manager_->Get("c")->Search(req, &info);
  ASSERT_TRUE(hits.ok()) << hits.status();
  EXPECT_TRUE(info.payload_index);
  EXPECT_EQ(info.points_scored, 10u);
  EXPECT_EQ(info.postings_read, 0u);
  EXPECT_EQ(SearchIds("c", 3, DocFilter("doc7"), false),
            SearchIds("c", 3, DocFilter("doc7"), true));
  // A filter on the unindexed copy falls back to the whole store.
  SearchInfo scan;
  auto g = Filter::Parse({{"must", {{{"key", "plain_doc"}, {"match", {{"value", "doc7"}}}}}}});
  ASSERT_TRUE(g.ok());
  req.filter = &*g;
  ASSERT_TRUE(manager_->Get("c")->Search(req, &scan).ok());
  EXPECT_FALSE(scan.payload_index);
  EXPECT_GT(scan.points_scored + scan.candidates_checked, 100u);
}

TEST_F(PayloadIndexHttpTest, BroadFilterSearchesTheIndexAndStaysCorrect) {
  CreateCollection("c");
  FillDocs("c");
  Index("c", "rank", "integer");
  const json broad = {{"must", {{{"key", "rank"}, {"range", {{"gte", 100}}}}}}};
  SearchRequest req;
  req.vector = Vec(11);
  req.limit = 5;
  auto f = Filter::Parse(broad);
  ASSERT_TRUE(f.ok());
  req.filter = &*f;
  SearchInfo info;
  auto hits = manager_->Get("c")->Search(req, &info);
  ASSERT_TRUE(hits.ok());
  EXPECT_TRUE(info.payload_index);
  // 80% of the points match: the index search, not the candidates' scan.
  EXPECT_FALSE(info.exact_fallback);
  EXPECT_EQ(info.points_scored, 0u);
  for (const ScoredPoint& p : *hits) EXPECT_GE(p.id.number() % 500, 100u);
  EXPECT_EQ(Count("c", broad), kPoints * 4 / 5);
}

TEST_F(PayloadIndexHttpTest, LlamaIndexDeleteByDocIdUsesTheIndex) {
  CreateCollection("c");
  FillDocs("c");
  Index("c", "metadata.doc_id", "keyword");
  const uint64_t before = Reads("c");
  auto del = client_->Json("POST", "/collections/c/points/delete?wait=true",
                           {{"filter", DocFilter("doc42")}});
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(Reads("c") - before, 10u);
  EXPECT_EQ(Count("c", DocFilter("doc42")), 0u);
  EXPECT_EQ(Count("c", json::object()), kPoints - 10);
  EXPECT_EQ(Schema("c")["metadata.doc_id"]["points"], kPoints - 10);
}

TEST_F(PayloadIndexHttpTest, SchemaSurvivesRestartAndFollowsWrites) {
  CreateCollection("c");
  FillDocs("c");
  Index("c", "metadata.doc_id", "keyword");
  Index("c", "body", {{"type", "text"}, {"tokenizer", "word"}, {"lowercase", true}});
  json schema = Schema("c");
  EXPECT_EQ(schema["metadata.doc_id"]["data_type"], "keyword");
  EXPECT_EQ(schema["metadata.doc_id"]["points"], kPoints);
  EXPECT_EQ(schema["body"]["data_type"], "text");
  EXPECT_EQ(schema["body"]["params"]["tokenizer"], "word");
  // The same schema again is fine; another type is refused.
  Index("c", "body", {{"type", "text"}, {"tokenizer", "word"}, {"lowercase", true}});
  ExpectError(client_->Json("PUT", "/collections/c/index",
                            {{"field_name", "body"}, {"field_schema", "keyword"}}),
              400);
  Stop();
  Start("", "");
  EXPECT_EQ(Schema("c"), schema);
  uint64_t before = Reads("c");
  EXPECT_EQ(Count("c", DocFilter("doc5")), 10u);
  EXPECT_EQ(Reads("c") - before, 10u);
  // Payload writes move points between values.
  auto set = client_->Json("POST", "/collections/c/points/payload?wait=true",
                           {{"payload", {{"metadata", {{"doc_id", "doc5"}}}}}, {"points", {6}}});
  ASSERT_EQ(set.status, 200) << set.body;
  EXPECT_EQ(Count("c", DocFilter("doc5")), 11u);
  EXPECT_EQ(Count("c", DocFilter("doc6")), 9u);
  auto drop = client_->Request("DELETE", "/collections/c/index/body?wait=true");
  ASSERT_EQ(drop.status, 200) << drop.body;
  Stop();
  Start("", "");
  EXPECT_FALSE(Schema("c").contains("body"));
  EXPECT_TRUE(Schema("c").contains("metadata.doc_id"));
}

TEST_F(PayloadIndexHttpTest, TextMatchIsTokenisedWithATextIndex) {
  CreateCollection("c");
  FillDocs("c");
  const json quick = {{"must", {{{"key", "body"}, {"match", {{"text", "quick"}}}}}}};
  // Without the index: a case-sensitive substring ("quickly" has it).
  EXPECT_EQ(Count("c", quick), kPoints * 3 / 4);
  Index("c", "body", "text");
  // With it: the token "quick", any case ("Quick"), not "quickly".
  EXPECT_EQ(Count("c", quick), kPoints / 4);
  const json fox = {{"must", {{{"key", "body"}, {"match", {{"text", "FOX brown"}}}}}}};
  EXPECT_EQ(Count("c", fox), kPoints / 4);
  const json phrase = {{"must", {{{"key", "body"}, {"match", {{"phrase", "brown fox"}}}}}}};
  EXPECT_EQ(Count("c", phrase), kPoints / 4);
  for (const json& bad : {json{{"type", "text"}, {"tokenizer", "prefix"}},
                          json{{"type", "text"}, {"stopwords", "english"}}, json("geo")}) {
    ExpectError(client_->Json("PUT", "/collections/c/index",
                              {{"field_name", "body2"}, {"field_schema", bad}}),
                400);
  }
  ExpectError(client_->Json("PUT", "/collections/c/index", {{"field_name", "x"}}), 400);
}

TEST_F(PayloadIndexHttpTest, OrderByNeedsARangeIndex) {
  CreateCollection("c");
  FillDocs("c");
  const json order = {{"key", "rank"}, {"direction", "desc"}, {"start_from", 250}};
  ExpectError(client_->Json("POST", "/collections/c/points/scroll", {{"order_by", order}}), 400);
  Index("c", "rank", "integer");
  auto r = client_->Json("POST", "/collections/c/points/scroll",
                         {{"order_by", order}, {"limit", 6}, {"filter", DocFilter("doc50")}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json& pts = r.json["result"]["points"];
  // doc50's ranks: 50, 250, 450, 150, 350 twice; from 250 down: 250, 150, 50.
  ASSERT_EQ(pts.size(), 6u) << r.body;
  EXPECT_EQ(pts[0]["order_value"], 250);
  EXPECT_EQ(pts[5]["order_value"], 50);
  EXPECT_TRUE(r.json["result"]["next_page_offset"].is_null());
  for (size_t i = 1; i < pts.size(); ++i) {
    EXPECT_LE(pts[i]["order_value"].get<int64_t>(), pts[i - 1]["order_value"].get<int64_t>());
  }
  auto asc = client_->Json("POST", "/collections/c/points/query",
                           {{"query", {{"order_by", "rank"}}}, {"limit", 3}});
  ASSERT_EQ(asc.status, 200) << asc.body;
  ASSERT_EQ(asc.json["result"]["points"].size(), 3u);
  EXPECT_EQ(asc.json["result"]["points"][0]["order_value"], 0);
  EXPECT_EQ(asc.json["result"]["points"][2]["order_value"], 0);  // 0, 500, 1000, 1500
  ExpectError(
      client_->Json("POST", "/collections/c/points/scroll", {{"order_by", "rank"}, {"offset", 5}}),
      400);
  ExpectError(client_->Json("POST", "/collections/c/points/scroll",
                            {{"order_by", {{"key", "rank"}, {"direction", "up"}}}}),
              400);
}

TEST_F(PayloadIndexHttpTest, UnhonouredFieldsAreRefused) {
  CreateCollection("c");
  FillDocs("c");
  ExpectError(client_->Json("POST", "/collections/c/points/query",
                            {{"query", Vec(1)}, {"lookup_from", {{"collection", "x"}}}}),
              400);
  ExpectError(
      client_->Json("POST", "/collections/c/points/query", {{"query", Vec(1)}, {"using", "other"}}),
      400);
  ExpectError(client_->Json("POST", "/collections/c/points/search",
                            {{"vector", {{"name", "other"}, {"vector", Vec(1)}}}}),
              400);
}

}  // namespace
}  // namespace cairn::testing
