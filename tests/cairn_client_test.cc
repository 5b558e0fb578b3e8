// The C++ client (client/cpp/cairn_client.h) against a real `cairn serve`
// on loopback, and against a loopback socket that answers 503 or closes on
// purpose, for the retry rules.
#include "client/cpp/cairn_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <random>
#include <thread>

#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace cairn::client {
namespace {

using ::cairn::testing::ServeProcess;
using ::cairn::testing::TempDir;
using ::testing::HasSubstr;

std::vector<float> Vec(uint64_t id, uint32_t dim = 8) {
  std::mt19937_64 rng(id + 1);
  std::normal_distribution<float> g;
  std::vector<float> v(dim);
  for (float& x : v) x = g(rng);
  return v;
}

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServeProcess>(dir_.File("data"));
    ASSERT_TRUE(server_->ok()) << server_->Log();
    auto c = Client::Create({.url = server_->url()});
    ASSERT_TRUE(c.ok()) << c.status();
    client_ = std::move(*c);
  }
  void Fill(const std::string& name, uint64_t n, Distance distance = Distance::kEuclid) {
    ASSERT_TRUE(client_->CreateCollection(name, {.dim = 8, .distance = distance}).ok());
    std::vector<Point> points;
    for (uint64_t i = 0; i < n; ++i) {
      points.push_back({.id = i, .vector = Vec(i), .payload = {{"i", i}, {"odd", i % 2 == 1}}});
    }
    absl::Status s = client_->Upsert(name, points, 64);
    ASSERT_TRUE(s.ok()) << s;
  }
  TempDir dir_;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, CollectionsAndErrors) {
  ASSERT_TRUE(
      client_->CreateCollection("c", {.dim = 4, .distance = Distance::kCosine, .max_postings = 12})
          .ok());
  absl::Status again = client_->CreateCollection("c", {.dim = 4});
  EXPECT_TRUE(absl::IsAlreadyExists(again)) << again;
  EXPECT_EQ(HttpStatusOf(again), 409);
  EXPECT_THAT(again.message(), HasSubstr("HTTP 409: Wrong input: Collection `c` already exists"));
  EXPECT_THAT(*client_->ListCollections(), ::testing::ElementsAre("c"));
  EXPECT_TRUE(*client_->CollectionExists("c"));
  auto info = client_->GetCollection("c");
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->dim, 4u);
  EXPECT_EQ(info->distance, Distance::kCosine);
  EXPECT_FALSE(info->vector_name.has_value());
  EXPECT_EQ(info->raw["cairn"]["max_postings"], 12);
  EXPECT_TRUE(*client_->DeleteCollection("c"));
  EXPECT_FALSE(*client_->DeleteCollection("c"));
  auto missing = client_->GetCollection("c");
  EXPECT_TRUE(absl::IsNotFound(missing.status()));
  EXPECT_EQ(HttpStatusOf(missing.status()), 404);
  EXPECT_EQ(HttpStatusOf(absl::InternalError("x")), 0);
  EXPECT_TRUE(absl::IsInvalidArgument(client_->CreateCollection("d", {.dim = 0})));
  absl::Status bad_name = client_->CreateCollection("a/b", {.dim = 4});
  EXPECT_EQ(HttpStatusOf(bad_name), 400) << bad_name;
}

