// Routing, auth, the envelope and the collection endpoints. Points and
// search endpoints: qdrant_points.cc.
#include "server/qdrant_api.h"

#include <chrono>
#include <memory>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "index/spann/spann_limits.h"
#include "server/api_json.h"
#include "storage/env.h"

namespace cairn {

namespace {

int HttpStatusOf(const absl::Status& s) {
  // Only a full disk is 507: ResourceExhausted also says "out of ids" or
  // "out of memory", which no amount of disk space fixes.
  if (IsOutOfSpace(s)) return 507;
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string Prefix(const absl::Status& s) {
  if (IsOutOfSpace(s)) return "Insufficient storage: ";
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
      return "Wrong input: ";
    case absl::StatusCode::kNotFound: return "Not found: ";
    default: return "Service internal error: ";
  }
}

HttpResponse Ok(const Json& result, double seconds) {
  HttpResponse r;
  // replace: stored text is validated on the way in, but an answer must
  // never throw on its way out.
  r.body = Json{{"result", result}, {"status", "ok"}, {"time", seconds}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
  return r;
}

HttpResponse FromStatus(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kUnauthenticated ||
      s.code() == absl::StatusCode::kPermissionDenied) {
    return QdrantApi::Error(HttpStatusOf(s), std::string(s.message()));
  }
  return QdrantApi::Error(HttpStatusOf(s), Prefix(s) + std::string(s.message()));
}

HttpResponse Forbidden() {
  return QdrantApi::Error(403, "Forbidden: the read-only API key cannot write");
}

HttpResponse NoRoute(const HttpRequest& r) {
  const std::string path = r.target.substr(0, r.target.find('?'));
  return QdrantApi::Error(404, absl::StrCat("Not found: no route ", r.method, " ", path));
}

HttpResponse NoCollection(const std::string& name) {
  return QdrantApi::Error(404, absl::StrCat("Not found: Collection `", name, "` doesn't exist!"));
}

// The `api-key` header, else an `Authorization: Bearer` token.
std::string ApiKeyOf(const HttpRequest& r) {
  std::string key = r.header("api-key");
  if (key.empty()) {
    const std::string auth = r.header("authorization");
    if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
  }
  return key;
}

bool KeyMatches(const std::string& given, const std::string& want) {
  if (given.size() != want.size()) return false;
  unsigned char diff = 0;  // constant time: no early exit on the first mismatch
  for (size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ want[i]);
  return diff == 0;
}

// Now plus ?timeout=SECONDS, else plus the server's default.
absl::StatusOr<std::chrono::steady_clock::time_point> DeadlineOf(
    const HttpRequest& r, std::chrono::milliseconds default_timeout) {
  auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(default_timeout);
  if (auto it = r.query.find("timeout"); it != r.query.end()) {
    uint32_t secs = 0;
    if (!absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &secs) ||
        secs == 0) {
      return absl::InvalidArgumentError("timeout: expected a positive number of seconds");
    }
    timeout = std::chrono::seconds(secs);
  }
  return std::chrono::steady_clock::now() + timeout;
}

// Per sparse vector name, its inverted index's size (server/sparse_index.h).
Json SparseIndexInfo(const Collection& c) {
  Json out = Json::object();
  for (const auto& [name, s] : c.sparse_stats()) {
    out[name] = {{"points", s.points},
                 {"non_zeros", s.live_entries},
                 {"dead_non_zeros", s.dead_entries},
                 {"dimensions", s.dimensions},
                 {"ram_bytes", s.ram_bytes}};
  }
  return out;
}

Json CollectionInfo(const Collection& c) {
  const uint64_t n = c.points_count();
  const LiveStats st = c.index_stats();
  return Json{
      {"status", "green"},
      {"optimizer_status", "ok"},
      {"indexed_vectors_count", c.vectors_count()},
      {"points_count", n},
      {"segments_count", 1},
      {"config",
       {{"params",
         {{"vectors", VectorsConfigJson(c.config())},
          {"sparse_vectors", SparseVectorsConfigJson(c.config())},
          {"shard_number", 1},
          {"replication_factor", 1},
          {"write_consistency_factor", 1},
          {"on_disk_payload", true}}},
        {"hnsw_config",
         {{"m", 16}, {"ef_construct", 200}, {"full_scan_threshold", 10000}, {"on_disk", false}}},
        {"optimizer_config",
         {{"deleted_threshold", 0.2},
          {"vacuum_min_vector_number", 1000},
          {"default_segment_number", 1},
          {"flush_interval_sec", 5}}},
        {"wal_config", {{"wal_capacity_mb", 32}, {"wal_segments_ahead", 0}}},
        {"quantization_config", nullptr}}},
      {"payload_schema", c.PayloadSchemaJson()},
      {"cairn",
       {{"max_postings", c.max_postings()},
        {"target_recall", c.target_recall()},
        {"posting_budget", st.calibrated_vectors > 0},
        {"budget_fitted_on", st.calibrated_vectors},
        {"live_heads", st.live_heads},
        {"splits", st.splits},
        {"merges", st.merges},
        {"buffered", st.buffered},
        {"wal_bytes", st.wal_bytes},
        {"posting_file_bytes", st.store.file_bytes},
        {"resident_bytes", st.resident_bytes},
        {"sparse_indexes", SparseIndexInfo(c)}}}};
}

}  // namespace

