#include "server/http_server.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace cairn {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

absl::Status HttpServerOptions::Validate() const {
  if (io_threads < 1) return absl::InvalidArgumentError("io_threads must be at least 1");
  if (worker_threads < 0) return absl::InvalidArgumentError("worker_threads must be >= 0");
  if (write_threads < 0) return absl::InvalidArgumentError("write_threads must be >= 0");
  if (body_limit < 1024) return absl::InvalidArgumentError("body limit must be at least 1 KiB");
  if (read_timeout.count() <= 0) return absl::InvalidArgumentError("read timeout must be > 0");
  return absl::OkStatus();
}

namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && s[i] == '+' ? ' ' : s[i]);
  }
  return out;
}

void ParseTarget(std::string_view target, HttpRequest* r) {
  const size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    if (end > start) r->segments.push_back(PercentDecode(path.substr(start, end - start), false));
    start = end + 1;
  }
  if (q == std::string_view::npos) return;
  std::string_view query = target.substr(q + 1);
  start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    std::string_view kv = query.substr(start, end - start);
    const size_t eq = kv.find('=');
    if (!kv.empty()) {
      r->query[PercentDecode(kv.substr(0, eq), true)] =
          eq == std::string_view::npos ? "" : PercentDecode(kv.substr(eq + 1), true);
    }
    start = end + 1;
  }
}

// The handler's view of a parsed request: what every connection hands on.
void FromMessage(http::request<http::string_body>&& msg, HttpRequest* req) {
  req->method = std::string(msg.method_string());
  req->target = std::string(msg.target());
  ParseTarget(req->target, req);
  for (const auto& field : msg) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    req->headers[name] = std::string(field.value());
  }
  req->body = std::move(msg.body());
}

// The limits a connection's parser gets (Session::Read).
constexpr uint32_t kHeaderLimit = 64 * 1024;

HttpResponse DefaultError(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = absl::StrCat("{\"error\":\"", message, "\"}");
  return r;
}

}  // namespace

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  HttpServerOptions options;
  HttpHandler handler;
  asio::io_context ioc;
  std::unique_ptr<asio::thread_pool> workers;
  std::unique_ptr<asio::thread_pool> writers;  // null: writes share workers
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> io_threads;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> in_flight{0};
  std::mutex drain_mu;
  std::condition_variable drain_cv;
  uint16_t port = 0;

  HttpResponse Error(int status, const std::string& message) const {
    return options.error_response ? options.error_response(status, message)
                                  : DefaultError(status, message);
  }

  void Accept();
};

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket)), server_(server) {}

  void Run() {
    asio::dispatch(stream_.get_executor(),
                   beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    if (server_->stopping) return Close();
    parser_.emplace();
    parser_->body_limit(server_->options.body_limit);
    parser_->header_limit(kHeaderLimit);
    stream_.expires_after(server_->options.read_timeout);
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    // A client that closed or half-closed mid-request gets no answer.
    if (ec == http::error::end_of_stream || ec == asio::error::eof ||
        ec == http::error::partial_message ||
        ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      return Close();
    }
    if (ec == http::error::body_limit) {
      return Respond(server_->Error(
                         413, absl::StrCat("request body exceeds the limit of ",
                                           server_->options.body_limit, " bytes")),
                     /*keep_alive=*/false);
    }
    if (ec) {
      return Respond(server_->Error(400, absl::StrCat("malformed HTTP request: ", ec.message())),
                     false);
    }
    auto req = std::make_shared<HttpRequest>();
    http::request<http::string_body> msg = parser_->release();
    const bool keep_alive = msg.keep_alive();
    FromMessage(std::move(msg), req.get());
    // No read deadline while the worker runs: the client is waiting on us.
    stream_.expires_never();
    ++server_->in_flight;
    auto self = shared_from_this();
    asio::thread_pool& pool = server_->writers != nullptr && server_->options.is_write(*req)
                                  ? *server_->writers
                                  : *server_->workers;
    asio::post(pool, [self, req, keep_alive] {
      HttpResponse res;
      try {
        res = self->server_->handler(*req);
      } catch (const std::exception& e) {
        res = self->server_->Error(500, absl::StrCat("internal error: ", e.what()));
      } catch (...) {
        res = self->server_->Error(500, "internal error");
      }
      asio::post(self->stream_.get_executor(), [self, res = std::move(res), keep_alive]() mutable {
        self->Respond(std::move(res), keep_alive, /*counted=*/true);
      });
    });
  }

  void Respond(HttpResponse res, bool keep_alive, bool counted = false) {
    counted_ = counted;
    auto msg = std::make_shared<http::response<http::string_body>>();
    msg->version(11);
    msg->result(static_cast<http::status>(res.status));
    msg->set(http::field::server, "cairn");
    msg->set(http::field::content_type, res.content_type);
    msg->keep_alive(keep_alive && !server_->stopping);
    msg->body() = std::move(res.body);
    msg->prepare_payload();
    response_ = msg;
    stream_.expires_after(server_->options.read_timeout);
    http::async_write(stream_, *msg,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this(),
                                                msg->keep_alive()));
  }

  void OnWrite(bool keep_alive, beast::error_code ec, size_t) {
    response_.reset();
    if (counted_) {
      counted_ = false;
      if (--server_->in_flight == 0) {
        std::lock_guard<std::mutex> lock(server_->drain_mu);
        server_->drain_cv.notify_all();
      }
    }
    if (ec || !keep_alive) return Close();
    Read();
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<void> response_;
  HttpServer::Impl* server_;
  bool counted_ = false;
};

}  // namespace

