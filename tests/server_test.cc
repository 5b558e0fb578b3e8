// The REST server end to end: a real HttpServer on a loopback port with the
// Qdrant routes over real collections on disk, driven over HTTP.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <thread>

#include "common/random.h"
#include "server/collection.h"
#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/point_id.h"
#include "server/qdrant_api.h"
#include "server/route_table.h"
#include "storage/point_store.h"
#include "tests/http_test_client.h"
#include "tests/server_test_fixture.h"
#include "tests/test_util.h"

namespace cairn::testing {
namespace {

using nlohmann::json;

TEST_F(ServerTest, BannerProbesAndMetrics) {
  auto r = client_->Request("GET", "/");
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.json["title"].is_string());
  EXPECT_TRUE(r.json["version"].is_string());
  EXPECT_EQ(client_->Request("GET", "/healthz").status, 200);
  EXPECT_EQ(client_->Request("GET", "/readyz").status, 200);
  CreateCollection("m");
  auto m = client_->Request("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("cairn_http_requests_total{route=\"/collections/{name}\",status=\"200\"}"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("cairn_http_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(m.body.find("cairn_collection_points{collection=\"m\"} 0"), std::string::npos);
}

TEST_F(ServerTest, CollectionLifecycle) {
  CreateCollection("docs");
  auto dup = client_->Json("PUT", "/collections/docs",
                           {{"vectors", {{"size", kDim}, {"distance", "Cosine"}}}});
  ExpectError(dup, 409);
  auto list = client_->Request("GET", "/collections");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.json["result"]["collections"][0]["name"], "docs");
  auto info = client_->Request("GET", "/collections/docs");
  ASSERT_EQ(info.status, 200);
  EXPECT_EQ(info.json["result"]["status"], "green");
  EXPECT_EQ(info.json["result"]["points_count"], 0);
  EXPECT_EQ(info.json["result"]["config"]["params"]["vectors"]["size"], kDim);
  EXPECT_EQ(client_->Request("GET", "/collections/docs/exists").json["result"]["exists"], true);
  ExpectError(client_->Request("GET", "/collections/nope"), 404);
  ExpectError(client_->Request("GET", "/collections/nope/points/1"), 404);
  ExpectError(client_->Json("PUT", "/collections/bad", {{"vectors", {{"size", 0}, {"distance", "Cosine"}}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/bad",
                            {{"vectors", {{"size", 4}, {"distance", "Hamming"}}}}),
              400);
  ExpectError(client_->Json("PUT", "/collections/bad%2F..", {{"vectors", {{"size", 4}, {"distance", "Dot"}}}}), 400);
  auto del = client_->Request("DELETE", "/collections/docs");
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(del.json["result"], true);
  EXPECT_EQ(client_->Request("GET", "/collections/docs/exists").json["result"]["exists"], false);
  // The name is free again.
  CreateCollection("docs");
}

TEST_F(ServerTest, UpsertGetSearchAndPayloads) {
  CreateCollection("c");
  Fill("c", 300);
  auto info = client_->Request("GET", "/collections/c");
  EXPECT_EQ(info.json["result"]["points_count"], 300);

  // Get by ids, and one point.
  auto got = client_->Json("POST", "/collections/c/points", {{"ids", {3, 5, 999}}, {"with_vector", true}});
  ASSERT_EQ(got.status, 200) << got.body;
  ASSERT_EQ(got.json["result"].size(), 2u);
  EXPECT_EQ(got.json["result"][0]["id"], 3);
  EXPECT_EQ(got.json["result"][0]["payload"]["name"], "p3");
  EXPECT_EQ(got.json["result"][0]["vector"].size(), kDim);
  auto one = client_->Request("GET", "/collections/c/points/7");
  ASSERT_EQ(one.status, 200);
  EXPECT_EQ(one.json["result"]["payload"]["group"], 7);
  ExpectError(client_->Request("GET", "/collections/c/points/12345"), 404);

  // Search: each point finds itself first, with cosine similarity 1.
  for (uint64_t i : {0, 17, 299}) {
    auto s = client_->Json("POST", "/collections/c/points/search",
                           {{"vector", Vec(i)}, {"limit", 3}, {"with_payload", true}});
    ASSERT_EQ(s.status, 200) << s.body;
    ASSERT_EQ(s.json["result"].size(), 3u);
    EXPECT_EQ(s.json["result"][0]["id"], i);
    EXPECT_NEAR(s.json["result"][0]["score"].get<double>(), 1.0, 1e-4);
    EXPECT_GE(s.json["result"][0]["score"].get<double>(), s.json["result"][1]["score"].get<double>());
    EXPECT_EQ(s.json["result"][0]["payload"]["name"], "p" + std::to_string(i));
  }
  // Filter, payload selection, offset, threshold.
  auto f = client_->Json("POST", "/collections/c/points/search",
                         {{"vector", Vec(5)},
                          {"limit", 5},
                          {"filter", {{"must", {{{"key", "group"}, {"match", {{"value", 3}}}}}}}},
                          {"with_payload", {"name"}}});
  ASSERT_EQ(f.status, 200) << f.body;
  ASSERT_EQ(f.json["result"].size(), 5u);
  for (const auto& p : f.json["result"]) {
    EXPECT_EQ(p["id"].get<uint64_t>() % 10, 3u);
    EXPECT_TRUE(p["payload"].contains("name"));
    EXPECT_FALSE(p["payload"].contains("group"));
  }
  auto page2 = client_->Json("POST", "/collections/c/points/search",
                             {{"vector", Vec(5)}, {"limit", 2}, {"offset", 1}});
  auto page1 = client_->Json("POST", "/collections/c/points/search", {{"vector", Vec(5)}, {"limit", 3}});
  ASSERT_EQ(page2.json["result"].size(), 2u);
  EXPECT_EQ(page2.json["result"][0]["id"], page1.json["result"][1]["id"]);
  auto th = client_->Json("POST", "/collections/c/points/search",
                          {{"vector", Vec(5)}, {"limit", 50}, {"score_threshold", 0.5}});
  for (const auto& p : th.json["result"]) EXPECT_GE(p["score"].get<double>(), 0.5);

  // Payload updates.
  ASSERT_EQ(client_->Json("POST", "/collections/c/points/payload",
                          {{"payload", {{"color", "red"}}}, {"points", {1, 2}}}).status, 200);
  EXPECT_EQ(client_->Request("GET", "/collections/c/points/1").json["result"]["payload"]["color"], "red");
  EXPECT_EQ(client_->Request("GET", "/collections/c/points/1").json["result"]["payload"]["name"], "p1");
  ASSERT_EQ(client_->Json("PUT", "/collections/c/points/payload",
                          {{"payload", {{"only", 1}}}, {"points", {1}}}).status, 200);
  EXPECT_EQ(client_->Request("GET", "/collections/c/points/1").json["result"]["payload"], json({{"only", 1}}));
  ASSERT_EQ(client_->Json("POST", "/collections/c/points/payload/delete",
                          {{"keys", {"color"}}, {"points", {2}}}).status, 200);
  EXPECT_FALSE(client_->Request("GET", "/collections/c/points/2").json["result"]["payload"].contains("color"));
  ASSERT_EQ(client_->Json("POST", "/collections/c/points/payload/clear", {{"points", {2}}}).status, 200);
  EXPECT_EQ(client_->Request("GET", "/collections/c/points/2").json["result"]["payload"], json::object());
  // By filter: every point of group 4 gets a flag.
  ASSERT_EQ(client_->Json("POST", "/collections/c/points/payload",
                          {{"payload", {{"flag", true}}},
                           {"filter", {{"must", {{{"key", "group"}, {"match", {{"value", 4}}}}}}}}}).status, 200);
  auto cnt = client_->Json("POST", "/collections/c/points/count",
                           {{"filter", {{"must", {{{"key", "flag"}, {"match", {{"value", true}}}}}}}}});
  ASSERT_EQ(cnt.status, 200) << cnt.body;
  EXPECT_EQ(cnt.json["result"]["count"], 30);
}

TEST_F(ServerTest, BatchFormQueryMmrScrollCountDelete) {
  CreateCollection("q", "Euclid");
  json ids = json::array(), vectors = json::array(), payloads = json::array();
  for (uint64_t i = 0; i < 120; ++i) {
    ids.push_back(i);
    vectors.push_back(Vec(i));
    payloads.push_back({{"k", i % 3}});
  }
  ids[119] = "5f8a3c2e-1d4b-4c6a-9e7f-0123456789ab";
  auto up = client_->Json("PUT", "/collections/q/points",
                          {{"batch", {{"ids", ids}, {"vectors", vectors}, {"payloads", payloads}}}});
  ASSERT_EQ(up.status, 200) << up.body;

  // Query forms: plain vector, nearest, point id (itself left out), mmr.
  auto q1 = client_->Json("POST", "/collections/q/points/query", {{"query", Vec(10)}, {"limit", 3}});
  ASSERT_EQ(q1.status, 200) << q1.body;
  EXPECT_EQ(q1.json["result"]["points"][0]["id"], 10);
  EXPECT_NEAR(q1.json["result"]["points"][0]["score"].get<double>(), 0.0, 1e-4);  // Euclid: a distance
  auto q2 = client_->Json("POST", "/collections/q/points/query",
                          {{"query", {{"nearest", Vec(11)}}}, {"limit", 1}});
  EXPECT_EQ(q2.json["result"]["points"][0]["id"], 11);
  auto q3 = client_->Json("POST", "/collections/q/points/query", {{"query", 12}, {"limit", 2}});
  ASSERT_EQ(q3.status, 200) << q3.body;
  for (const auto& p : q3.json["result"]["points"]) EXPECT_NE(p["id"], 12);
  auto q4 = client_->Json("POST", "/collections/q/points/query",
                          {{"query", "5f8a3c2e-1d4b-4c6a-9e7f-0123456789AB"}, {"limit", 1}});
  ASSERT_EQ(q4.status, 200) << q4.body;
  auto mmr = client_->Json("POST", "/collections/q/points/query",
                           {{"query", {{"nearest", Vec(13)}, {"mmr", {{"diversity", 0.7}, {"candidates_limit", 40}}}}},
                            {"limit", 5},
                            {"with_payload", true}});
  ASSERT_EQ(mmr.status, 200) << mmr.body;
  ASSERT_EQ(mmr.json["result"]["points"].size(), 5u);
  EXPECT_EQ(mmr.json["result"]["points"][0]["id"], 13);  // the most relevant is picked first
  std::set<uint64_t> distinct;
  for (const auto& p : mmr.json["result"]["points"]) distinct.insert(p["id"].is_number() ? p["id"].get<uint64_t>() : 9999);
  EXPECT_EQ(distinct.size(), 5u);
  ExpectError(client_->Json("POST", "/collections/q/points/query",
                            {{"query", {{"nearest", Vec(1)}, {"mmr", {{"diversity", 3}}}}}}), 400);
  auto batch = client_->Json("POST", "/collections/q/points/search/batch",
                             {{"searches", {{{"vector", Vec(1)}, {"limit", 1}}, {{"vector", Vec(2)}, {"limit", 1}}}}});
  ASSERT_EQ(batch.status, 200) << batch.body;
  EXPECT_EQ(batch.json["result"][1][0]["id"], 2);
  auto qbatch = client_->Json("POST", "/collections/q/points/query/batch",
                              {{"searches", {{{"query", Vec(3)}, {"limit", 1}}}}});
  EXPECT_EQ(qbatch.json["result"][0]["points"][0]["id"], 3);

  // Scroll pages through every point exactly once, numbers then UUIDs.
  std::set<std::string> seen;
  json offset = nullptr;
  int pages = 0;
  do {
    json body = {{"limit", 25}};
    if (!offset.is_null()) body["offset"] = offset;
    auto page = client_->Json("POST", "/collections/q/points/scroll", body);
    ASSERT_EQ(page.status, 200) << page.body;
    for (const auto& p : page.json["result"]["points"]) {
      EXPECT_TRUE(seen.insert(p["id"].dump()).second) << "seen twice: " << p["id"];
      EXPECT_TRUE(p["payload"].contains("k"));
    }
    offset = page.json["result"]["next_page_offset"];
    ++pages;
  } while (!offset.is_null() && pages < 100);
  EXPECT_EQ(seen.size(), 120u);
  auto filtered = client_->Json("POST", "/collections/q/points/scroll",
                                {{"limit", 1000}, {"filter", {{"must", {{{"key", "k"}, {"match", {{"value", 0}}}}}}}}});
  EXPECT_EQ(filtered.json["result"]["points"].size(), 40u);
  EXPECT_EQ(client_->Json("POST", "/collections/q/points/count", json::object()).json["result"]["count"], 120);

  // Deletes by id and by filter.
  ASSERT_EQ(client_->Json("POST", "/collections/q/points/delete", {{"points", {0, 1}}}).status, 200);
  ASSERT_EQ(client_->Json("POST", "/collections/q/points/delete",
                          {{"filter", {{"must", {{{"key", "k"}, {"match", {{"value", 2}}}}}}}}}).status, 200);
  const uint64_t left = client_->Json("POST", "/collections/q/points/count", json::object()).json["result"]["count"];
  // ids 0 and 1 have k = 0 and 1; the filter takes the 40 (or 39 with the UUID) of k = 2.
  auto k2 = client_->Json("POST", "/collections/q/points/count",
                          {{"filter", {{"must", {{{"key", "k"}, {"match", {{"value", 2}}}}}}}}});
  EXPECT_EQ(k2.json["result"]["count"], 0);
  EXPECT_EQ(left, 120u - 2 - 40);
  auto gone = client_->Json("POST", "/collections/q/points/search", {{"vector", Vec(0)}, {"limit", 1}});
  EXPECT_NE(gone.json["result"][0]["id"], 0);
}

TEST_F(ServerTest, RareFilterStillFillsTheLimit) {
  CreateCollection("rare");
  Fill("rare", 1000);
  // Mark 6 far-apart points; a search near point 500 must still find all 6.
  ASSERT_EQ(client_->Json("POST", "/collections/rare/points/payload",
                          {{"payload", {{"rare", true}}}, {"points", {3, 150, 333, 640, 777, 999}}}).status, 200);
  auto r = client_->Json("POST", "/collections/rare/points/search",
                         {{"vector", Vec(500)},
                          {"limit", 6},
                          {"filter", {{"must", {{{"key", "rare"}, {"match", {{"value", true}}}}}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["result"].size(), 6u);
}

TEST_F(ServerTest, BadInputGetsQdrantErrorsAndChangesNothing) {
  CreateCollection("b");
  Fill("b", 20);
  ExpectError(client_->Request("PUT", "/collections/b/points", "{not json"), 400);
  ExpectError(client_->Request("PUT", "/collections/b/points", "[1,2]"), 400);
  ExpectError(client_->Request("PUT", "/collections/b/points", "{\"points\": [{\"id\": 1, \"vector\": [NaN]}]}"), 400);
  ExpectError(client_->Json("PUT", "/collections/b/points", {{"points", {{{"id", 1}, {"vector", {1, 2}}}}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/b/points", {{"points", {{{"id", -4}, {"vector", Vec(1)}}}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/b/points", {{"points", {{{"id", 1.5}, {"vector", Vec(1)}}}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/b/points",
                            {{"points", {{{"id", 1}, {"vector", Vec(1)}, {"payload", 5}}}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/b/points",
                            {{"points", {{{"id", 1}, {"vector", json::array({"a", 1, 2, 3, 4, 5, 6, 7})}}}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/b/points",
                            {{"points", {{{"id", 50}, {"vector", Vec(50)}}, {{"id", 50}, {"vector", Vec(51)}}}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/b/points",
                            {{"points", {{{"id", 51}, {"vector", std::vector<float>(kDim, 0.0f)}}}}}), 400);
  ExpectError(client_->Request("PUT", "/collections/b/points",
                               "{\"points\": [{\"id\": 52, \"vector\": [1e999,0,0,0,0,0,0,0]}]}"), 400);
  ExpectError(client_->Json("POST", "/collections/b/points/search", {{"vector", {1, 2, 3}}}), 400);
  ExpectError(client_->Json("POST", "/collections/b/points/search", {{"vector", Vec(1)}, {"limit", -1}}), 400);
  ExpectError(client_->Json("POST", "/collections/b/points/search",
                            {{"vector", Vec(1)}, {"filter", {{"must", {{{"key", "x"}, {"range", {{"gt", "a"}}}}}}}}}), 400);
  ExpectError(client_->Json("POST", "/collections/b/points/scroll", {{"offset", json::object()}}), 400);
  ExpectError(client_->Request("POST", "/collections/b/points/nothing", "{}"), 404);
  // Bytes that are not UTF-8, in a payload value, a payload key and a filter,
  // are the request's fault (they answered 500 when the answer was dumped).
  const std::string v = json(Vec(53)).dump();
  ExpectError(client_->Request("PUT", "/collections/b/points",
                               "{\"points\": [{\"id\": 53, \"vector\": " + v +
                                   ", \"payload\": {\"s\": \"a\xff\"}}]}"),
              400);
  ExpectError(client_->Request("PUT", "/collections/b/points",
                               "{\"points\": [{\"id\": 53, \"vector\": " + v +
                                   ", \"payload\": {\"\xc0\xaf\": 1}}]}"),
              400);
  ExpectError(client_->Request("POST", "/collections/b/points/search",
                               "{\"vector\": " + v +
                                   ", \"filter\": {\"must\": [{\"key\": \"s\", \"match\": "
                                   "{\"value\": \"\xed\xa0\x80\"}}]}}"),
              400);
  // A name from the URL that is not UTF-8 is quoted in the error, not a 500.
  ExpectError(client_->Request("PUT", "/collections/b%ff/points", "{}"), 404);
  // Nothing above was applied: 20 points, ids 50-53 absent.
  EXPECT_EQ(client_->Json("POST", "/collections/b/points/count", json::object()).json["result"]["count"], 20);
  EXPECT_EQ(client_->Json("POST", "/collections/b/points", {{"ids", {50, 51, 52, 53}}}).json["result"].size(), 0u);
}

TEST_F(ServerTest, PersistsAcrossRestart) {
  CreateCollection("p");
  Fill("p", 150);
  ASSERT_EQ(client_->Json("POST", "/collections/p/points/delete", {{"points", {7}}}).status, 200);
  Stop();
  Start({}, {});
  auto info = client_->Request("GET", "/collections/p");
  ASSERT_EQ(info.status, 200) << info.body;
  EXPECT_EQ(info.json["result"]["points_count"], 149);
  auto s = client_->Json("POST", "/collections/p/points/search", {{"vector", Vec(42)}, {"limit", 1}, {"with_payload", true}});
  EXPECT_EQ(s.json["result"][0]["id"], 42);
  EXPECT_EQ(s.json["result"][0]["payload"]["name"], "p42");
  ExpectError(client_->Request("GET", "/collections/p/points/7"), 404);
}

// A crash between the two writes of an overwrite (the point store has the
// new vector, the index's WAL never got it): after the restart a get returns
// the new vector, so a search with it must find the point. Reconcile used to
// check only presence, and the index kept the old vector for good (found by
// tests/crash/serve_kill_test.py: an overwrite in flight at the kill).
TEST_F(ServerTest, OverwriteCutBeforeTheIndexIsReindexedOnOpen) {
  CreateCollection("c", "Euclid");
  Fill("c", 150);
  Stop();
  {
    // Collection::Upsert's first write, alone.
    auto store = PointStore::Open(Env::Default(), tmp_.path() + "/data/collections/c/points", {});
    ASSERT_TRUE(store.ok()) << store.status();
    PointRecord rec;
    rec.vector = EncodeVector(Vec(1000));
    rec.payload = R"({"name":"moved"})";
    ASSERT_TRUE((*store)->Apply({{StoreKey(ExternalId::Number(5)), rec}}, {}).ok());
  }
  Start({}, {});
  auto got = client_->Request("GET", "/collections/c/points/5");
  ASSERT_EQ(got.status, 200) << got.body;
  ASSERT_EQ(got.json["result"]["payload"]["name"], "moved");
  auto s = client_->Json("POST", "/collections/c/points/search",
                         {{"vector", Vec(1000)}, {"limit", 1}});
  ASSERT_EQ(s.status, 200) << s.body;
  ASSERT_EQ(s.json["result"].size(), 1u) << s.body;
  EXPECT_EQ(s.json["result"][0]["id"], 5) << s.body;
  EXPECT_NEAR(s.json["result"][0]["score"].get<double>(), 0.0, 1e-4) << s.body;
  // And the old vector is gone from the index.
  s = client_->Json("POST", "/collections/c/points/search", {{"vector", Vec(5)}, {"limit", 1}});
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_NE(s.json["result"][0]["id"], 5) << s.body;
  EXPECT_EQ(client_->Request("GET", "/collections/c").json["result"]["points_count"], 150);
}

TEST_F(ServerTest, ApiKeysAndReadOnlyKey) {
  Stop();
  Start("secret", "reader");
  auto no_key = client_->Json("PUT", "/collections/a", {{"vectors", {{"size", kDim}, {"distance", "Dot"}}}});
  ExpectError(no_key, 401);
  ExpectError(client_->Request("GET", "/collections", "", {{"api-key", "wrong"}}), 401);
  EXPECT_EQ(client_->Request("GET", "/healthz").status, 200);  // probes need no key
  auto ok = client_->Json("PUT", "/collections/a", {{"vectors", {{"size", kDim}, {"distance", "Dot"}}}},
                          {{"api-key", "secret"}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  auto bearer = client_->Json("PUT", "/collections/a/points",
                              {{"points", {{{"id", 1}, {"vector", Vec(1)}}}}},
                              {{"authorization", "Bearer secret"}});
  ASSERT_EQ(bearer.status, 200) << bearer.body;
  auto read = client_->Json("POST", "/collections/a/points/search", {{"vector", Vec(1)}, {"limit", 1}},
                            {{"api-key", "reader"}});
  ASSERT_EQ(read.status, 200) << read.body;
  EXPECT_EQ(read.json["result"][0]["id"], 1);
  ExpectError(client_->Json("PUT", "/collections/a/points", {{"points", {{{"id", 2}, {"vector", Vec(2)}}}}},
                            {{"api-key", "reader"}}),
              403);
  ExpectError(client_->Request("DELETE", "/collections/a", "", {{"api-key", "reader"}}), 403);
  ExpectError(client_->Json("PUT", "/collections/z", {{"vectors", {{"size", kDim}, {"distance", "Dot"}}}},
                            {{"api-key", "reader"}}),
              403);
  EXPECT_EQ(client_->Json("POST", "/collections/a/points/count", json::object(), {{"api-key", "secret"}})
                .json["result"]["count"],
            1);
  // Only a read-only key configured: auth is on, and nothing can write.
  Stop();
  Start("", "reader");
  ExpectError(client_->Request("GET", "/collections"), 401);
  EXPECT_EQ(client_->Request("GET", "/collections", "", {{"api-key", "reader"}}).status, 200);
  ExpectError(client_->Json("PUT", "/collections/a/points", {{"points", {{{"id", 3}, {"vector", Vec(3)}}}}},
                            {{"api-key", "reader"}}),
              403);
}

TEST_F(ServerTest, TimeoutParameter) {
  CreateCollection("t");
  Fill("t", 50);
  auto ok = client_->Json("POST", "/collections/t/points/search?timeout=5", {{"vector", Vec(1)}, {"limit", 1}});
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(ok.json["result"][0]["id"], 1);
  ExpectError(client_->Json("POST", "/collections/t/points/search?timeout=soon", {{"vector", Vec(1)}}), 400);
  ExpectError(client_->Json("POST", "/collections/t/points/count?timeout=0", json::object()), 400);
}

TEST_F(ServerTest, BodyLimitPipeliningAndBrokenClients) {
  CreateCollection("h");
  // Over the 1 MiB limit: 413 with a JSON error body.
  HttpTestClient c1(server_->port());
  c1.WriteRaw("PUT /collections/h/points HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              "Content-Length: 2097152\r\n\r\n");
  ExpectError(c1.Read(), 413);

  // Two requests in one write: two answers, in order.
  HttpTestClient c2(server_->port());
  c2.WriteRaw(
      "GET /collections/h/exists HTTP/1.1\r\nHost: x\r\n\r\n"
      "GET /collections/nope/exists HTTP/1.1\r\nHost: x\r\n\r\n");
  auto a = c2.Read();
  auto b = c2.Read();
  EXPECT_EQ(a.json["result"]["exists"], true);
  EXPECT_EQ(b.json["result"]["exists"], false);

  // Garbage instead of HTTP: 400, connection closed.
  HttpTestClient c3(server_->port());
  c3.WriteRaw("HELLO\r\n\r\n");
  auto bad = c3.Read();
  EXPECT_EQ(bad.status, 400);

  // A client that sends half a request and stalls is cut at the read
  // timeout (500 ms here); one that half-closes gets nothing and is closed.
  HttpTestClient slow(server_->port());
  slow.WriteRaw("PUT /collections/h/points HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"po");
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(slow.ServerClosed());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
  HttpTestClient half(server_->port());
  half.WriteRaw("GET /collections HTT");
  half.ShutdownSend();
  EXPECT_TRUE(half.ServerClosed());
  // The server still answers.
  EXPECT_EQ(client_->Request("GET", "/collections").status, 200);
  EXPECT_EQ(client_->Json("POST", "/collections/h/points/count", json::object()).json["result"]["count"], 0);
}

TEST_F(ServerTest, ConcurrentClients) {
  CreateCollection("cc");
  Fill("cc", 200);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      HttpTestClient c(server_->port());
      for (int i = 0; i < 30; ++i) {
        const uint64_t id = (t * 31 + i * 7) % 200;
        auto r = c.Json("POST", "/collections/cc/points/search", {{"vector", Vec(id)}, {"limit", 1}});
        if (r.status != 200 || r.json["result"][0]["id"] != id) ++failures;
        if (i % 10 == 0) {
          auto w = c.Json("PUT", "/collections/cc/points",
                          {{"points", {{{"id", 1000 + t * 100 + i}, {"vector", Vec(1000 + t * 100 + i)}}}}});
          if (w.status != 200) ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(client_->Json("POST", "/collections/cc/points/count", json::object()).json["result"]["count"], 224);
}

TEST(RouteTableTest, LiteralsAndPlaceholdersMatchWholePaths) {
  PathParams params;
  EXPECT_TRUE(MatchPath("/", {}, &params));
  EXPECT_FALSE(MatchPath("/", {"collections"}, &params));
  // The params view into the segments: they must outlive the checks.
  const std::vector<std::string> segments = {"collections", "c", "points", "7"};
  ASSERT_TRUE(MatchPath("/collections/{name}/points/{id}", segments, &params));
  EXPECT_EQ(params.Get("name"), "c");
  EXPECT_EQ(params.Get("id"), "7");
  EXPECT_EQ(params.Get("other"), "");
  EXPECT_FALSE(MatchPath("/collections/{name}", {"collections"}, &params));
  EXPECT_FALSE(MatchPath("/collections/{name}", {"collections", "c", "points"}, &params));
  EXPECT_FALSE(MatchPath("/collections/{name}/points", {"collections", "c", "point"}, &params));
}

// 405 where a path takes other methods, 404 for an unknown route or a
// method a points route does not take (as Qdrant), 403 before 405 for a
// read-only key on a collection.
TEST_F(ServerTest, UnknownRoutesAndMethods) {
  CreateCollection("u");
  ExpectError(client_->Request("POST", "/"), 405);
  ExpectError(client_->Request("POST", "/collections"), 405);
  ExpectError(client_->Request("POST", "/collections/u"), 405);
  ExpectError(client_->Request("GET", "/nothing"), 404);
  ExpectError(client_->Request("GET", "/collections/u/points/search/batch"), 404);
  ExpectError(client_->Request("DELETE", "/collections/u/points"), 404);
  ExpectError(client_->Request("POST", "/collections/missing/anything"), 404);
  EXPECT_EQ(client_->Request("GET", "/collections/missing/exists").json["result"]["exists"], false);
  Stop();
  Start("secret", "reader");
  ExpectError(client_->Request("POST", "/collections/u", "", {{"api-key", "reader"}}), 403);
  ExpectError(client_->Request("POST", "/collections", "", {{"api-key", "reader"}}), 405);
  ExpectError(client_->Request("POST", "/nothing", "", {{"api-key", "reader"}}), 404);
  ExpectError(client_->Request("POST", "/nothing"), 401);
}

}  // namespace
}  // namespace cairn::testing

namespace cairn::testing {
namespace {

HttpRequest RequestFor(const std::string& method, std::vector<std::string> segments) {
  HttpRequest r;
  r.method = method;
  r.segments = std::move(segments);
  return r;
}

TEST(QdrantApiLanesTest, WritesAreTheRoutesThatChangeData) {
  EXPECT_TRUE(QdrantApi::IsWrite(RequestFor("PUT", {"collections", "c"})));
  EXPECT_TRUE(QdrantApi::IsWrite(RequestFor("PUT", {"collections", "c", "points"})));
  EXPECT_TRUE(QdrantApi::IsWrite(RequestFor("POST", {"collections", "c", "points", "delete"})));
  EXPECT_TRUE(QdrantApi::IsWrite(RequestFor("POST", {"collections", "c", "points", "payload"})));
  EXPECT_FALSE(QdrantApi::IsWrite(RequestFor("POST", {"collections", "c", "points"})));
  EXPECT_FALSE(QdrantApi::IsWrite(RequestFor("POST", {"collections", "c", "points", "search"})));
  EXPECT_FALSE(QdrantApi::IsWrite(RequestFor("POST", {"collections", "c", "points", "scroll"})));
  EXPECT_FALSE(QdrantApi::IsWrite(RequestFor("GET", {"collections", "c"})));
  EXPECT_FALSE(QdrantApi::IsWrite(RequestFor("GET", {""})));
  EXPECT_FALSE(QdrantApi::IsWrite(RequestFor("POST", {"nothing", "here"})));
}

}  // namespace
}  // namespace cairn::testing

namespace cairn::testing {
namespace {

// Search by target recall over REST: the request param, Qdrant's hnsw_ef,
// the collection's default set at creation and by PATCH (persisted), and
// the posting budget the live index fits once the collection is large
// enough (until then the fixed count serves).
TEST_F(ServerTest, TargetRecallParamsAndSearchDefaults) {
  auto r = client_->Json("PUT", "/collections/t",
                         {{"vectors", {{"size", kDim}, {"distance", "Euclid"}}},
                          {"cairn", {{"target_recall", 0.9}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto info = client_->Request("GET", "/collections/t");
  EXPECT_EQ(info.json["result"]["cairn"]["target_recall"], 0.9);
  EXPECT_EQ(info.json["result"]["cairn"]["posting_budget"], false);
  ExpectError(client_->Json("PUT", "/collections/t2",
                            {{"vectors", {{"size", kDim}, {"distance", "Dot"}}},
                             {"cairn", {{"target_recall", 1.5}}}}),
              400);
  Fill("t", 2500);
  auto search = [&](const json& params, uint64_t id) {
    return client_->Json("POST", "/collections/t/points/search",
                         {{"vector", Vec(id)}, {"limit", 3}, {"params", params}});
  };
  // Before the budget exists, a target still answers (from the fixed count).
  for (const json& params : {json{{"target_recall", 0.95}}, json{{"hnsw_ef", 64}},
                             json{{"target_recall", 0}}, json::object()}) {
    auto s = search(params, 11);
    ASSERT_EQ(s.status, 200) << params << " " << s.body;
    EXPECT_EQ(s.json["result"][0]["id"], 11) << params;
  }
  ExpectError(search({{"target_recall", 1.5}}, 1), 400);
  ExpectError(search({{"target_recall", "high"}}, 1), 400);
  ExpectError(search({{"hnsw_ef", 0}}, 1), 400);

  // Maintenance fits the budget in the background (no time is asserted
  // beyond "eventually").
  bool fitted = false;
  for (int i = 0; i < 600 && !fitted; ++i) {
    fitted = client_->Request("GET", "/collections/t").json["result"]["cairn"]["posting_budget"] ==
             true;
    if (!fitted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_TRUE(fitted);
  for (uint64_t id : {3, 500, 1999, 2499}) {
    auto s = search({{"target_recall", 0.95}}, id);
    ASSERT_EQ(s.status, 200) << s.body;
    EXPECT_EQ(s.json["result"][0]["id"], id);
  }

  // PATCH the defaults; what cannot change is refused.
  auto p = client_->Json("PATCH", "/collections/t",
                         {{"cairn", {{"target_recall", 0.99}, {"max_postings", 20}}}});
  ASSERT_EQ(p.status, 200) << p.body;
  ExpectError(client_->Json("PATCH", "/collections/t", {{"cairn", {{"target_recall", 2}}}}), 400);
  ExpectError(client_->Json("PATCH", "/collections/t", {{"cairn", {{"sync_writes", false}}}}),
              400);
  EXPECT_EQ(client_->Json("PATCH", "/collections/t",
                          {{"optimizers_config", {{"indexing_threshold", 10000}}}})
                .status,
            200);
  Stop();
  Start({}, {});
  info = client_->Request("GET", "/collections/t");
  EXPECT_EQ(info.json["result"]["cairn"]["target_recall"], 0.99);
  EXPECT_EQ(info.json["result"]["cairn"]["max_postings"], 20);
  EXPECT_EQ(info.json["result"]["cairn"]["posting_budget"], true);  // routing.budget reloaded
  auto s = client_->Json("POST", "/collections/t/points/search", {{"vector", Vec(77)}, {"limit", 1}});
  EXPECT_EQ(s.json["result"][0]["id"], 77);
}

}  // namespace
}  // namespace cairn::testing