TEST_F(ClientTest, UpsertRetrieveScrollCount) {
  Fill("p", 500);
  EXPECT_EQ(*client_->Count("p"), 500u);
  EXPECT_EQ(*client_->Count("p", {{"must", {{{"key", "odd"}, {"match", {{"value", true}}}}}}}),
            250u);
  std::vector<PointId> ids = {PointId(uint64_t{7}), PointId(uint64_t{9999}), PointId("nope")};
  auto got = client_->Retrieve("p", ids, true, true);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ((*got)[0].payload["i"], 7);
  ASSERT_TRUE((*got)[0].vector.has_value());
  EXPECT_EQ(*(*got)[0].vector, Vec(7));  // shortest round-trip digits: exact floats
  auto page = client_->Scroll("p", {.limit = 10, .offset = PointId(uint64_t{495})});
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(page->points.size(), 5u);
  EXPECT_FALSE(page->next_page_offset.has_value());
  PointIterator it = client_->ScrollAll("p", {.limit = 33, .with_payload = false});
  Record r;
  uint64_t expected = 0;
  for (;;) {
    auto more = it.Next(&r);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    EXPECT_EQ(r.id, PointId(expected++));
    EXPECT_TRUE(r.payload.is_null());
  }
  EXPECT_EQ(expected, 500u);
  std::vector<Point> bad = {{.id = uint64_t{1}, .vector = {1, 2}}};
  absl::Status s = client_->Upsert("p", bad);
  EXPECT_EQ(HttpStatusOf(s), 400);
  EXPECT_THAT(s.message(), HasSubstr("Wrong input"));
  bad[0].vector = std::vector<float>(8, std::numeric_limits<float>::infinity());
  EXPECT_TRUE(absl::IsInvalidArgument(client_->Upsert("p", bad)));
}

TEST_F(ClientTest, QueryWithFilterIdAndTargetRecall) {
  Fill("q", 400);
  auto hits = client_->Query("q", {.vector = Vec(42), .limit = 5, .exact = true});
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 5u);
  EXPECT_EQ((*hits)[0].id, PointId(uint64_t{42}));
  EXPECT_EQ((*hits)[0].payload["i"], 42);
  const Json odd = {{"must", {{{"key", "odd"}, {"match", {{"value", true}}}}}}};
  hits = client_->Query("q", {.vector = Vec(42), .filter = odd, .limit = 6, .with_payload = false});
  ASSERT_TRUE(hits.ok()) << hits.status();
  ASSERT_EQ(hits->size(), 6u);
  for (const ScoredPoint& p : *hits) {
    EXPECT_EQ(std::get<uint64_t>(p.id) % 2, 1u);
    EXPECT_TRUE(p.payload.is_null());
  }
  hits = client_->Query("q", {.id = PointId(uint64_t{42}), .limit = 3});
  ASSERT_TRUE(hits.ok()) << hits.status();
  EXPECT_EQ(hits->size(), 3u);
  for (const ScoredPoint& p : *hits) EXPECT_NE(p.id, PointId(uint64_t{42}));
  hits = client_->Query("q",
                        {.vector = Vec(3), .limit = 1, .with_vector = true, .target_recall = 0.9});
  ASSERT_TRUE(hits.ok()) << hits.status();
  EXPECT_EQ((*hits)[0].id, PointId(uint64_t{3}));
  EXPECT_EQ((*hits)[0].vector->size(), 8u);
  auto missing = client_->Query("q", {.id = PointId(uint64_t{100000})});
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  EXPECT_TRUE(absl::IsInvalidArgument(client_->Query("q", {}).status()));
}

TEST_F(ClientTest, NamedVector) {
  ASSERT_TRUE(
      client_
          ->CreateCollection(
              "n", {.dim = 8, .distance = Distance::kDot, .named = true, .vector_name = "text"})
          .ok());
  auto info = client_->GetCollection("n");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->vector_name, std::optional<std::string>("text"));
  std::vector<Point> points;
  for (uint64_t i = 0; i < 30; ++i) points.push_back({.id = i, .vector = Vec(i)});
  ASSERT_TRUE(client_->Upsert("n", points, 256, "text").ok());
  auto hits =
      client_->Query("n", {.vector = Vec(5), .vector_name = "text", .limit = 30, .exact = true});
  ASSERT_TRUE(hits.ok()) << hits.status();
  EXPECT_EQ(hits->size(), 30u);
  auto wrong = client_->Query("n", {.vector = Vec(5), .vector_name = "image"});
  EXPECT_EQ(HttpStatusOf(wrong.status()), 400);
}

