// Routing, auth, the envelope and the collection endpoints. Points and
// search endpoints: qdrant_points.cc.
#include "server/qdrant_api.h"

#include <chrono>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/api_json.h"
#include "server/qdrant_points.h"
#include "index/spann/spann_limits.h"

namespace cairn {

namespace {

int HttpStatusOf(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists: return 409;
    case absl::StatusCode::kResourceExhausted: return 507;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string Prefix(const absl::Status& s) {
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
  r.body = Json{{"result", result}, {"status", "ok"}, {"time", seconds}}.dump();
  return r;
}

HttpResponse FromStatus(const absl::Status& s) {
  if (s.code() == absl::StatusCode::kUnauthenticated ||
      s.code() == absl::StatusCode::kPermissionDenied) {
    return QdrantApi::Error(HttpStatusOf(s), std::string(s.message()));
  }
  return QdrantApi::Error(HttpStatusOf(s), Prefix(s) + std::string(s.message()));
}

bool KeyMatches(const std::string& given, const std::string& want) {
  if (given.size() != want.size()) return false;
  unsigned char diff = 0;  // constant time: no early exit on the first mismatch
  for (size_t i = 0; i < want.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ want[i]);
  return diff == 0;
}

absl::StatusOr<CollectionConfig> ParseCollectionConfig(const Json& body) {
  CollectionConfig c;
  if (!body.contains("vectors") || !body["vectors"].is_object()) {
    return absl::InvalidArgumentError("vectors: expected {\"size\": N, \"distance\": \"Cosine\"}");
  }
  const Json& v = body["vectors"];
  if (!v.contains("size")) {
    return absl::InvalidArgumentError(
        "vectors: named vectors are not supported; expected {\"size\": N, \"distance\": ...}");
  }
  CAIRN_ASSIGN_OR_RETURN(auto size, OptUint(v, "size", "vectors"));
  if (!size.has_value() || *size == 0 || *size > 65536) {
    return absl::InvalidArgumentError("vectors.size: expected an integer in [1, 65536]");
  }
  c.size = *size;
  if (!v.contains("distance") || !v["distance"].is_string()) {
    return absl::InvalidArgumentError("vectors.distance: expected Cosine, Euclid or Dot");
  }
  CAIRN_ASSIGN_OR_RETURN(c.distance, ParseDistance(v["distance"].get<std::string>()));
  if (body.contains("cairn") && body["cairn"].is_object()) {
    CAIRN_ASSIGN_OR_RETURN(auto mp, OptUint(body["cairn"], "max_postings", "cairn"));
    if (mp.has_value()) {
      if (*mp == 0 || *mp > kMaxPostingsPerQuery) {
        return absl::InvalidArgumentError(
            absl::StrCat("cairn.max_postings: expected 1..", kMaxPostingsPerQuery));
      }
      c.max_postings = *mp;
    }
    CAIRN_ASSIGN_OR_RETURN(auto sync, OptBool(body["cairn"], "sync_writes", "cairn"));
    if (sync.has_value()) c.sync_writes = *sync;
  }
  return c;
}

Json CollectionInfo(const Collection& c) {
  const uint64_t n = c.points_count();
  const LiveStats st = c.index_stats();
  return Json{
      {"status", "green"},
      {"optimizer_status", "ok"},
      {"indexed_vectors_count", n},
      {"points_count", n},
      {"segments_count", 1},
      {"config",
       {{"params",
         {{"vectors", {{"size", c.config().size}, {"distance", DistanceName(c.config().distance)}}},
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
      {"payload_schema", Json::object()},
      {"cairn",
       {{"max_postings", c.config().max_postings},
        {"live_heads", st.live_heads},
        {"splits", st.splits},
        {"merges", st.merges},
        {"buffered", st.buffered},
        {"wal_bytes", st.wal_bytes},
        {"posting_file_bytes", st.store.file_bytes},
        {"resident_bytes", st.resident_bytes}}}};
}

}  // namespace

HttpResponse QdrantApi::Error(int status, const std::string& message) {
  HttpResponse r;
  r.status = status;
  r.body = Json{{"status", {{"error", message}}}, {"time", 0.0}}.dump();
  return r;
}

QdrantApi::QdrantApi(CollectionManager* collections, ApiOptions options, Metrics* metrics)
    : collections_(collections), options_(std::move(options)), metrics_(metrics) {}

HttpResponse QdrantApi::Handle(const HttpRequest& r) {
  const auto start = std::chrono::steady_clock::now();
  std::string route = "unknown";
  bool read_only_ok = false;
  HttpResponse res;
  // Auth before anything else, except the probes and the banner.
  const bool open_route =
      r.segments.empty() ||
      (r.segments.size() == 1 && (r.segments[0] == "healthz" || r.segments[0] == "readyz" ||
                                  r.segments[0] == "livez"));
  std::string key = r.header("api-key");
  if (key.empty()) {
    const std::string auth = r.header("authorization");
    if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
  }
  const bool auth = !options_.api_key.empty() || !options_.read_only_api_key.empty();
  const bool full = !auth || (!options_.api_key.empty() && KeyMatches(key, options_.api_key));
  const bool read_only = !full && !options_.read_only_api_key.empty() &&
                         KeyMatches(key, options_.read_only_api_key);
  if (!open_route && !full && !read_only) {
    res = Error(401, key.empty() ? "Must provide an API key or an Authorization bearer token"
                                 : "Invalid API key or JWT");
    route = "auth";
  } else {
    res = Dispatch(r, &route, &read_only_ok);  // refuses writes to a read-only key
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The envelope's keys are dumped in order, "time" last: fill in the
  // measured time without parsing the body again.
  static constexpr std::string_view kZeroTime = "\"time\":0.0}";
  if (res.body.size() >= kZeroTime.size() &&
      std::string_view(res.body).substr(res.body.size() - kZeroTime.size()) == kZeroTime) {
    res.body.resize(res.body.size() - kZeroTime.size());
    absl::StrAppend(&res.body, "\"time\":", seconds, "}");
  }
  metrics_->Observe(route, res.status, seconds);
  return res;
}

HttpResponse QdrantApi::Dispatch(const HttpRequest& r, std::string* route, bool* read_only_ok) {
  const auto& s = r.segments;
  const std::string& m = r.method;
  // Whether the caller holds only the read-only key: writes are refused
  // before they run.
  std::string key = r.header("api-key");
  if (key.empty()) {
    const std::string auth = r.header("authorization");
    if (auth.rfind("Bearer ", 0) == 0) key = auth.substr(7);
  }
  const bool auth = !options_.api_key.empty() || !options_.read_only_api_key.empty();
  const bool writer = !auth || (!options_.api_key.empty() && KeyMatches(key, options_.api_key));
  auto write_guard = [&]() -> bool { return writer; };
  auto forbidden = [&] { return Error(403, "Forbidden: the read-only API key cannot write"); };

  if (s.empty()) {
    *route = "/";
    if (m != "GET") return Error(405, "method not allowed");
    HttpResponse res;
    res.body = Json{{"title", "cairn - vector search engine"},
                    {"version", kQdrantApiVersion},
                    {"cairn_version", kCairnVersion}}
                   .dump();
    return res;
  }
  if (s.size() == 1 && (s[0] == "healthz" || s[0] == "livez" || s[0] == "readyz")) {
    *route = "/" + s[0];
    HttpResponse res;
    res.content_type = "text/plain";
    res.body = s[0] + " check passed";
    return res;
  }
  if (s.size() == 1 && s[0] == "metrics") {
    *route = "/metrics";
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
  if (s[0] != "collections") {
    *route = "unknown";
    return Error(404, absl::StrCat("Not found: no route ", r.method, " ", r.target.substr(0, r.target.find('?'))));
  }
  if (s.size() == 1) {
    *route = "/collections";
    if (m != "GET") return Error(405, "method not allowed");
    Json list = Json::array();
    for (const std::string& name : collections_->Names()) list.push_back({{"name", name}});
    return Ok(Json{{"collections", list}}, 0);
  }
  const std::string& name = s[1];
  if (s.size() == 2) {
    *route = "/collections/{name}";
    if (m == "GET") {
      *read_only_ok = true;
      auto c = collections_->Get(name);
      if (c == nullptr) return Error(404, absl::StrCat("Not found: Collection `", name, "` doesn't exist!"));
      return Ok(CollectionInfo(*c), 0);
    }
    if (!write_guard()) return forbidden();
    if (m == "PUT") {
      auto body = ParseBody(r.body);
      if (!body.ok()) return FromStatus(body.status());
      absl::Status st;
      if (body->contains("cairn") && (*body)["cairn"].is_object() &&
          (*body)["cairn"].contains("index")) {
        const Json& ix = (*body)["cairn"]["index"];
        if (!ix.is_string()) return Error(400, "Wrong input: cairn.index: expected a path");
        CollectionConfig c;
        st = collections_->CreateFromIndex(name, ix.get<std::string>(), c);
      } else {
        auto config = ParseCollectionConfig(*body);
        if (!config.ok()) return FromStatus(config.status());
        st = collections_->Create(name, *config);
      }
      if (!st.ok()) return FromStatus(st);
      return Ok(true, 0);
    }
    if (m == "DELETE") {
      absl::Status st = collections_->Drop(name);
      if (absl::IsNotFound(st)) return Ok(false, 0);  // Qdrant answers false
      if (!st.ok()) return FromStatus(st);
      return Ok(true, 0);
    }
    if (m == "PATCH") {
      if (collections_->Get(name) == nullptr) {
        return Error(404, absl::StrCat("Not found: Collection `", name, "` doesn't exist!"));
      }
      return Ok(true, 0);  // optimizer and HNSW tuning: nothing to change here
    }
    return Error(405, "method not allowed");
  }
  auto c = collections_->Get(name);
  if (s.size() == 3 && s[2] == "exists") {
    *route = "/collections/{name}/exists";
    *read_only_ok = true;
    return Ok(Json{{"exists", c != nullptr}}, 0);
  }
  if (c == nullptr) {
    *route = "/collections/{name}/...";
    return Error(404, absl::StrCat("Not found: Collection `", name, "` doesn't exist!"));
  }
  auto timeout = std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      options_.request_timeout);
  if (auto it = r.query.find("timeout"); it != r.query.end()) {
    uint32_t secs = 0;
    if (!absl::SimpleAtoi(absl::string_view(it->second.data(), it->second.size()), &secs) ||
        secs == 0) {
      return Error(400, "Wrong input: timeout: expected a positive number of seconds");
    }
    timeout = std::chrono::seconds(secs);
  }
  PointsRequest pr{r, *c, *metrics_, route, read_only_ok,
                   std::chrono::steady_clock::now() + timeout};
  auto res = HandlePoints(pr, writer);
  if (!res.ok()) {
    if (absl::IsPermissionDenied(res.status())) return forbidden();
    return FromStatus(res.status());
  }
  return Ok(*res, 0);
}

}  // namespace cairn
