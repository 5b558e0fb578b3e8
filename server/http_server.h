// The HTTP/1.1 front end: Boost.Beast over Asio. IO threads accept, read and
// write; requests are handed to a separate pool of worker threads so that a
// slow search never stalls the sockets of other connections, and writes (as
// options.is_write says) to a pool of their own.
//
// Per connection: keep-alive, pipelined requests answered in order (the next
// request is read only after the previous response is written; Beast buffers
// whatever the client already sent), a body limit answered with 413, a read
// timeout that cuts slow or half-closed clients, and 400 for anything the
// parser rejects. A handler that throws answers 500; nothing escapes.
//
// Stop(): stop accepting, let requests already read finish and their
// responses be written (up to `drain_timeout`), then close every socket.
//
// Thread-safety: Start/Stop from one controlling thread; the handler is
// called concurrently from the worker threads.
#ifndef CAIRN_SERVER_HTTP_SERVER_H_
#define CAIRN_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

struct HttpRequest {
  std::string method;                         // "GET", "PUT", ...
  std::string target;                         // as sent
  std::vector<std::string> segments;          // path split on '/', percent-decoded
  std::map<std::string, std::string> query;   // ?a=b&c
  std::map<std::string, std::string> headers; // lower-case names
  std::string body;
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};

// Parses one request from `bytes` as a connection does (Beast's parser, the
// same header limit, `body_limit`) without a socket: for tests and fuzzing.
// ResourceExhausted for a body over the limit (a connection's 413),
// InvalidArgument for anything the parser rejects or an incomplete request
// (400). Bytes after the first request are ignored.
absl::StatusOr<HttpRequest> ParseHttpRequest(std::string_view bytes, uint64_t body_limit);

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 6333;  // 0: any free port (tests); see HttpServer::port()
  int io_threads = 1;
  int worker_threads = 0;  // 0: one per core
  // When set, requests it calls writes run on a pool of their own
  // (write_threads; 0: as many as worker_threads), so that reads never wait
  // in line behind writes blocked on fsync or on a full memtable.
  std::function<bool(const HttpRequest&)> is_write;
  int write_threads = 0;
  uint64_t body_limit = 32ull << 20;
  // A request must arrive whole within this; also the keep-alive idle limit.
  std::chrono::milliseconds read_timeout{30000};
  std::chrono::milliseconds drain_timeout{10000};
  // Answer for a body over the limit / an unparsable request (the server's
  // error format; the API layer sets Qdrant's).
  std::function<HttpResponse(int status, const std::string& message)> error_response;
  absl::Status Validate() const;
};

class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const HttpServerOptions& options,
                                                           HttpHandler handler);
  ~HttpServer();  // Stop()
  uint16_t port() const;
  void Stop();
  // Connections accepted and requests answered so far (metrics).
  uint64_t connections() const;
  uint64_t in_flight() const;

  struct Impl;  // public only so the connection code in the .cc can name it

 private:
  HttpServer() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cairn

#endif  // CAIRN_SERVER_HTTP_SERVER_H_
