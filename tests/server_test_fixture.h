// The fixture of the REST server tests: a real HttpServer on a loopback
// port answering with QdrantApi over a CollectionManager in a temporary
// directory, and an HTTP client to drive it.
#ifndef CAIRN_TESTS_SERVER_TEST_FIXTURE_H_
#define CAIRN_TESTS_SERVER_TEST_FIXTURE_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "common/random.h"
#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/qdrant_api.h"
#include "tests/http_test_client.h"
#include "tests/test_util.h"

namespace cairn::testing {

using nlohmann::json;

constexpr uint32_t kDim = 8;

inline std::vector<float> Vec(uint64_t i) {
  Rng rng(i * 31 + 7);
  std::vector<float> v(kDim);
  for (float& x : v) x = static_cast<float>(rng.Gaussian());
  return v;
}

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override { Start({}, {}); }
  void TearDown() override { Stop(); }

  void Start(const std::string& api_key, const std::string& read_only_key,
             uint64_t body_limit = 1 << 20) {
    auto m = CollectionManager::Open(tmp_.path() + "/data");
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = std::move(*m);
    ApiOptions api;
    api.api_key = api_key;
    api.read_only_api_key = read_only_key;
    api_ = std::make_unique<QdrantApi>(manager_.get(), api, &metrics_);
    HttpServerOptions o;
    o.port = 0;
    o.worker_threads = 2;
    o.is_write = &QdrantApi::IsWrite;  // as cairn serve has it
    o.body_limit = body_limit;
    o.read_timeout = std::chrono::milliseconds(500);
    o.error_response = [](int status, const std::string& message) {
      return QdrantApi::Error(status, message);
    };
    auto s = HttpServer::Start(o, [this](const HttpRequest& r) { return api_->Handle(r); });
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    client_ = std::make_unique<HttpTestClient>(server_->port());
  }

  void Stop() {
    client_.reset();
    if (server_) server_->Stop();
    server_.reset();
    if (manager_) {
      EXPECT_TRUE(manager_->CheckpointAll().ok());
    }
    api_.reset();
    manager_.reset();
  }

  void CreateCollection(const std::string& name, const std::string& distance = "Cosine") {
    auto r = client_->Json("PUT", "/collections/" + name,
                           {{"vectors", {{"size", kDim}, {"distance", distance}}}});
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json["result"], true);
  }

  // Points 0..n-1, payload {"group": i % 10, "name": "p<i>", "tags": [...]}.
  void Fill(const std::string& name, uint64_t n) {
    for (uint64_t start = 0; start < n; start += 100) {
      json points = json::array();
      for (uint64_t i = start; i < std::min(n, start + 100); ++i) {
        points.push_back({{"id", i},
                          {"vector", Vec(i)},
                          {"payload",
                           {{"group", i % 10},
                            {"name", "p" + std::to_string(i)},
                            {"tags", i % 2 == 0 ? json{"even"} : json{"odd", "x"}}}}});
      }
      auto r =
          client_->Json("PUT", "/collections/" + name + "/points?wait=true", {{"points", points}});
      ASSERT_EQ(r.status, 200) << r.body;
      ASSERT_EQ(r.json["result"]["status"], "completed");
    }
  }

  void ExpectError(const HttpResult& r, int status) {
    EXPECT_EQ(r.status, status) << r.body;
    ASSERT_FALSE(r.json.is_discarded()) << r.body;
    EXPECT_TRUE(r.json["status"].is_object() && r.json["status"]["error"].is_string()) << r.body;
  }

  DiskTempDir tmp_;
  Metrics metrics_;
  std::unique_ptr<CollectionManager> manager_;
  std::unique_ptr<QdrantApi> api_;
  std::unique_ptr<HttpServer> server_;
  std::unique_ptr<HttpTestClient> client_;
};

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_SERVER_TEST_FIXTURE_H_
