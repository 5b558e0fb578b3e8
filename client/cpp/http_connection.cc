#include "client/cpp/http_connection.h"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn::client {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
// This Abseil's string_view is its own type, not std::string_view.
absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }
}  // namespace

std::string Url::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return absl::StrCat("http://", v6 ? "[" : "", host, v6 ? "]" : "", ":", port);
}

absl::StatusOr<Url> ParseUrl(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("URL \"", AV(text), "\": ", AV(why), "; expected http://HOST:PORT"));
  };
  constexpr std::string_view kScheme = "http://";
  if (!absl::StartsWithIgnoreCase(AV(text), AV(kScheme))) {
    return bad(absl::StartsWithIgnoreCase(AV(text), "https://") ? "https is not supported"
                                                                : "no http:// scheme");
  }
  std::string_view rest = text.substr(kScheme.size());
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find_first_of("/?#") != std::string_view::npos) return bad("a path is not supported");
  if (rest.find('@') != std::string_view::npos) return bad("user info is not supported");
  Url url;
  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("unclosed [");
    url.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad("junk after ]");
      port_text = after.substr(1);
      if (port_text.empty()) return bad("empty port");
    }
  } else {
    const size_t colon = rest.find(':');
    if (rest.find(':', colon == std::string_view::npos ? colon : colon + 1) !=
        std::string_view::npos) {
      return bad("an IPv6 host must be in brackets");
    }
    url.host = std::string(rest.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      if (port_text.empty()) return bad("empty port");
    }
  }
  if (url.host.empty()) return bad("no host");
  if (!port_text.empty()) {
    uint32_t port = 0;
    if (!absl::SimpleAtoi(AV(port_text), &port) || port == 0 || port > 65535) {
      return bad("the port must be 1..65535");
    }
    url.port = static_cast<uint16_t>(port);
  }
  return url;
}

absl::Status HttpConnectionOptions::Validate() const {
  if (default_timeout.count() <= 0) {
    return absl::InvalidArgumentError("default_timeout must be positive");
  }
  if (max_response_bytes == 0) {
    return absl::InvalidArgumentError("max_response_bytes must be positive");
  }
  if (api_key.find_first_of("\r\n") != std::string::npos) {
    return absl::InvalidArgumentError("the API key may not contain a line break");
  }
  return absl::OkStatus();
}

namespace {

// An error that means the server closed the connection (or reset it).
bool IsClosedByServer(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == asio::error::not_connected;
}

}  // namespace

struct HttpConnection::Impl {
  Url url;
  std::string url_text;
  std::string host_header;
  HttpConnectionOptions options;
  // Every operation is asynchronous, run to completion by RunIo(): that is
  // what lets tcp_stream's expiry (which only applies to asynchronous
  // operations) bound a request.
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  std::optional<tcp::resolver::results_type> endpoints;
  bool connected = false;
  uint64_t connects = 0;
  uint64_t resends = 0;

  enum class Stage { kWrite, kRead };
  struct Attempt {
    beast::error_code ec;
    Stage stage = Stage::kWrite;
    bool got_bytes = false;  // part of a response arrived
  };

  void RunIo() {
    ioc.restart();
    ioc.run();
  }

  void CloseSocket() {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.close();
    buffer.consume(buffer.size());
    connected = false;
  }

  // Whether a kept-alive connection is no longer usable: the server closed
  // or reset it, or sent something we did not ask for (a 408 before
  // closing). Does not block.
  bool Stale() {
    if (buffer.size() > 0) return true;
    char c;
    const ssize_t n = ::recv(stream.socket().native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n >= 0) return true;  // 0: orderly close; > 0: unsolicited bytes
    return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
  }

  absl::Status TransportError(std::string_view op, const beast::error_code& ec,
                              std::string_view request, std::chrono::milliseconds timeout) const {
    if (ec == beast::error::timeout) {
      return absl::DeadlineExceededError(absl::StrCat(url_text, ": timeout after ", timeout.count(),
                                                      " ms in ", AV(op),
                                                      request.empty() ? "" : " of ", AV(request)));
    }
    return absl::UnavailableError(absl::StrCat(
        url_text, ": ", AV(op), request.empty() ? "" : " of ", AV(request), ": ", ec.message()));
  }

