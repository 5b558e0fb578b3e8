// HttpConnection against a real `cairn serve` child process, the real Beast
// server in process (for a short idle timeout), and plain loopback sockets
// that misbehave on purpose (silent, closing before they answer).
#include "client/cpp/http_connection.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "server/http_server.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

namespace cairn::client {
namespace {

using ::cairn::testing::ServeProcess;
using ::cairn::testing::TempDir;
using ::testing::HasSubstr;

// A loopback listener whose accepted connections are handed to `serve`
// (with their index), one thread for all: enough for these tests, where
// connections follow one another.
class RawServer {
 public:
  explicit RawServer(std::function<void(int fd, int index)> serve) : serve_(std::move(serve)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    listen(fd_, 16);
    socklen_t len = sizeof(a);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      for (int i = 0;; ++i) {
        const int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        {
          std::lock_guard<std::mutex> lock(mu_);
          accepted_.push_back(c);
        }
        serve_(c, i);
      }
    });
  }
  ~RawServer() {
    shutdown(fd_, SHUT_RDWR);  // wakes accept()
    thread_.join();
    close(fd_);
    for (int c : accepted_) close(c);
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int accepted() {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int>(accepted_.size());
  }

 private:
  std::function<void(int, int)> serve_;
  int fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  std::vector<int> accepted_;
  std::thread thread_;
};

// Reads one request without a body (up to the blank line); false at EOF.
bool ReadRequestHead(int fd) {
  std::string got;
  char buf[1024];
  while (got.find("\r\n\r\n") == std::string::npos) {
    const ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    got.append(buf, n);
  }
  return true;
}

void Answer(int fd, const std::string& body) {
  const std::string res = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(write(fd, res.data(), res.size()), static_cast<ssize_t>(res.size()));
}

TEST(ParseUrlTest, AcceptsHostAndPortForms) {
  absl::StatusOr<Url> u = ParseUrl("http://127.0.0.1:6333");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 6333);
  EXPECT_EQ(u->ToString(), "http://127.0.0.1:6333");
  u = ParseUrl("HTTP://db.example:80/");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "db.example");
  u = ParseUrl("http://localhost");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  u = ParseUrl("http://[::1]:7000");
  ASSERT_TRUE(u.ok()) << u.status();
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->ToString(), "http://[::1]:7000");
}

TEST(ParseUrlTest, RejectsWhatItCannotServe) {
  for (const char* bad :
       {"https://h:1", "h:1", "http://", "http://h:0", "http://h:65536", "http://h:x",
        "http://h:1/collections", "http://u@h:1", "http://::1:5", "http://[::1", "http://h:"}) {
    absl::StatusOr<Url> u = ParseUrl(bad);
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    if (!u.ok()) {
      EXPECT_THAT(u.status().message(), HasSubstr(bad));
    }
  }
}