TEST_F(ClientTest, DeletesAndPayloadUpdates) {
  Fill("e", 20);
  std::vector<PointId> three = {PointId(uint64_t{0}), PointId(uint64_t{1}), PointId(uint64_t{2})};
  ASSERT_TRUE(client_->DeletePoints("e", three).ok());
  EXPECT_EQ(*client_->Count("e"), 17u);
  ASSERT_TRUE(
      client_->DeleteByFilter("e", {{"must", {{{"key", "i"}, {"range", {{"gte", 15}}}}}}}).ok());
  EXPECT_EQ(*client_->Count("e"), 12u);
  std::vector<PointId> one = {PointId(uint64_t{3})};
  ASSERT_TRUE(client_->SetPayload("e", {{"tag", "x"}}, one).ok());
  ASSERT_TRUE(client_->SetPayload("e", {{"d", 2}}, one, "sub").ok());
  EXPECT_EQ((*client_->Retrieve("e", one))[0].payload,
            Json({{"i", 3}, {"odd", true}, {"tag", "x"}, {"sub", {{"d", 2}}}}));
  ASSERT_TRUE(client_->DeletePayload("e", {"tag", "sub.d"}, one).ok());
  EXPECT_EQ((*client_->Retrieve("e", one))[0].payload,
            Json({{"i", 3}, {"odd", true}, {"sub", Json::object()}}));
  ASSERT_TRUE(client_->OverwritePayload("e", {{"only", 1}}, one).ok());
  EXPECT_EQ((*client_->Retrieve("e", one))[0].payload, Json({{"only", 1}}));
  EXPECT_TRUE(absl::IsNotFound(client_->DeletePoints("missing", one)));
}