HttpResponse QdrantApi::Error(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  // A message may quote the request (a name from the URL): never throw on
  // bytes that are not UTF-8.
  r.body = Json{{"status", {{"error", message}}}, {"time", 0.0}}.dump(
      -1, ' ', false, Json::error_handler_t::replace);
  return r;
}

HttpResponse QdrantApi::Answer(const absl::StatusOr<Json>& result) {
  return result.ok() ? Ok(*result, 0) : FromStatus(result.status());
}

QdrantApi::QdrantApi(CollectionManager* collections, ApiOptions options, Metrics* metrics)
    : collections_(collections), options_(std::move(options)), metrics_(metrics) {}

std::span<const Route<QdrantApi::Handler>> QdrantApi::Routes() {
  using Q = QdrantApi;
  // A "*" row after a path's rows answers 405 for its other methods; under
  // /collections/{name} only the full key gets that far.
  static constexpr Route<Handler> kRoutes[] = {
      {"GET", "/", Access::kOpen, &Q::Banner},
      {"*", "/", Access::kOpen, &Q::MethodNotAllowed},
      {"*", "/healthz", Access::kOpen, &Q::Probe},
      {"*", "/livez", Access::kOpen, &Q::Probe},
      {"*", "/readyz", Access::kOpen, &Q::Probe},
      {"*", "/metrics", Access::kRead, &Q::MetricsPage},
      {"GET", "/collections", Access::kRead, &Q::ListCollections},
      {"*", "/collections", Access::kRead, &Q::MethodNotAllowed},
      {"GET", "/aliases", Access::kRead, &Q::ListAliases},
      {"POST", "/collections/aliases", Access::kWrite, &Q::UpdateAliases},
      {"GET", "/collections/{name}/aliases", Access::kRead, &Q::ListCollectionAliases},
      {"POST", "/collections/{name}/snapshots", Access::kWrite, &Q::CreateSnapshot},
      {"GET", "/collections/{name}/snapshots", Access::kRead, &Q::ListSnapshots},
      {"PUT", "/collections/{name}/snapshots/recover", Access::kWrite, &Q::RecoverSnapshot},
      {"POST", "/collections/{name}/snapshots/upload", Access::kWrite, &Q::UploadSnapshot},
      {"GET", "/collections/{name}/snapshots/{snapshot}", Access::kRead, &Q::DownloadSnapshot,
       "/collections/{name}/snapshots/{snapshot} GET"},
      {"DELETE", "/collections/{name}/snapshots/{snapshot}", Access::kWrite, &Q::DeleteSnapshot,
       "/collections/{name}/snapshots/{snapshot} DELETE"},
      {"GET", "/collections/{name}", Access::kRead, &Q::GetCollection},
      {"PUT", "/collections/{name}", Access::kWrite, &Q::CreateCollection},
      {"DELETE", "/collections/{name}", Access::kWrite, &Q::DropCollection},
      {"PATCH", "/collections/{name}", Access::kWrite, &Q::UpdateCollection},
      {"*", "/collections/{name}", Access::kWrite, &Q::MethodNotAllowed},
      {"*", "/collections/{name}/exists", Access::kRead, &Q::CollectionExists},
  };
  return kRoutes;
}

QdrantApi::Caller QdrantApi::CallerOf(const std::string& key) const {
  const bool auth = !options_.api_key.empty() || !options_.read_only_api_key.empty();
  if (!auth || (!options_.api_key.empty() && KeyMatches(key, options_.api_key))) {
    return Caller::kWriter;
  }
  if (!options_.read_only_api_key.empty() && KeyMatches(key, options_.read_only_api_key)) {
    return Caller::kReader;
  }
  return Caller::kNone;
}