  absl::Status Connect(Clock::time_point deadline, std::chrono::milliseconds timeout) {
    if (!endpoints.has_value()) {
      tcp::resolver resolver(ioc);
      beast::error_code ec;
      auto found = resolver.resolve(url.host, std::to_string(url.port), ec);
      if (ec) {
        return absl::UnavailableError(
            absl::StrCat(url_text, ": resolve ", url.host, ": ", ec.message()));
      }
      endpoints = std::move(found);
    }
    stream.expires_at(deadline);
    beast::error_code ec;
    stream.async_connect(*endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    RunIo();
    if (ec) {
      CloseSocket();
      return TransportError("connect", ec, "", timeout);
    }
    beast::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
    connected = true;
    ++connects;
    return absl::OkStatus();
  }

  Attempt Exchange(const http::request<http::string_body>& req, Clock::time_point deadline,
                   HttpResponse* out) {
    Attempt a;
    stream.expires_at(deadline);
    http::async_write(stream, req, [&](beast::error_code e, size_t) { a.ec = e; });
    RunIo();
    if (a.ec) return a;
    a.stage = Stage::kRead;
    http::response_parser<http::string_body> parser;
    parser.body_limit(options.max_response_bytes);
    http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) { a.ec = e; });
    RunIo();
    a.got_bytes = parser.got_some();
    if (a.ec) return a;
    http::response<http::string_body> res = parser.release();
    out->status = res.result_int();
    out->keep_alive = res.keep_alive();
    out->content_type = std::string(res[http::field::content_type]);
    out->body = std::move(res.body());
    return a;
  }
};

HttpConnection::HttpConnection(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpConnection::~HttpConnection() {
  if (impl_ != nullptr && impl_->connected) impl_->CloseSocket();
}

absl::StatusOr<std::unique_ptr<HttpConnection>> HttpConnection::Create(
    std::string_view url, HttpConnectionOptions options) {
  CAIRN_RETURN_IF_ERROR(options.Validate());
  CAIRN_ASSIGN_OR_RETURN(Url parsed, ParseUrl(url));
  auto impl = std::make_unique<Impl>();
  impl->url = std::move(parsed);
  impl->url_text = impl->url.ToString();
  impl->host_header = impl->url_text.substr(std::string_view("http://").size());
  impl->options = std::move(options);
  return std::unique_ptr<HttpConnection>(new HttpConnection(std::move(impl)));
}

absl::StatusOr<HttpResponse> HttpConnection::Request(std::string_view method,
                                                     std::string_view target, std::string_view body,
                                                     const HttpHeaders& headers,
                                                     std::chrono::milliseconds timeout) {
  Impl& x = *impl_;
  const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
  if (verb == http::verb::unknown) {
    return absl::InvalidArgumentError(absl::StrCat("unknown HTTP method \"", AV(method), "\""));
  }
  if (target.empty() || target.front() != '/') {
    return absl::InvalidArgumentError(
        absl::StrCat("target \"", AV(target), "\" must start with /"));
  }
  if (timeout.count() < 0) return absl::InvalidArgumentError("negative timeout");
  if (timeout.count() == 0) timeout = x.options.default_timeout;
  const Clock::time_point deadline = Clock::now() + timeout;
  const std::string what = absl::StrCat(AV(method), " ", AV(target));

  http::request<http::string_body> req(verb, beast::string_view(target.data(), target.size()), 11);
  req.set(http::field::host, x.host_header);
  req.set(http::field::user_agent, "cairn-client");
  if (!body.empty()) req.set(http::field::content_type, "application/json");
  if (!x.options.api_key.empty()) req.set("api-key", x.options.api_key);
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::string(body);
  req.prepare_payload();

  bool reused = false;
  if (x.connected) {
    if (x.Stale()) {
      x.CloseSocket();
    } else {
      reused = true;
    }
  }
  if (!x.connected) CAIRN_RETURN_IF_ERROR(x.Connect(deadline, timeout));
  HttpResponse res;
  Impl::Attempt a = x.Exchange(req, deadline, &res);
  // The server closed the kept-alive connection under us before it could
  // have answered: once more on a new connection (see the header).
  const bool closed_before_answer = a.ec && a.ec != beast::error::timeout &&
                                    IsClosedByServer(a.ec) &&
                                    (a.stage == Impl::Stage::kWrite || !a.got_bytes);
  if (reused && closed_before_answer) {
    x.CloseSocket();
    ++x.resends;
    CAIRN_RETURN_IF_ERROR(x.Connect(deadline, timeout));
    res = HttpResponse();
    a = x.Exchange(req, deadline, &res);
  }
  if (a.ec) {
    x.CloseSocket();
    return x.TransportError(a.stage == Impl::Stage::kWrite ? "write" : "read", a.ec, what, timeout);
  }
  if (!res.keep_alive) x.CloseSocket();
  return res;
}

void HttpConnection::Close() {
  if (impl_->connected) impl_->CloseSocket();
}

const Url& HttpConnection::url() const { return impl_->url; }
uint64_t HttpConnection::connects() const { return impl_->connects; }
uint64_t HttpConnection::resends() const { return impl_->resends; }

}  // namespace cairn::client