TEST_F(ClientTest, ManyThreadsShareOneClient) {
  Fill("t", 100);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        const uint64_t id = t * 25 + i;
        auto hits = client_->Query("t", {.vector = Vec(id), .limit = 1, .exact = true});
        if (!hits.ok() || hits->empty() || (*hits)[0].id != PointId(id)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(ClientAuthTest, ApiKey) {
  TempDir dir;
  ServeProcess server(dir.File("data"), {"--api-key", "k1"});
  ASSERT_TRUE(server.ok()) << server.Log();
  auto none = Client::Create({.url = server.url()});
  auto denied = (*none)->ListCollections();
  EXPECT_TRUE(absl::IsUnauthenticated(denied.status())) << denied.status();
  EXPECT_EQ(HttpStatusOf(denied.status()), 401);
  auto keyed = Client::Create({.url = server.url(), .api_key = "k1"});
  EXPECT_TRUE((*keyed)->ListCollections().ok());
  setenv("CAIRN_URL", server.url().c_str(), 1);
  setenv("CAIRN_API_KEY", "k1", 1);
  ClientOptions env = ClientOptions::FromEnvironment();
  unsetenv("CAIRN_URL");
  unsetenv("CAIRN_API_KEY");
  EXPECT_EQ(env.url, server.url());
  EXPECT_TRUE((*Client::Create(env))->ListCollections().ok());
}

// Accepts connections on loopback; for each request, `script` says what to
// do: "503" answers 503, "close" closes without an answer, "ok" answers a
// Qdrant envelope of an empty collection list, "hang" never answers.
class ScriptedServer {
 public:
  explicit ScriptedServer(std::vector<std::string> script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~ScriptedServer() {
    shutdown(fd_, SHUT_RDWR);
    thread_.join();
    close(fd_);
    for (int c : hung_) close(c);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  void Run() {
    for (;;) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      bool open = true;
      while (open) {
        std::string req;
        char buf[4096];
        // One request: headers, then Content-Length bytes.
        while (req.find("\r\n\r\n") == std::string::npos) {
          const ssize_t n = recv(c, buf, sizeof(buf), 0);
          if (n <= 0) break;
          req.append(buf, n);
        }
        if (req.find("\r\n\r\n") == std::string::npos) break;
        const size_t cl = req.find("Content-Length: ");
        const size_t body_len = cl == std::string::npos ? 0 : std::stoul(req.substr(cl + 16));
        while (req.size() - (req.find("\r\n\r\n") + 4) < body_len) {
          const ssize_t n = recv(c, buf, sizeof(buf), 0);
          if (n <= 0) break;
          req.append(buf, n);
        }
        const int i = requests_++;
        const std::string step = i < static_cast<int>(script_.size()) ? script_[i] : "ok";
        if (step == "close") break;
        if (step == "hang") {
          hung_.push_back(c);
          open = false;
          continue;
        }
        const std::string body = step == "503"
                                     ? R"({"status":{"error":"Service internal error: busy"}})"
                                     : R"({"result":{"collections":[]},"status":"ok","time":0})";
        const std::string res =
            (step == "503" ? "HTTP/1.1 503 Service Unavailable\r\n" : "HTTP/1.1 200 OK\r\n") +
            std::string("Content-Type: application/json\r\nContent-Length: ") +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        if (send(c, res.data(), res.size(), MSG_NOSIGNAL) < 0) break;
      }
      if (open) close(c);
    }
  }
  std::vector<std::string> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::vector<int> hung_;
  std::thread thread_;
};

TEST(ClientRetryTest, IdempotentCallsRetry503AndClosedConnections) {
  ScriptedServer server({"503", "close", "503"});
  auto c = Client::Create({.url = server.url(), .backoff = std::chrono::milliseconds(5)});
  auto names = (*c)->ListCollections();
  ASSERT_TRUE(names.ok()) << names.status();
  EXPECT_EQ(server.requests(), 4);
  // The close of a kept-alive connection before any answer is re-sent by
  // the connection itself (http_connection.h); the two 503s by the client.
  EXPECT_EQ((*c)->retries_done(), 2u);
}

TEST(ClientRetryTest, RetriesRunOut) {
  ScriptedServer server({"503", "503", "503", "503"});
  auto c =
      Client::Create({.url = server.url(), .retries = 2, .backoff = std::chrono::milliseconds(5)});
  auto count = (*c)->Count("x");
  EXPECT_TRUE(absl::IsUnavailable(count.status()));
  EXPECT_EQ(HttpStatusOf(count.status()), 503);
  EXPECT_THAT(count.status().message(), HasSubstr("Service internal error: busy"));
  EXPECT_EQ(server.requests(), 3);
}

TEST(ClientRetryTest, CreateAndDeleteCollectionAreSentOnce) {
  ScriptedServer server({"503", "503"});
  auto c = Client::Create({.url = server.url(), .backoff = std::chrono::milliseconds(5)});
  EXPECT_EQ(HttpStatusOf((*c)->CreateCollection("x", {.dim = 2})), 503);
  EXPECT_EQ(server.requests(), 1);
  EXPECT_EQ(HttpStatusOf((*c)->DeleteCollection("x").status()), 503);
  EXPECT_EQ(server.requests(), 2);
}

TEST(ClientRetryTest, TimeoutIsNotRetried) {
  ScriptedServer server({"hang"});
  auto c = Client::Create({.url = server.url(), .timeout = std::chrono::milliseconds(200)});
  const auto start = std::chrono::steady_clock::now();
  auto count = (*c)->Count("x");
  EXPECT_TRUE(absl::IsDeadlineExceeded(count.status())) << count.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_EQ(server.requests(), 1);
}

TEST(ClientOptionsTest, Validate) {
  EXPECT_FALSE(Client::Create({.url = "https://x:1"}).ok());
  EXPECT_FALSE(Client::Create({.url = "http://x:1", .retries = -1}).ok());
  EXPECT_TRUE(ParseDistance("Dot").ok());
  EXPECT_FALSE(ParseDistance("dot").ok());
  EXPECT_EQ(*ParsePointIdText("42"), PointId(uint64_t{42}));
  EXPECT_EQ(*ParsePointIdText("99999999999999999999"), PointId("99999999999999999999"));
  EXPECT_EQ(*ParsePointIdText("a-b"), PointId("a-b"));
  EXPECT_FALSE(ParsePointIdText("").ok());
}

}  // namespace
}  // namespace cairn::client