absl::StatusOr<HttpRequest> ParseHttpRequest(std::string_view bytes, uint64_t body_limit) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(body_limit);
  parser.header_limit(kHeaderLimit);
  parser.eager(true);
  beast::error_code ec;
  size_t used = 0;
  // put() consumes what it can per call (a header, then body pieces).
  while (!ec && !parser.is_done() && used < bytes.size()) {
    const size_t n = parser.put(asio::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (n == 0 && !ec) break;
    used += n;
  }
  if (ec == http::error::need_more) ec = {};
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (!ec && !parser.is_done()) ec = http::error::partial_message;
  if (ec == http::error::body_limit) {
    return absl::ResourceExhaustedError(
        absl::StrCat("request body exceeds the limit of ", body_limit, " bytes"));
  }
  if (ec) return absl::InvalidArgumentError(absl::StrCat("malformed HTTP request: ", ec.message()));
  HttpRequest req;
  FromMessage(parser.release(), &req);
  return req;
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping || !acceptor.is_open()) return;
    if (!ec) {
      ++connections;
      std::make_shared<Session>(std::move(socket), this)->Run();
    }
    Accept();
  });
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const HttpServerOptions& options,
                                                              HttpHandler handler) {
  if (auto s = options.Validate(); !s.ok()) return s;
  std::unique_ptr<HttpServer> server(new HttpServer());
  server->impl_ = std::make_unique<Impl>();
  Impl& x = *server->impl_;
  x.options = options;
  x.handler = std::move(handler);
  const int workers = options.worker_threads > 0
                          ? options.worker_threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  x.workers = std::make_unique<asio::thread_pool>(workers);
  if (options.is_write) {
    x.writers = std::make_unique<asio::thread_pool>(
        options.write_threads > 0 ? options.write_threads : workers);
  }
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.host, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad host ", options.host, ": ", ec.message()));
  tcp::endpoint endpoint(address, options.port);
  x.acceptor.open(endpoint.protocol(), ec);
  if (!ec) x.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) x.acceptor.bind(endpoint, ec);
  if (!ec) x.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", options.host, ":", options.port, ": ", ec.message()));
  }
  x.port = x.acceptor.local_endpoint().port();
  x.Accept();
  for (int i = 0; i < options.io_threads; ++i) {
    x.io_threads.emplace_back([&x] { x.ioc.run(); });
  }
  return server;
}

void HttpServer::Stop() {
  if (impl_ == nullptr || impl_->stopping.exchange(true)) return;
  Impl& x = *impl_;
  asio::post(x.ioc, [&x] {
    beast::error_code ec;
    x.acceptor.close(ec);
  });
  {
    std::unique_lock<std::mutex> lock(x.drain_mu);
    x.drain_cv.wait_for(lock, x.options.drain_timeout, [&x] { return x.in_flight.load() == 0; });
  }
  x.ioc.stop();
  for (auto& t : x.io_threads) t.join();
  x.workers->join();
  if (x.writers != nullptr) x.writers->join();
}

HttpServer::~HttpServer() { Stop(); }

uint16_t HttpServer::port() const { return impl_->port; }
uint64_t HttpServer::connections() const { return impl_->connections.load(); }
uint64_t HttpServer::in_flight() const { return impl_->in_flight.load(); }

}  // namespace cairn
