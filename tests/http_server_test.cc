// HttpServer in process: reads and writes queue apart, and the server's own
// errors (a handler that throws, a body over the limit) are answers.
#include "server/http_server.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <stdexcept>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/cpp/http_connection.h"

namespace cairn {
namespace {

using ::testing::HasSubstr;

std::string UrlOf(const HttpServer& server) {
  return absl::StrCat("http://127.0.0.1:", server.port());
}

TEST(HttpServerTest, ReadsAreAnsweredWhileEveryWriterIsBlocked) {
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> writes{0};
  HttpServerOptions o;
  o.port = 0;
  o.worker_threads = 1;
  o.write_threads = 1;
  o.is_write = [](const HttpRequest& r) { return r.method == "PUT"; };
  auto server = HttpServer::Start(o, [&](const HttpRequest& r) {
    HttpResponse res;
    if (r.method == "PUT") {
      if (writes++ == 0) entered.set_value();
      released.wait();  // a write stuck on fsync
      res.body = "{\"written\":true}";
    } else {
      res.body = "{\"read\":true}";
    }
    return res;
  });
  ASSERT_TRUE(server.ok()) << server.status();
  std::thread writer([&] {
    auto c = client::HttpConnection::Create(UrlOf(**server));
    ASSERT_TRUE(c.ok());
    auto r = (*c)->Request("PUT", "/w", "{}");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  });
  entered.get_future().wait();
  // The only write thread is blocked; with one shared pool of one thread
  // this read would wait for it.
  auto reader = client::HttpConnection::Create(UrlOf(**server));
  ASSERT_TRUE(reader.ok());
  for (int i = 0; i < 3; ++i) {
    auto r = (*reader)->Request("GET", "/r");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
    EXPECT_THAT(r->body, HasSubstr("read"));
  }
  release.set_value();
  writer.join();
  EXPECT_EQ(writes.load(), 1);
}

TEST(HttpServerTest, AThrowingHandlerAndAnOversizedBodyAreAnswered) {
  HttpServerOptions o;
  o.port = 0;
  o.body_limit = 4096;
  o.error_response = [](int status, const std::string& message) {
    HttpResponse res;
    res.status = status;
    res.body = absl::StrCat("{\"error\":\"", message, "\"}");
    return res;
  };
  auto server = HttpServer::Start(o, [](const HttpRequest& r) -> HttpResponse {
    if (r.target == "/throw") throw std::runtime_error("boom");
    return HttpResponse{};
  });
  ASSERT_TRUE(server.ok()) << server.status();
  auto c = client::HttpConnection::Create(UrlOf(**server));
  ASSERT_TRUE(c.ok());
  auto r = (*c)->Request("GET", "/throw");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 500);
  EXPECT_THAT(r->body, HasSubstr("boom"));
  auto big = client::HttpConnection::Create(UrlOf(**server));
  ASSERT_TRUE(big.ok());
  r = (*big)->Request("POST", "/x", std::string(8192, 'a'));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 413);
  // The server still answers.
  auto after = client::HttpConnection::Create(UrlOf(**server));
  ASSERT_TRUE(after.ok());
  r = (*after)->Request("GET", "/ok");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(HttpServerTest, RejectsBadOptions) {
  HttpServerOptions o;
  o.write_threads = -1;
  EXPECT_FALSE(o.Validate().ok());
  o = HttpServerOptions();
  o.io_threads = 0;
  EXPECT_FALSE(o.Validate().ok());
}

}  // namespace
}  // namespace cairn
