// Qdrant's REST API over Cairn collections (docs/api.md lists what is
// served). Every answer is Qdrant's envelope: {"result", "status": "ok",
// "time"} or, for an error, {"status": {"error": "..."}, "time"} with a 4xx
// or 5xx code. Auth: the `api-key` header or `Authorization: Bearer`; a
// read-only key may only read.
//
// Checks, in order: a missing or wrong key is 401 unless the route is open;
// a path no route takes is 404; under /collections/{name}/, a missing
// collection is 404 and a bad ?timeout 400 before the rest of the path is
// matched, and a bad body 400 after; a write route refuses a read-only key
// with 403; then the handler runs.
//
// Thread-safety: Handle() is called concurrently from the worker threads.
#ifndef CAIRN_SERVER_QDRANT_API_H_
#define CAIRN_SERVER_QDRANT_API_H_

#include <chrono>
#include <span>
#include <string>
#include <string_view>

#include "nlohmann/json.hpp"
#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/qdrant_points.h"
#include "server/route_table.h"

namespace cairn {

// Auth is on when either key is set. Only the full key writes; with only a
// read-only key configured, nothing can write over the API.
struct ApiOptions {
  std::string api_key;
  std::string read_only_api_key;
  // A request's work stops with 504 past this, or past ?timeout=SECONDS.
  std::chrono::milliseconds request_timeout{60000};
};

// The version string answered on GET /: the Qdrant API level this server
// speaks (clients compare it with their own), and Cairn's own.
inline constexpr char kQdrantApiVersion[] = "1.18.0";
inline constexpr char kCairnVersion[] = "0.1.0";

class QdrantApi {
 public:
  QdrantApi(CollectionManager* collections, ApiOptions options, Metrics* metrics);
  HttpResponse Handle(const HttpRequest& request);
  // True for a request whose route changes data (Access::kWrite): the HTTP
  // server's is_write, so that writes queue apart from reads.
  static bool IsWrite(const HttpRequest& request);
  // Qdrant's error body, for the HTTP layer's own errors (413, 400).
  static HttpResponse Error(int status, const std::string& message);
  // The envelope of a result, or the error answer of its status.
  static HttpResponse Answer(const absl::StatusOr<nlohmann::json>& result);

 private:
  // Who the request's key says is calling.
  enum class Caller { kNone, kReader, kWriter };
  using Handler = HttpResponse (QdrantApi::*)(const HttpRequest&, const PathParams&);
  // The server and collection routes; those under a collection are
  // CollectionRoutes() (qdrant_points.h).
  static std::span<const Route<Handler>> Routes();

  Caller CallerOf(const std::string& key) const;
  // Sets *label to the metrics label of the route taken.
  HttpResponse Dispatch(const HttpRequest& r, std::string_view* label);
  // Paths under /collections/{name}/ but its /exists: CollectionRoutes().
  HttpResponse DispatchInCollection(const HttpRequest& r, Caller caller, std::string_view* label);

  HttpResponse Banner(const HttpRequest& r, const PathParams& params);
  HttpResponse Probe(const HttpRequest& r, const PathParams& params);
  HttpResponse MetricsPage(const HttpRequest& r, const PathParams& params);
  HttpResponse ListCollections(const HttpRequest& r, const PathParams& params);
  HttpResponse GetCollection(const HttpRequest& r, const PathParams& params);
  HttpResponse CreateCollection(const HttpRequest& r, const PathParams& params);
  HttpResponse DropCollection(const HttpRequest& r, const PathParams& params);
  HttpResponse UpdateCollection(const HttpRequest& r, const PathParams& params);
  HttpResponse CollectionExists(const HttpRequest& r, const PathParams& params);
  HttpResponse MethodNotAllowed(const HttpRequest& r, const PathParams& params);
  // Aliases (qdrant_aliases.cc).
  HttpResponse UpdateAliases(const HttpRequest& r, const PathParams& params);
  HttpResponse ListAliases(const HttpRequest& r, const PathParams& params);
  HttpResponse ListCollectionAliases(const HttpRequest& r, const PathParams& params);
  // Snapshots (qdrant_snapshots.cc).
  HttpResponse CreateSnapshot(const HttpRequest& r, const PathParams& params);
  HttpResponse ListSnapshots(const HttpRequest& r, const PathParams& params);
  HttpResponse DownloadSnapshot(const HttpRequest& r, const PathParams& params);
  HttpResponse DeleteSnapshot(const HttpRequest& r, const PathParams& params);
  HttpResponse RecoverSnapshot(const HttpRequest& r, const PathParams& params);
  HttpResponse UploadSnapshot(const HttpRequest& r, const PathParams& params);

  CollectionManager* collections_;
  ApiOptions options_;
  Metrics* metrics_;
};

}  // namespace cairn

#endif  // CAIRN_SERVER_QDRANT_API_H_
