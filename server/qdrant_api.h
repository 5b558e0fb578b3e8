// Qdrant's REST API over Cairn collections (docs/api.md lists what is
// served). Every answer is Qdrant's envelope: {"result", "status": "ok",
// "time"} or, for an error, {"status": {"error": "..."}, "time"} with a 4xx
// or 5xx code. Auth: the `api-key` header or `Authorization: Bearer`; a
// read-only key may only read.
//
// Thread-safety: Handle() is called concurrently from the worker threads.
#ifndef CAIRN_SERVER_QDRANT_API_H_
#define CAIRN_SERVER_QDRANT_API_H_

#include <chrono>
#include <string>

#include "nlohmann/json.hpp"
#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/metrics.h"

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
  // Qdrant's error body, for the HTTP layer's own errors (413, 400).
  static HttpResponse Error(int status, const std::string& message);

 private:
  struct Route;
  HttpResponse Dispatch(const HttpRequest& r, std::string* route, bool* read_only_ok);

  CollectionManager* collections_;
  ApiOptions options_;
  Metrics* metrics_;
};

}  // namespace cairn

#endif  // CAIRN_SERVER_QDRANT_API_H_