HttpResponse QdrantApi::Handle(const HttpRequest& r) {
  const auto start = std::chrono::steady_clock::now();
  std::string_view label = "unknown";
  HttpResponse res;
  try {
    res = Dispatch(r, &label);
  } catch (const Json::exception& e) {
    // A JSON type or range error while decoding a request is the request's
    // fault: every decoding failure is a 4xx, never a 500.
    res = Error(400, absl::StrCat("Wrong input: ", e.what()));
  }
  const double seconds = Nanos(start, std::chrono::steady_clock::now()) / 1e9;
  // The envelope's keys are dumped in order, "time" last: fill in the
  // measured time without parsing the body again.
  static constexpr std::string_view kZeroTime = "\"time\":0.0}";
  if (res.body.size() >= kZeroTime.size() &&
      std::string_view(res.body).substr(res.body.size() - kZeroTime.size()) == kZeroTime) {
    res.body.resize(res.body.size() - kZeroTime.size());
    absl::StrAppend(&res.body, "\"time\":", seconds, "}");
  }
  metrics_->Observe(std::string(label), res.status, seconds);
  return res;
}

bool QdrantApi::IsWrite(const HttpRequest& r) {
  PathParams params;
  if (const Route<Handler>* route = FindRoute(Routes(), r, &params)) {
    return route->access == Access::kWrite;
  }
  if (r.segments.size() >= 3 && r.segments[0] == "collections") {
    const CollectionRoute* route = FindRoute(CollectionRoutes(), r, &params);
    return route != nullptr && route->access == Access::kWrite;
  }
  return false;
}

HttpResponse QdrantApi::Dispatch(const HttpRequest& r, std::string_view* label) {
  PathParams params;
  const Route<Handler>* route = FindRoute(Routes(), r, &params);
  const std::string key = ApiKeyOf(r);
  const Caller caller = CallerOf(key);
  if (caller == Caller::kNone && (route == nullptr || route->access != Access::kOpen)) {
    *label = "auth";
    return Error(401, key.empty() ? "Must provide an API key or an Authorization bearer token"
                                  : "Invalid API key or JWT");
  }
  if (route != nullptr) {
    *label = route->metrics_label();
    if (route->access == Access::kWrite && caller != Caller::kWriter) return Forbidden();
    return (this->*route->handler)(r, params);
  }
  if (r.segments.size() >= 3 && r.segments[0] == "collections") {
    return DispatchInCollection(r, caller, label);
  }
  return NoRoute(r);
}

HttpResponse QdrantApi::DispatchInCollection(const HttpRequest& r, Caller caller,
                                             std::string_view* label) {
  // The collection and ?timeout come before the rest of the path: a missing
  // collection is 404 whatever follows its name.
  const std::string& name = r.segments[1];
  std::shared_ptr<Collection> c = collections_->Get(name);
  if (c == nullptr) {
    *label = "/collections/{name}/...";
    return NoCollection(name);
  }
  absl::StatusOr<std::chrono::steady_clock::time_point> deadline =
      DeadlineOf(r, options_.request_timeout);
  if (!deadline.ok()) return FromStatus(deadline.status());
  PathParams params;
  const CollectionRoute* route = FindRoute(CollectionRoutes(), r, &params);
  if (route == nullptr) return NoRoute(r);
  absl::StatusOr<Json> body = ParseBody(r.body);
  if (!body.ok()) return FromStatus(body.status());
  *label = route->metrics_label();
  if (route->access == Access::kWrite && caller != Caller::kWriter) return Forbidden();
  const CollectionCall call{r, params, *c, *body, *metrics_, *deadline};
  absl::StatusOr<Json> result = route->handler(call);
  if (!result.ok()) return FromStatus(result.status());
  return Ok(*result, 0);
}

HttpResponse QdrantApi::Banner(const HttpRequest& r, const PathParams& params) {
  HttpResponse res;
  res.body = Json{{"title", "cairn - vector search engine"},
                  {"version", kQdrantApiVersion},
                  {"cairn_version", kCairnVersion}}
                 .dump();
  return res;
}

HttpResponse QdrantApi::Probe(const HttpRequest& r, const PathParams& params) {
  HttpResponse res;
  res.content_type = "text/plain";
  res.body = r.segments[0] + " check passed";
  return res;
}

