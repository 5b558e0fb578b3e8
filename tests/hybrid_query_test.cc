// Sparse vectors and the multi-stage query API over HTTP: collections with
// a named dense vector and sparse vectors (the layout LangChain, LlamaIndex
// and Haystack create), the write routes, with_vector shapes, exact sparse
// search (against a scan computed here, idf included), prefetch re-ranking,
// rrf and dbsf fusion (against a fusion of the prefetches' own answers
// computed here), restarts, and the 400s.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "tests/server_test_fixture.h"

namespace cairn::testing {
namespace {

struct Sparse {
  std::vector<uint32_t> indices;
  std::vector<float> values;
  json Json() const { return json{{"indices", indices}, {"values", values}}; }
};

// Point i's sparse vector: 3 to 6 dimensions of 40, by a seeded draw.
Sparse SparseOf(uint64_t i) {
  Rng rng(i * 7919 + 3);
  std::map<uint32_t, float> m;
  const size_t n = 3 + rng.Below(4);
  while (m.size() < n) m[static_cast<uint32_t>(rng.Below(40))] = 0.1f + float(rng.Below(100)) / 50;
  Sparse s;
  for (auto [k, v] : m) {
    s.indices.push_back(k);
    s.values.push_back(v);
  }
  return s;
}

double Dot(const Sparse& q, const Sparse& d, const std::map<uint32_t, double>& idf = {}) {
  double s = 0;
  for (size_t i = 0; i < q.indices.size(); ++i) {
    for (size_t j = 0; j < d.indices.size(); ++j) {
      if (q.indices[i] != d.indices[j]) continue;
      const double w = idf.empty() ? 1.0 : idf.at(q.indices[i]);
      s += double{q.values[i]} * w * d.values[j];
    }
  }
  return s;
}

bool Shares(const Sparse& q, const Sparse& d) {
  for (uint32_t i : q.indices) {
    if (std::find(d.indices.begin(), d.indices.end(), i) != d.indices.end()) return true;
  }
  return false;
}

class HybridQueryTest : public ServerTest {
 protected:
  // "h": dense "text-dense" (kDim, Cosine), sparse "text-sparse" and
  // "bm25" (idf).
  void CreateHybrid(const std::string& name = "h") {
    auto r = client_->Json("PUT", "/collections/" + name,
                           {{"vectors", {{"text-dense", {{"size", kDim}, {"distance", "Cosine"}}}}},
                            {"sparse_vectors",
                             {{"text-sparse",
                               {{"index", {{"full_scan_threshold", nullptr}, {"on_disk", nullptr}}},
                                {"modifier", nullptr}}},
                              {"bm25", {{"modifier", "idf"}}}}}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // Points 0..n-1: dense Vec(i) and both sparse vectors SparseOf(i), payload
  // {"i": i, "even": i % 2 == 0}.
  void FillHybrid(uint64_t n, const std::string& name = "h") {
    json points = json::array();
    for (uint64_t i = 0; i < n; ++i) {
      points.push_back({{"id", i},
                        {"vector",
                         {{"text-dense", Vec(i)},
                          {"text-sparse", SparseOf(i).Json()},
                          {"bm25", SparseOf(i).Json()}}},
                        {"payload", {{"i", i}, {"even", i % 2 == 0}}}});
    }
    auto r =
        client_->Json("PUT", "/collections/" + name + "/points?wait=true", {{"points", points}});
    ASSERT_EQ(r.status, 200) << r.body;
  }

  json Query(const json& body, const std::string& name = "h") {
    auto r = client_->Json("POST", "/collections/" + name + "/points/query", body);
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json["result"]["points"];
  }

  void Expect400(const HttpResult& r, const std::string& needle) {
    ExpectError(r, 400);
    EXPECT_NE(r.json["status"]["error"].get<std::string>().find(needle), std::string::npos)
        << "want \"" << needle << "\" in " << r.body;
  }
};

TEST_F(HybridQueryTest, ConfigIsReportedAndSurvivesARestart) {
  CreateHybrid();
  auto check = [&] {
    auto info = client_->Request("GET", "/collections/h");
    ASSERT_EQ(info.status, 200) << info.body;
    const json& params = info.json["result"]["config"]["params"];
    EXPECT_EQ(params["vectors"], json({{"text-dense", {{"size", kDim}, {"distance", "Cosine"}}}}));
    EXPECT_EQ(params["sparse_vectors"],
              json({{"bm25", {{"modifier", "idf"}}}, {"text-sparse", json::object()}}));
  };
  check();
  Stop();
  Start({}, {});
  check();
  // Collection info reports each sparse index's size.
  FillHybrid(5);
  auto info = client_->Request("GET", "/collections/h");
  const json& bm25 = info.json["result"]["cairn"]["sparse_indexes"]["bm25"];
  EXPECT_EQ(bm25["points"], 5);
  uint64_t nnz = 0;
  for (uint64_t i = 0; i < 5; ++i) nnz += SparseOf(i).indices.size();
  EXPECT_EQ(bm25["non_zeros"], nnz);
  EXPECT_GE(bm25["ram_bytes"].get<uint64_t>(), nnz * 8);
}

TEST_F(HybridQueryTest, WritesAndReadsSparseVectors) {
  CreateHybrid();
  const Sparse s{{5, 1, 9}, {0.5f, 2.0f, -1.0f}};
  json points = {
      {{"id", 1}, {"vector", {{"text-dense", Vec(1)}, {"text-sparse", s.Json()}}}},
      {{"id", 2}, {"vector", {{"bm25", {{"indices", {3}}, {"values", {1.0}}}}}}},
      {{"id", 3}, {"vector", json::object()}, {"payload", {{"a", 1}}}},  // Haystack's vector: {}
      {{"id", 4}, {"vector", {{"text-dense", Vec(4)}}}},
  };
  ASSERT_EQ(client_->Json("PUT", "/collections/h/points?wait=true", {{"points", points}}).status,
            200);
  auto get = [&](uint64_t id, const json& with_vector) {
    auto r = client_->Json("POST", "/collections/h/points",
                           {{"ids", {id}}, {"with_vector", with_vector}});
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json["result"][0]["vector"];
  };
  // Stored sorted by index, as given otherwise.
  const json sorted = {{"indices", {1, 5, 9}}, {"values", {2.0, 0.5, -1.0}}};
  json v = get(1, true);
  EXPECT_EQ(v["text-sparse"], sorted);
  EXPECT_EQ(v["text-dense"].size(), kDim);
  EXPECT_EQ(get(1, json{"text-sparse"}), json({{"text-sparse", sorted}}));
  EXPECT_EQ(get(2, true), json({{"bm25", {{"indices", {3}}, {"values", {1.0}}}}}));
  EXPECT_EQ(get(3, true), json::object());
  // update_vectors of the sparse vector alone keeps the dense one.
  ASSERT_EQ(
      client_
          ->Json(
              "PUT", "/collections/h/points/vectors?wait=true",
              {{"points",
                {{{"id", 1}, {"vector", {{"text-sparse", {{"indices", {7}}, {"values", {3}}}}}}}}}})
          .status,
      200);
  v = get(1, true);
  EXPECT_EQ(v["text-sparse"], json({{"indices", {7}}, {"values", {3.0}}}));
  EXPECT_EQ(v["text-dense"].size(), kDim);
  // delete of the sparse vector keeps the dense one, and the reverse.
  ASSERT_EQ(client_
                ->Json("POST", "/collections/h/points/vectors/delete?wait=true",
                       {{"points", {1}}, {"vector", {"text-sparse"}}})
                .status,
            200);
  v = get(1, true);
  EXPECT_FALSE(v.contains("text-sparse"));
  EXPECT_TRUE(v.contains("text-dense"));
  auto sparse_hits = [&](uint32_t dim) {
    return Query({{"query", {{"indices", {dim}}, {"values", {1}}}}, {"using", "text-sparse"}});
  };
  EXPECT_TRUE(sparse_hits(7).empty());
  ASSERT_EQ(
      client_
          ->Json(
              "PUT", "/collections/h/points/vectors?wait=true",
              {{"points",
                {{{"id", 4}, {"vector", {{"text-sparse", {{"indices", {7}}, {"values", {2}}}}}}}}}})
          .status,
      200);
  ASSERT_EQ(client_
                ->Json("POST", "/collections/h/points/vectors/delete?wait=true",
                       {{"points", {4}}, {"vector", {"text-dense"}}})
                .status,
            200);
  EXPECT_EQ(get(4, true), json({{"text-sparse", {{"indices", {7}}, {"values", {2.0}}}}}));
  // The sparse index follows every write, and a restart rebuilds it.
  for (int round = 0; round < 2; ++round) {
    auto hits = sparse_hits(7);
    ASSERT_EQ(hits.size(), 1u) << hits;
    EXPECT_EQ(hits[0]["id"], 4);
    EXPECT_FLOAT_EQ(hits[0]["score"].get<float>(), 2.0f);
    Stop();
    Start({}, {});
  }
  // A delete removes the point from the sparse index.
  ASSERT_EQ(
      client_->Json("POST", "/collections/h/points/delete?wait=true", {{"points", {4}}}).status,
      200);
  EXPECT_TRUE(sparse_hits(7).empty());
  EXPECT_EQ(client_->Request("GET", "/collections/h").json["result"]["points_count"], 3);
}

TEST_F(HybridQueryTest, BatchUpsertTakesSparseVectors) {
  CreateHybrid();
  auto r = client_->Json("PUT", "/collections/h/points?wait=true",
                         {{"batch",
                           {{"ids", {1, 2}},
                            {"vectors",
                             {{"text-dense", {Vec(1), Vec(2)}},
                              {"text-sparse", {SparseOf(1).Json(), SparseOf(2).Json()}}}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto hits = Query({{"query", SparseOf(2).Json()}, {"using", "text-sparse"}, {"limit", 1}});
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0]["id"], 2);
}

TEST_F(HybridQueryTest, SparseSearchEqualsAnExactScan) {
  CreateHybrid();
  const uint64_t n = 300;
  FillHybrid(n);
  // Document frequencies for the idf collection's reference.
  std::map<uint32_t, int> df;
  for (uint64_t i = 0; i < n; ++i) {
    for (uint32_t d : SparseOf(i).indices) ++df[d];
  }
  for (uint64_t t = 0; t < 8; ++t) {
    const Sparse q = SparseOf(10000 + t);
    std::map<uint32_t, double> idf;
    for (uint32_t d : q.indices) {
      idf[d] = std::log(1.0 + (n - df[d] + 0.5) / (df[d] + 0.5));
    }
    for (const std::string name : {"text-sparse", "bm25"}) {
      for (const bool filtered : {false, true}) {
        std::vector<std::pair<double, uint64_t>> want;
        for (uint64_t i = 0; i < n; ++i) {
          if (filtered && i % 2 != 0) continue;
          if (!Shares(q, SparseOf(i))) continue;
          want.emplace_back(
              Dot(q, SparseOf(i), name == "bm25" ? idf : std::map<uint32_t, double>{}), i);
        }
        std::sort(want.begin(), want.end(), [](auto& a, auto& b) { return a.first > b.first; });
        json body = {{"query", q.Json()}, {"using", name}, {"limit", 10}};
        if (filtered)
          body["filter"] = {{"must", {{{"key", "even"}, {"match", {{"value", true}}}}}}};
        const json hits = Query(body);
        ASSERT_EQ(hits.size(), std::min<size_t>(10, want.size()));
        for (size_t k = 0; k < hits.size(); ++k) {
          EXPECT_NEAR(hits[k]["score"].get<double>(), want[k].first, 1e-4) << name << " " << k;
        }
        // The legacy search route with a NamedSparseVector answers the same.
        json search = {{"vector", {{"name", name}, {"vector", q.Json()}}}, {"limit", 10}};
        if (filtered) search["filter"] = body["filter"];
        auto r = client_->Json("POST", "/collections/h/points/search", search);
        ASSERT_EQ(r.status, 200) << r.body;
        ASSERT_EQ(r.json["result"].size(), hits.size());
        for (size_t k = 0; k < hits.size(); ++k) {
          EXPECT_EQ(r.json["result"][k]["id"], hits[k]["id"]);
        }
      }
    }
  }
  // offset, score_threshold, with_payload.
  const Sparse q = SparseOf(5);
  const json all = Query({{"query", q.Json()}, {"using", "text-sparse"}, {"limit", 6}});
  const json page = Query({{"query", q.Json()},
                           {"using", "text-sparse"},
                           {"limit", 3},
                           {"offset", 3},
                           {"with_payload", true}});
  ASSERT_EQ(page.size(), 3u);
  EXPECT_EQ(page[0]["id"], all[3]["id"]);
  EXPECT_EQ(page[0]["payload"]["i"], all[3]["id"]);
  const float cut = all[2]["score"].get<float>();
  const json above = Query(
      {{"query", q.Json()}, {"using", "text-sparse"}, {"limit", 50}, {"score_threshold", cut}});
  for (const json& h : above) EXPECT_GE(h["score"].get<float>(), cut);
  EXPECT_GE(above.size(), 3u);
}

// The reference fusion of the prefetches' own answers (Qdrant's formulas).
std::vector<std::pair<uint64_t, double>> Fuse(const std::vector<json>& lists, bool dbsf) {
  std::map<uint64_t, double> sum;
  std::vector<uint64_t> order;
  for (const json& list : lists) {
    std::vector<double> s;
    for (const json& h : list) s.push_back(h["score"].get<double>());
    double mean = 0, var = 0;
    for (double x : s) mean += x / s.size();
    for (double x : s) var += (x - mean) * (x - mean);
    const double sd = s.size() > 1 ? std::sqrt(var / (s.size() - 1)) : 0;
    for (size_t r = 0; r < list.size(); ++r) {
      const uint64_t id = list[r]["id"].get<uint64_t>();
      if (!sum.contains(id)) order.push_back(id);
      double v;
      if (!dbsf) {
        v = 1.0 / (r + 2);
      } else if (s.size() == 1 || sd == 0) {
        v = 0.5;
      } else {
        v = (s[r] - (mean - 3 * sd)) / (6 * sd);
      }
      sum[id] += v;
    }
  }
  std::vector<std::pair<uint64_t, double>> out;
  for (uint64_t id : order) out.emplace_back(id, sum[id]);
  std::stable_sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.second > b.second; });
  return out;
}

TEST_F(HybridQueryTest, FusionEqualsAReferenceFusionOfThePrefetches) {
  CreateHybrid();
  FillHybrid(400);
  const json filter = {{"must", {{{"key", "even"}, {"match", {{"value", true}}}}}}};
  for (uint64_t t = 0; t < 5; ++t) {
    const json dense = {{"query", Vec(5000 + t)},
                        {"using", "text-dense"},
                        {"limit", 20},
                        {"params", {{"exact", true}}}};
    const json sparse = {{"query", SparseOf(5000 + t).Json()}, {"using", "bm25"}, {"limit", 15}};
    for (const std::string fusion : {"rrf", "dbsf"}) {
      for (const bool filtered : {false, true}) {
        json body = {{"prefetch", {dense, sparse}}, {"query", {{"fusion", fusion}}}, {"limit", 10}};
        std::vector<json> lists;
        for (json one : {dense, sparse}) {
          if (filtered) one["filter"] = filter;  // the outer filter reaches the prefetches
          lists.push_back(Query(one));
        }
        if (filtered) body["filter"] = filter;
        const auto want = Fuse(lists, fusion == "dbsf");
        const json got = Query(body);
        ASSERT_EQ(got.size(), std::min<size_t>(10, want.size()));
        for (size_t k = 0; k < got.size(); ++k) {
          EXPECT_EQ(got[k]["id"].get<uint64_t>(), want[k].first) << fusion << " rank " << k;
          EXPECT_NEAR(got[k]["score"].get<double>(), want[k].second, 1e-4);
          if (filtered) EXPECT_EQ(got[k]["id"].get<uint64_t>() % 2, 0u);
        }
      }
    }
  }
}

TEST_F(HybridQueryTest, NearestOverPrefetchReranksTheCandidatesExactly) {
  CreateHybrid();
  FillHybrid(200);
  const json sparse = {{"query", SparseOf(77).Json()}, {"using", "text-sparse"}, {"limit", 30}};
  const json candidates = Query(sparse);
  const std::vector<float> q = Vec(77);
  // Cosine of unit vectors, as the collection stores them.
  auto cosine = [&](uint64_t i) {
    std::vector<float> x = Vec(i);
    double dot = 0, nq = 0, nx = 0;
    for (uint32_t d = 0; d < kDim; ++d) {
      dot += double{q[d]} * x[d];
      nq += double{q[d]} * q[d];
      nx += double{x[d]} * x[d];
    }
    return dot / std::sqrt(nq * nx);
  };
  std::vector<std::pair<double, uint64_t>> want;
  for (const json& c : candidates) want.emplace_back(cosine(c["id"]), c["id"]);
  std::sort(want.begin(), want.end(), [](auto& a, auto& b) { return a.first > b.first; });
  const json got = Query({{"prefetch", sparse},
                          {"query", Vec(77)},
                          {"using", "text-dense"},
                          {"limit", 5},
                          {"with_vector", {"bm25"}}});
  ASSERT_EQ(got.size(), 5u);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(got[k]["id"].get<uint64_t>(), want[k].second);
    EXPECT_NEAR(got[k]["score"].get<double>(), want[k].first, 1e-5);
    EXPECT_EQ(got[k]["vector"]["bm25"]["indices"], json(SparseOf(want[k].second).indices));
  }
  // Nested prefetch, a fusion over it, query/batch.
  const json nested = {
      {"prefetch",
       {{"prefetch", sparse}, {"query", Vec(3)}, {"using", "text-dense"}, {"limit", 10}}},
      {"query", {{"fusion", "rrf"}}},
      {"limit", 3}};
  auto batch = client_->Json(
      "POST", "/collections/h/points/query/batch",
      {{"searches", {nested, {{"query", SparseOf(1).Json()}, {"using", "bm25"}, {"limit", 2}}}}});
  ASSERT_EQ(batch.status, 200) << batch.body;
  ASSERT_EQ(batch.json["result"].size(), 2u);
  EXPECT_EQ(batch.json["result"][0]["points"].size(), 3u);
  EXPECT_EQ(batch.json["result"][1]["points"][0]["id"], 1);
}

std::vector<double> Unit(const std::vector<float>& v) {
  double n = 0;
  for (float x : v) n += double{x} * x;
  std::vector<double> out;
  for (float x : v) out.push_back(x / std::sqrt(n));
  return out;
}

TEST_F(HybridQueryTest, RecommendAverageVectorIsTheNearestToItsFormula) {
  CreateHybrid();
  FillHybrid(200);
  // Positives: points 3 and 5 (their stored unit vectors); negative: a
  // vector, made unit length as a Cosine collection stores vectors.
  const std::vector<double> a = Unit(Vec(3)), b = Unit(Vec(5)), n = Unit(Vec(9999));
  std::vector<double> q(kDim);
  for (uint32_t d = 0; d < kDim; ++d) q[d] = 2 * (a[d] + b[d]) / 2 - n[d];
  std::vector<std::pair<double, uint64_t>> want;
  for (uint64_t i = 0; i < 200; ++i) {
    if (i == 3 || i == 5) continue;  // examples by id are left out
    const std::vector<double> x = Unit(Vec(i));
    double dot = 0, qq = 0;
    for (uint32_t d = 0; d < kDim; ++d) {
      dot += q[d] * x[d];
      qq += q[d] * q[d];
    }
    want.emplace_back(dot / std::sqrt(qq), i);
  }
  std::sort(want.begin(), want.end(), [](auto& x, auto& y) { return x.first > y.first; });
  json neg = json::array({Vec(9999)});
  const json got = Query({{"query", {{"recommend", {{"positive", {3, 5}}, {"negative", neg}}}}},
                          {"using", "text-dense"},
                          {"limit", 5},
                          {"params", {{"exact", true}}}});
  ASSERT_EQ(got.size(), 5u);
  for (size_t k = 0; k < 5; ++k) {
    EXPECT_EQ(got[k]["id"].get<uint64_t>(), want[k].second) << k;
    EXPECT_NEAR(got[k]["score"].get<double>(), want[k].first, 1e-4);
  }
  // Positives only: the average; an example id is never answered.
  const json alone = Query({{"query", {{"recommend", {{"positive", {7}}}}}},
                            {"using", "text-dense"},
                            {"limit", 3},
                            {"params", {{"exact", true}}}});
  ASSERT_EQ(alone.size(), 3u);
  for (const json& h : alone) EXPECT_NE(h["id"], 7);
  const json plain = Query(
      {{"query", Vec(7)}, {"using", "text-dense"}, {"limit", 4}, {"params", {{"exact", true}}}});
  EXPECT_EQ(plain[1]["id"], alone[0]["id"]);  // plain[0] is 7 itself
  auto r =
      client_->Json("POST", "/collections/h/points/query",
                    {{"query", {{"recommend", {{"positive", {1}}, {"strategy", "best_score"}}}}},
                     {"using", "text-dense"}});
  Expect400(r, "query.recommend.strategy: only average_vector is supported");
  r = client_->Json("POST", "/collections/h/points/query",
                    {{"query", {{"recommend", {{"negative", {1}}}}}}, {"using", "text-dense"}});
  Expect400(r, "query.recommend.positive: at least one example");
}

TEST_F(HybridQueryTest, BadRequestsAre400AndChangeNothing) {
  CreateHybrid();
  FillHybrid(10);
  auto upsert = [&](const json& vector) {
    return client_->Json("PUT", "/collections/h/points",
                         {{"points", {{{"id", 99}, {"vector", vector}}}}});
  };
  Expect400(upsert({{"text-sparse", {{"indices", {1, 1}}, {"values", {1, 2}}}}}),
            "points[0].vector[\"text-sparse\"].indices: index 1 appears twice");
  Expect400(upsert({{"text-sparse", {{"indices", {-3}}, {"values", {1}}}}}),
            "points[0].vector[\"text-sparse\"].indices[0]");
  Expect400(upsert({{"text-sparse", {{"indices", {1, 2}}, {"values", {1}}}}}), "differ in length");
  Expect400(upsert({{"text-sparse", {1.0, 2.0}}}), "is a sparse vector");
  Expect400(upsert({{"text-dense", {{"indices", {1}}, {"values", {1}}}}}),
            "a sparse vector under a dense vector's name");
  Expect400(upsert({{"nope", {{"indices", {1}}, {"values", {1}}}}}), "Not existing vector name");
  Expect400(upsert({{"indices", {1}}, {"values", {1}}}), "a sparse vector needs its name");
  std::string nan = R"({"points":[{"id":99,"vector":{"bm25":{"indices":[1],"values":[NaN]}}}]})";
  ExpectError(client_->Request("PUT", "/collections/h/points", nan), 400);
  EXPECT_EQ(client_->Request("GET", "/collections/h").json["result"]["points_count"], 10);
  auto query = [&](const json& body) {
    return client_->Json("POST", "/collections/h/points/query", body);
  };
  const json sq = SparseOf(1).Json();
  Expect400(query({{"query", sq}, {"using", "text-dense"}}),
            "needs `using` naming a sparse vector");
  Expect400(query({{"query", sq}}), "needs `using` naming a sparse vector");
  Expect400(query({{"query", Vec(1)}, {"using", "bm25"}}), "is a sparse vector");
  Expect400(query({{"query", {{"fusion", "rrf"}}}}), "a fusion needs prefetch");
  Expect400(
      query({{"prefetch", {{{"query", sq}, {"using", "bm25"}}}}, {"query", {{"fusion", "max"}}}}),
      "query.fusion");
  Expect400(query({{"prefetch", {{{"using", "bm25"}}}}, {"query", {{"fusion", "rrf"}}}}),
            "prefetch[0].query: missing");
  Expect400(
      query({{"prefetch",
              {{{"query", sq}, {"using", "bm25"}}, {{"query", Vec(1)}, {"using", "text-dense"}}}}}),
      "several prefetches need a fusion");
  Expect400(query({{"prefetch", {{{"query", sq}, {"using", "bm25"}}}},
                   {"query", {{"discover", json::object()}}}}),
            "query.discover: this query kind is not supported");
  Expect400(query({{"prefetch",
                    {{{"query", sq}, {"using", "bm25"}, {"lookup_from", {{"collection", "x"}}}}}},
                   {"query", {{"fusion", "rrf"}}}}),
            "prefetch[0].lookup_from is not supported");
  Expect400(query({{"prefetch", {{{"query", sq}, {"using", "bm25"}}}},
                   {"query", {{"nearest", Vec(1)}, {"mmr", {{"diversity", 0.5}}}}},
                   {"using", "text-dense"}}),
            "query.mmr");
  Expect400(query({{"query", {{"indices", {1}}, {"values", {1, 2}}}}, {"using", "bm25"}}),
            "differ in length");
  Expect400(client_->Json("POST", "/collections/h/points/search",
                          {{"vector", {{"name", "text-dense"}, {"vector", sq}}}}),
            "vector.name: Not existing vector name");
  Expect400(client_->Json("PUT", "/collections/bad",
                          {{"vectors", {{"size", kDim}, {"distance", "Dot"}}},
                           {"sparse_vectors", {{"s", {{"index", {{"datatype", "uint8"}}}}}}}}),
            "sparse_vectors[\"s\"].index.datatype");
}

}  // namespace
}  // namespace cairn::testing
