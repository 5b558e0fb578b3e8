// Cairn's C++ client: typed calls of the REST API (docs/api.md) over a pool
// of keep-alive connections (http_connection.h).
//
//   CAIRN_ASSIGN_OR_RETURN(auto client, Client::Create({.url = "http://127.0.0.1:6333"}));
//   CAIRN_RETURN_IF_ERROR(client->CreateCollection("docs", {.dim = 4}));
//   CAIRN_RETURN_IF_ERROR(client->Upsert("docs", points));
//   CAIRN_ASSIGN_OR_RETURN(auto hits, client->Query("docs", {.vector = q, .limit = 5}));
//
// Errors: an answer with an HTTP error status is a Status whose code follows
// the HTTP status (400 InvalidArgument, 401 Unauthenticated, 403
// PermissionDenied, 404 NotFound, 409 AlreadyExists, 413 and 507
// ResourceExhausted, 503 Unavailable, 504 DeadlineExceeded, else Internal),
// whose message is "HTTP <status>: <the server's message>", and which
// carries the status itself (HttpStatusOf). A request that got no answer is
// Unavailable or DeadlineExceeded from the connection.
//
// Retries: idempotent calls (reads, and writes keyed by point id: upsert,
// delete, payload updates, whose repeat leaves the same state) are tried
// again after a 503 or an Unavailable transport error (refused or reset
// connection), up to `retries` times with exponential backoff. Creating and
// deleting a collection are sent once. A timeout is never retried.
//
// Thread-safety: a Client may be used by many threads at once; each call
// takes an idle connection from the pool (or opens one) and returns it.
#ifndef CAIRN_CLIENT_CPP_CAIRN_CLIENT_H_
#define CAIRN_CLIENT_CPP_CAIRN_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "client/cpp/client_types.h"
#include "client/cpp/http_connection.h"

namespace cairn::client {

struct ClientOptions {
  std::string url = "http://127.0.0.1:6333";
  std::string api_key{};                     // sent as the api-key header when not empty
  std::chrono::milliseconds timeout{30000};  // per request
  int retries = 3;                           // extra tries of idempotent calls
  std::chrono::milliseconds backoff{100};    // first wait; doubles, with jitter
  std::chrono::milliseconds max_backoff{2000};
  size_t max_idle_connections = 16;  // kept open between calls
  uint64_t max_response_bytes = 256ull << 20;
  absl::Status Validate() const;
  // url from CAIRN_URL and api_key from CAIRN_API_KEY where set.
  static ClientOptions FromEnvironment();
};

// The HTTP status an error of this client carries, 0 for other errors.
int HttpStatusOf(const absl::Status& status);

class PointIterator;

class Client {
 public:
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Collections.
  absl::StatusOr<std::vector<std::string>> ListCollections();
  absl::StatusOr<bool> CollectionExists(std::string_view name);
  absl::StatusOr<CollectionInfo> GetCollection(std::string_view name);
  absl::Status CreateCollection(std::string_view name, const CollectionConfig& config);
  // True if it existed.
  absl::StatusOr<bool> DeleteCollection(std::string_view name);

  // Points. Upsert sends `batch_size` points per request (each request is
  // all or nothing); `vector_name` for a collection with a named vector.
  absl::Status Upsert(std::string_view name, std::span<const Point> points, size_t batch_size = 256,
                      const std::optional<std::string>& vector_name = std::nullopt);
  // An upsert body made by AppendUpsertBody, sent as one request.
  absl::Status UpsertBody(std::string_view name, std::string_view body);
  absl::StatusOr<std::vector<Record>> Retrieve(std::string_view name, std::span<const PointId> ids,
                                               bool with_payload = true, bool with_vector = false);
  absl::StatusOr<ScrollPage> Scroll(std::string_view name, const ScrollRequest& request);
  // Every point (matching request.filter), page by page, in id order.
  PointIterator ScrollAll(std::string_view name, ScrollRequest request = {});
  absl::StatusOr<uint64_t> Count(std::string_view name, const Json& filter = nullptr);
  absl::Status DeletePoints(std::string_view name, std::span<const PointId> ids);
  absl::Status DeleteByFilter(std::string_view name, const Json& filter);
  // Merges `payload` into each point's payload (at dot path `key` if set).
  absl::Status SetPayload(std::string_view name, const Json& payload, std::span<const PointId> ids,
                          std::string_view key = {});
  absl::Status OverwritePayload(std::string_view name, const Json& payload,
                                std::span<const PointId> ids);
  absl::Status DeletePayload(std::string_view name, const std::vector<std::string>& keys,
                             std::span<const PointId> ids);

  // Search: nearest to a vector or to a point's vector.
  absl::StatusOr<std::vector<ScoredPoint>> Query(std::string_view name,
                                                 const QueryRequest& request);

  // Any route: the `result` of the answer's envelope (the whole body for
  // answers without one). `body` may be null.
  absl::StatusOr<Json> Call(std::string_view method, std::string_view target, const Json* body,
                            bool idempotent);
  absl::StatusOr<Json> CallRaw(std::string_view method, std::string_view target,
                               std::string_view body, bool idempotent);

  const ClientOptions& options() const { return options_; }
  // Requests re-sent after a 503 or a transport error, over the client's life.
  uint64_t retries_done() const;

 private:
  explicit Client(ClientOptions options) : options_(std::move(options)) {}
  absl::StatusOr<std::unique_ptr<HttpConnection>> Lease();
  void Return(std::unique_ptr<HttpConnection> conn);
  absl::StatusOr<HttpResponse> Send(std::string_view method, std::string_view target,
                                    std::string_view body, bool idempotent);
  absl::Status PointsWrite(std::string_view name, std::string_view suffix, std::string_view method,
                           Json body, std::span<const PointId> ids);

  const ClientOptions options_;
  mutable absl::Mutex mu_;
  std::vector<std::unique_ptr<HttpConnection>> idle_ ABSL_GUARDED_BY(mu_);
  uint64_t retries_done_ ABSL_GUARDED_BY(mu_) = 0;
};

// The points of a collection page by page. Not thread-safe; the Client
// must outlive it.
class PointIterator {
 public:
  // The next record in *out: true, or false after the last one.
  absl::StatusOr<bool> Next(Record* out);

 private:
  friend class Client;
  PointIterator(Client* client, std::string name, ScrollRequest request)
      : client_(client), name_(std::move(name)), request_(std::move(request)) {}
  Client* client_;
  std::string name_;
  ScrollRequest request_;
  std::vector<Record> page_;
  size_t pos_ = 0;
  bool last_page_ = false;
};

}  // namespace cairn::client

#endif  // CAIRN_CLIENT_CPP_CAIRN_CLIENT_H_
