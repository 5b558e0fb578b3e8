// A blocking HTTP/1.1 keep-alive connection to one server (`http://host:port`),
// the transport of Cairn's C++ client and of `cairn bench soak`.
//
// Requests go out one at a time over one TCP connection that is kept open
// between them. The connection is opened on the first request and again after
// the server closed it:
//  - Before a request is written on a kept-alive connection, the socket is
//    checked without blocking; if the server has closed it (its idle timeout,
//    a restart), the request goes out on a fresh connection.
//  - If the server closes the connection while the request is being written,
//    or closes it before a single byte of the answer arrived (the race of an
//    idle close with our write), the request is sent once more on a fresh
//    connection. A re-sent request may therefore reach the server twice when
//    the server died after reading it; Cairn's REST writes are keyed by point
//    id (upsert, delete), so a repeat leaves the same state.
// Other failures are not retried: they are returned, and the next request
// reconnects.
//
// A request's timeout covers everything it does: connect, write and read.
// HTTP error statuses (4xx, 5xx) are responses, not errors; the Status is an
// error only when no complete response arrived. Errors name the URL, the
// operation (resolve, connect, write, read, timeout) and the request:
//   UNAVAILABLE: http://127.0.0.1:6333: connect: Connection refused
//   DEADLINE_EXCEEDED: http://127.0.0.1:6333: timeout after 200 ms in read
//   of POST /collections/c/points/search
//
// Thread-safety: none. An HttpConnection is used by one thread at a time;
// threads that issue requests concurrently each own one connection.
#ifndef CAIRN_CLIENT_CPP_HTTP_CONNECTION_H_
#define CAIRN_CLIENT_CPP_HTTP_CONNECTION_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn::client {

// An http:// URL reduced to what a connection needs.
struct Url {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  uint16_t port = 80;
  // "http://host:port", with brackets around an IPv6 host.
  std::string ToString() const;
};

// Accepts "http://HOST[:PORT][/]"; HOST may be "[v6 address]". https, user
// info, a path other than "/", a query and bad ports are InvalidArgument.
absl::StatusOr<Url> ParseUrl(std::string_view url);

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpResponse {
  int status = 0;
  std::string body;
  std::string content_type;
  bool keep_alive = false;  // false: the server closes after this response
};

struct HttpConnectionOptions {
  // Sent as the `api-key` header when not empty.
  std::string api_key;
  // The timeout of a Request() that does not name one.
  std::chrono::milliseconds default_timeout{30000};
  // Larger response bodies fail the read (a scroll of many vectors is big).
  uint64_t max_response_bytes = 256ull << 20;
  absl::Status Validate() const;
};

class HttpConnection {
 public:
  // Parses the URL and validates the options; does not connect yet.
  static absl::StatusOr<std::unique_ptr<HttpConnection>> Create(std::string_view url,
                                                                HttpConnectionOptions options = {});
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Sends one request and reads its response. `method` is an HTTP method
  // name ("GET", "PUT", ...); `target` the path and query ("/collections");
  // a non-empty `body` is sent as application/json unless `headers` set
  // Content-Type. `headers` are added last and replace defaults of the same
  // name. A zero `timeout` means options.default_timeout.
  absl::StatusOr<HttpResponse> Request(
      std::string_view method, std::string_view target, std::string_view body = {},
      const HttpHeaders& headers = {},
      std::chrono::milliseconds timeout = std::chrono::milliseconds::zero());

  // Closes the TCP connection; the next request opens a new one.
  void Close();

  const Url& url() const;
  // TCP connections opened so far, and how many requests were re-sent on a
  // new connection because the server had closed the old one (see above).
  uint64_t connects() const;
  uint64_t resends() const;

 private:
  struct Impl;
  explicit HttpConnection(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn::client

#endif  // CAIRN_CLIENT_CPP_HTTP_CONNECTION_H_