HttpResponse QdrantApi::MetricsPage(const HttpRequest& r, const PathParams& params) {
  HttpResponse res;
  res.content_type = "text/plain; version=0.0.4";
  res.body = metrics_->Render();
  for (const std::string& name : collections_->Names()) {
    auto c = collections_->Get(name);
    if (c == nullptr) continue;
    const LiveStats st = c->index_stats();
    const PointStoreStats ps = c->store_stats();
    const std::string l = absl::StrCat("{collection=\"", name, "\"}");
    absl::StrAppend(&res.body, "cairn_collection_points", l, " ", c->points_count(), "\n");
    absl::StrAppend(&res.body, "cairn_index_live_heads", l, " ", st.live_heads, "\n");
    absl::StrAppend(&res.body, "cairn_index_resident_bytes", l, " ", st.resident_bytes, "\n");
    absl::StrAppend(&res.body, "cairn_index_posting_file_bytes", l, " ", st.store.file_bytes, "\n");
    absl::StrAppend(&res.body, "cairn_index_wal_bytes", l, " ", st.wal_bytes, "\n");
    absl::StrAppend(&res.body, "cairn_index_buffered_vectors", l, " ", st.buffered, "\n");
    absl::StrAppend(&res.body, "cairn_index_splits_total", l, " ", st.splits, "\n");
    absl::StrAppend(&res.body, "cairn_index_merges_total", l, " ", st.merges, "\n");
    absl::StrAppend(&res.body, "cairn_point_store_file_bytes", l, " ", ps.file_bytes, "\n");
    absl::StrAppend(&res.body, "cairn_point_store_ram_bytes", l, " ", ps.ram_bytes, "\n");
  }
  return res;
}

HttpResponse QdrantApi::ListCollections(const HttpRequest& r, const PathParams& params) {
  Json list = Json::array();
  for (const std::string& name : collections_->Names()) list.push_back({{"name", name}});
  return Ok(Json{{"collections", list}}, 0);
}

HttpResponse QdrantApi::GetCollection(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  auto c = collections_->Get(name);
  if (c == nullptr) return NoCollection(name);
  return Ok(CollectionInfo(*c), 0);
}

HttpResponse QdrantApi::CreateCollection(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  auto body = ParseBody(r.body);
  if (!body.ok()) return FromStatus(body.status());
  absl::Status st;
  if (body->contains("cairn") && (*body)["cairn"].is_object() &&
      (*body)["cairn"].contains("index")) {
    const Json& ix = (*body)["cairn"]["index"];
    if (!ix.is_string()) return Error(400, "Wrong input: cairn.index: expected a path");
    st = collections_->CreateFromIndex(name, ix.get<std::string>(), CollectionConfig());
  } else {
    auto config = ParseCollectionConfig(*body);
    if (!config.ok()) return FromStatus(config.status());
    st = collections_->Create(name, *config);
  }
  if (!st.ok()) return FromStatus(st);
  return Ok(true, 0);
}

HttpResponse QdrantApi::DropCollection(const HttpRequest& r, const PathParams& params) {
  absl::Status st = collections_->Drop(std::string(params.Get("name")));
  if (absl::IsNotFound(st)) return Ok(false, 0);  // Qdrant answers false
  if (!st.ok()) return FromStatus(st);
  return Ok(true, 0);
}

HttpResponse QdrantApi::UpdateCollection(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  std::shared_ptr<Collection> c = collections_->Get(name);
  if (c == nullptr) return NoCollection(name);
  Json body;
  if (!r.body.empty()) {
    body = Json::parse(r.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) return Error(400, "expected a JSON object");
  }
  // Cairn's search defaults; Qdrant's optimizer and HNSW tuning have nothing
  // to change here.
  if (body.contains("cairn") && !body["cairn"].is_null()) {
    const Json& k = body["cairn"];
    if (!k.is_object()) return Error(400, "cairn: expected an object");
    for (const auto& [key, value] : k.items()) {
      if (key != "target_recall" && key != "max_postings") {
        return Error(400, absl::StrCat("cairn.", key, ": cannot be changed after creation"));
      }
    }
    auto target = OptNumber(k, "target_recall", "cairn");
    auto max_postings = OptUint(k, "max_postings", "cairn");
    if (!target.ok()) return Error(400, std::string(target.status().message()));
    if (!max_postings.ok()) return Error(400, std::string(max_postings.status().message()));
    absl::Status s = c->UpdateSearchDefaults(*target, *max_postings);
    if (absl::IsInvalidArgument(s)) return Error(400, std::string(s.message()));
    if (!s.ok()) return Error(500, std::string(s.message()));
  }
  return Ok(true, 0);
}

HttpResponse QdrantApi::CollectionExists(const HttpRequest& r, const PathParams& params) {
  return Ok(Json{{"exists", collections_->Get(std::string(params.Get("name"))) != nullptr}}, 0);
}

HttpResponse QdrantApi::MethodNotAllowed(const HttpRequest& r, const PathParams& params) {
  return Error(405, "method not allowed");
}

}  // namespace cairn