TEST(HttpConnectionTest, KeepsOneConnectionAcrossRequestsToCairnServe) {
  TempDir dir;
  ServeProcess server(dir.File("data"));
  ASSERT_TRUE(server.ok()) << server.Log();
  auto conn = HttpConnection::Create(server.url());
  ASSERT_TRUE(conn.ok()) << conn.status();
  HttpConnection& c = **conn;
  absl::StatusOr<HttpResponse> r =
      c.Request("PUT", "/collections/c", R"({"vectors":{"size":4,"distance":"Cosine"}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  r = c.Request("PUT", "/collections/c/points?wait=true",
                R"({"points":[{"id":7,"vector":[1,0,0,0],"payload":{"k":"x"}}]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  r = c.Request("GET", "/collections/c/points/7");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("\"k\":\"x\""));
  EXPECT_EQ(r->content_type, "application/json");
  EXPECT_TRUE(r->keep_alive);
  // An HTTP error is a response, not a failed request.
  r = c.Request("GET", "/collections/missing");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
  EXPECT_EQ(c.connects(), 1u);
  EXPECT_EQ(c.resends(), 0u);
  EXPECT_EQ(c.Request("FROB", "/").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.Request("GET", "collections").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(HttpConnectionTest, SendsTheApiKey) {
  TempDir dir;
  ServeProcess server(dir.File("data"), {"--api-key", "s3cret"});
  ASSERT_TRUE(server.ok()) << server.Log();
  auto anonymous = HttpConnection::Create(server.url());
  ASSERT_TRUE(anonymous.ok());
  absl::StatusOr<HttpResponse> r = (*anonymous)->Request("GET", "/collections");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  HttpConnectionOptions o;
  o.api_key = "s3cret";
  auto keyed = HttpConnection::Create(server.url(), o);
  ASSERT_TRUE(keyed.ok());
  r = (*keyed)->Request("GET", "/collections");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200) << r->body;
  o.api_key = "a\r\nb: c";
  EXPECT_EQ(HttpConnection::Create(server.url(), o).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpConnectionTest, ReconnectsAfterTheServerClosedAnIdleConnection) {
  // The real server with a short idle limit: it closes the kept-alive
  // connection between our requests.
  HttpServerOptions o;
  o.port = 0;
  o.worker_threads = 1;
  o.read_timeout = std::chrono::milliseconds(100);
  auto server = HttpServer::Start(o, [](const HttpRequest& r) {
    cairn::HttpResponse res;
    res.body = "{\"path\":\"" + r.target + "\"}";
    return res;
  });
  ASSERT_TRUE(server.ok()) << server.status();
  auto conn = HttpConnection::Create("http://127.0.0.1:" + std::to_string((*server)->port()));
  ASSERT_TRUE(conn.ok());
  HttpConnection& c = **conn;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<HttpResponse> r = c.Request("GET", "/a" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "{\"path\":\"/a" + std::to_string(i) + "\"}");
    // Idle for 5x the server's limit: it closes the connection meanwhile
    // (only a very loaded machine delays that, hence GE below).
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  EXPECT_GE(c.connects(), 2u);
}

TEST(HttpConnectionTest, SeesAnIdleCloseBeforeWriting) {
  // Answers one request per connection, then closes it, and says so.
  std::atomic<int> closed{0};
  RawServer server([&closed](int fd, int index) {
    if (!ReadRequestHead(fd)) return;
    Answer(fd, "answer " + std::to_string(index));
    shutdown(fd, SHUT_RDWR);
    ++closed;
  });
  auto conn = HttpConnection::Create(server.url());
  ASSERT_TRUE(conn.ok());
  HttpConnection& c = **conn;
  for (int i = 0; i < 3; ++i) {
    absl::StatusOr<HttpResponse> r = c.Request("GET", "/");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "answer " + std::to_string(i));
    EXPECT_TRUE(r->keep_alive);  // the server did not announce the close
    while (closed.load() <= i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(c.connects(), 3u);
  EXPECT_EQ(c.resends(), 0u);  // the close was seen before writing: nothing sent twice
}

TEST(HttpConnectionTest, ResendsOnceWhenTheServerClosesBeforeAnswering) {
  // Connection 0 answers one request, then reads the next and closes
  // without a word: what a server's idle close racing our write looks like.
  // Connection 1 answers.
  RawServer server([](int fd, int index) {
    if (!ReadRequestHead(fd)) return;
    Answer(fd, index == 0 ? "first" : "second");
    if (index == 0 && ReadRequestHead(fd)) shutdown(fd, SHUT_RDWR);
  });
  auto conn = HttpConnection::Create(server.url());
  ASSERT_TRUE(conn.ok());
  HttpConnection& c = **conn;
  absl::StatusOr<HttpResponse> r = c.Request("GET", "/one");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "first");
  r = c.Request("GET", "/two");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->body, "second");
  EXPECT_EQ(c.resends(), 1u);
  EXPECT_EQ(c.connects(), 2u);
}

TEST(HttpConnectionTest, DoesNotResendOnAFreshConnection) {
  // A new connection closed without an answer is the server's failure, not
  // an idle close: report it, naming the URL and the operation.
  RawServer server([](int fd, int) {
    if (ReadRequestHead(fd)) shutdown(fd, SHUT_RDWR);
  });
  auto conn = HttpConnection::Create(server.url());
  ASSERT_TRUE(conn.ok());
  absl::StatusOr<HttpResponse> r = (*conn)->Request("POST", "/x", "{}");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr(server.url()));
  EXPECT_THAT(r.status().message(), HasSubstr("read of POST /x"));
  EXPECT_EQ((*conn)->resends(), 0u);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(HttpConnectionTest, TimesOutAgainstASilentServer) {
  // Accepts, reads nothing, answers nothing.
  RawServer server([](int, int) {});
  auto conn = HttpConnection::Create(server.url());
  ASSERT_TRUE(conn.ok());
  absl::StatusOr<HttpResponse> r =
      (*conn)->Request("GET", "/slow", "", {}, std::chrono::milliseconds(300));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(r.status().message(), HasSubstr(server.url()));
  EXPECT_THAT(r.status().message(), HasSubstr("timeout after 300 ms in read of GET /slow"));
  // The connection is usable again: the next request reconnects (and
  // times out the same way).
  r = (*conn)->Request("GET", "/again", "", {}, std::chrono::milliseconds(100));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ((*conn)->connects(), 2u);
}

TEST(HttpConnectionTest, ConnectFailureNamesTheUrl) {
  // A port that was free a moment ago: nothing listens there.
  int port;
  {
    RawServer probe([](int, int) {});
    port = std::stoi(probe.url().substr(probe.url().rfind(':') + 1));
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port);
  auto conn = HttpConnection::Create(url);
  ASSERT_TRUE(conn.ok());
  absl::StatusOr<HttpResponse> r = (*conn)->Request("GET", "/");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(r.status().message(), HasSubstr(url + ": connect:"));
}

}  // namespace
}  // namespace cairn::client
