// A blocking HTTP/1.1 client for the server tests (Boost.Beast): one
// keep-alive connection per client, plus raw socket access for the tests of
// pipelining, slow and half-closed clients.
#ifndef CAIRN_TESTS_HTTP_TEST_CLIENT_H_
#define CAIRN_TESTS_HTTP_TEST_CLIENT_H_

#include <map>
#include <string>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "nlohmann/json.hpp"

namespace cairn::testing {

struct HttpResult {
  int status = 0;
  std::string body;
  nlohmann::json json;  // discarded if the body is not JSON
  bool keep_alive = false;
};

class HttpTestClient {
 public:
  explicit HttpTestClient(uint16_t port) : port_(port), stream_(ioc_) { Connect(); }

  void Connect() {
    boost::asio::ip::tcp::resolver resolver(ioc_);
    stream_.connect(resolver.resolve("127.0.0.1", std::to_string(port_)));
  }

  HttpResult Request(const std::string& method, const std::string& target,
                     const std::string& body = "",
                     const std::map<std::string, std::string>& headers = {}) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    boost::beast::error_code ec;
    http::write(stream_, req, ec);
    HttpResult r;
    if (ec) {
      r.status = -1;
    } else {
      r = Read();
    }
    if (r.status == -1) {
      // The server closed an idle connection (its read timeout): reconnect
      // once, as HTTP clients do.
      stream_.close();
      buffer_.clear();
      Connect();
      http::write(stream_, req);
      r = Read();
    }
    return r;
  }

  HttpResult Json(const std::string& method, const std::string& target, const nlohmann::json& body,
                  const std::map<std::string, std::string>& headers = {}) {
    return Request(method, target, body.dump(), headers);
  }

  HttpResult Read() {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1ull << 30);
    boost::beast::error_code ec;
    http::read(stream_, buffer_, parser, ec);
    HttpResult r;
    if (ec) {
      r.status = -1;
      r.body = ec.message();
      return r;
    }
    auto msg = parser.release();
    r.status = msg.result_int();
    r.body = msg.body();
    r.keep_alive = msg.keep_alive();
    r.json = nlohmann::json::parse(r.body, nullptr, false);
    return r;
  }

  // Raw bytes, for pipelining and broken clients.
  void WriteRaw(const std::string& bytes) {
    boost::asio::write(stream_.socket(), boost::asio::buffer(bytes));
  }
  void ShutdownSend() {
    boost::beast::error_code ec;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
  }
  // True when the server has closed the connection (a read returns EOF).
  bool ServerClosed() {
    char c;
    boost::beast::error_code ec;
    stream_.socket().read_some(boost::asio::buffer(&c, 1), ec);
    return ec == boost::asio::error::eof || ec == boost::asio::error::connection_reset;
  }

 private:
  uint16_t port_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_HTTP_TEST_CLIENT_H_
