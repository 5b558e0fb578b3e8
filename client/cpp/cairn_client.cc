#include "client/cpp/cairn_client.h"

#include <cstdlib>
#include <random>
#include <thread>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn::client {

namespace {

constexpr char kHttpStatusPayload[] = "cairn.client/http_status";

absl::string_view AV(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::StatusCode CodeOfHttp(int status) {
  switch (status) {
    case 400:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 409:
      return absl::StatusCode::kAlreadyExists;
    case 413:
    case 507:
      return absl::StatusCode::kResourceExhausted;
    case 503:
      return absl::StatusCode::kUnavailable;
    case 504:
      return absl::StatusCode::kDeadlineExceeded;
    default:
      return absl::StatusCode::kInternal;
  }
}

// The server's message: `status.error` of Qdrant's error body, else the body.
std::string ServerMessage(const HttpResponse& res) {
  Json j = Json::parse(res.body, nullptr, false);
  if (j.is_object() && j["status"].is_object() && j["status"]["error"].is_string()) {
    return j["status"]["error"].get<std::string>();
  }
  return res.body.substr(0, 500);
}

absl::Status HttpError(const HttpResponse& res) {
  absl::Status s(CodeOfHttp(res.status),
                 absl::StrCat("HTTP ", res.status, ": ", ServerMessage(res)));
  s.SetPayload(kHttpStatusPayload, absl::Cord(std::to_string(res.status)));
  return s;
}

// Collection names are [A-Za-z0-9_.-]; anything else is percent-encoded so
// that a bad name reaches the server (and its 400) instead of another route.
std::string PathSegment(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, "%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

std::string CollectionPath(std::string_view name, std::string_view suffix = {}) {
  return absl::StrCat("/collections/", PathSegment(name), AV(suffix));
}

Json IdsJson(std::span<const PointId> ids) {
  Json list = Json::array();
  for (const PointId& id : ids) list.push_back(PointIdToJson(id));
  return list;
}

}  // namespace

absl::Status ClientOptions::Validate() const {
  CAIRN_RETURN_IF_ERROR(ParseUrl(url).status());
  if (timeout.count() <= 0) return absl::InvalidArgumentError("timeout must be positive");
  if (retries < 0) return absl::InvalidArgumentError("retries must be >= 0");
  if (backoff.count() < 0 || max_backoff < backoff) {
    return absl::InvalidArgumentError("backoff must be >= 0 and <= max_backoff");
  }
  return absl::OkStatus();
}

ClientOptions ClientOptions::FromEnvironment() {
  ClientOptions o;
  if (const char* url = std::getenv("CAIRN_URL"); url != nullptr && *url != '\0') o.url = url;
  if (const char* key = std::getenv("CAIRN_API_KEY"); key != nullptr) o.api_key = key;
  return o;
}

int HttpStatusOf(const absl::Status& status) {
  const auto p = status.GetPayload(kHttpStatusPayload);
  int code = 0;
  if (!p.has_value() || !absl::SimpleAtoi(std::string(*p), &code)) return 0;
  return code;
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  CAIRN_RETURN_IF_ERROR(options.Validate());
  return std::unique_ptr<Client>(new Client(std::move(options)));
}

uint64_t Client::retries_done() const {
  absl::MutexLock lock(&mu_);
  return retries_done_;
}

absl::StatusOr<std::unique_ptr<HttpConnection>> Client::Lease() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_.empty()) {
      std::unique_ptr<HttpConnection> conn = std::move(idle_.back());
      idle_.pop_back();
      return conn;
    }
  }
  HttpConnectionOptions o;
  o.api_key = options_.api_key;
  o.default_timeout = options_.timeout;
  o.max_response_bytes = options_.max_response_bytes;
  return HttpConnection::Create(options_.url, o);
}

void Client::Return(std::unique_ptr<HttpConnection> conn) {
  absl::MutexLock lock(&mu_);
  if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(conn));
}

absl::StatusOr<HttpResponse> Client::Send(std::string_view method, std::string_view target,
                                          std::string_view body, bool idempotent) {
  const int attempts = 1 + (idempotent ? options_.retries : 0);
  thread_local std::minstd_rand jitter(std::random_device{}());
  for (int attempt = 0;; ++attempt) {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<HttpConnection> conn, Lease());
    absl::StatusOr<HttpResponse> res = conn->Request(method, target, body);
    // A connection that failed is closed by Request(); it reconnects on use.
    Return(std::move(conn));
    const bool retryable = res.ok() ? res->status == 503 : absl::IsUnavailable(res.status());
    if (!retryable || attempt + 1 >= attempts) return res;
    {
      absl::MutexLock lock(&mu_);
      ++retries_done_;
    }
    const auto wait =
        std::min(options_.max_backoff, options_.backoff * (1 << std::min(attempt, 16)));
    std::uniform_real_distribution<double> half_to_one(0.5, 1.0);
    std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(
        static_cast<double>(wait.count()) * half_to_one(jitter)));
  }
}

absl::StatusOr<Json> Client::CallRaw(std::string_view method, std::string_view target,
                                     std::string_view body, bool idempotent) {
  CAIRN_ASSIGN_OR_RETURN(HttpResponse res, Send(method, target, body, idempotent));
  if (res.status >= 400) return HttpError(res);
  if (res.body.empty()) return Json();
  Json j = Json::parse(res.body, nullptr, false);
  if (j.is_discarded()) {
    return absl::InternalError(absl::StrCat(AV(method), " ", AV(target),
                                            ": the answer is not JSON: ", res.body.substr(0, 200)));
  }
  if (j.is_object() && j.contains("result") && j.contains("status")) return j["result"];
  return j;
}

absl::StatusOr<Json> Client::Call(std::string_view method, std::string_view target,
                                  const Json* body, bool idempotent) {
  return CallRaw(method, target, body == nullptr ? std::string() : body->dump(), idempotent);
}

absl::StatusOr<std::vector<std::string>> Client::ListCollections() {
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("GET", "/collections", nullptr, true));
  std::vector<std::string> names;
  if (!r.is_object() || !r["collections"].is_array()) {
    return absl::InternalError("unexpected answer to GET /collections");
  }
  for (const Json& c : r["collections"]) names.push_back(c.value("name", ""));
  return names;
}

absl::StatusOr<bool> Client::CollectionExists(std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("GET", CollectionPath(name, "/exists"), nullptr, true));
  return r.is_object() && r.value("exists", false);
}

absl::StatusOr<CollectionInfo> Client::GetCollection(std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("GET", CollectionPath(name), nullptr, true));
  return CollectionInfo::FromJson(r);
}

absl::Status Client::CreateCollection(std::string_view name, const CollectionConfig& config) {
  CAIRN_RETURN_IF_ERROR(config.Validate());
  const Json body = config.ToJson();
  return Call("PUT", CollectionPath(name), &body, false).status();
}

absl::StatusOr<bool> Client::DeleteCollection(std::string_view name) {
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("DELETE", CollectionPath(name), nullptr, false));
  return r.is_boolean() && r.get<bool>();
}

absl::Status Client::UpsertBody(std::string_view name, std::string_view body) {
  return CallRaw("PUT", CollectionPath(name, "/points?wait=true"), body, true).status();
}

absl::Status Client::Upsert(std::string_view name, std::span<const Point> points, size_t batch_size,
                            const std::optional<std::string>& vector_name) {
  if (batch_size == 0) return absl::InvalidArgumentError("batch_size must be positive");
  std::string body;
  for (size_t i = 0; i < points.size(); i += batch_size) {
    body.clear();
    const size_t n = std::min(batch_size, points.size() - i);
    CAIRN_RETURN_IF_ERROR(AppendUpsertBody(points.data() + i, n, vector_name, &body));
    CAIRN_RETURN_IF_ERROR(UpsertBody(name, body));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Record>> Client::Retrieve(std::string_view name,
                                                     std::span<const PointId> ids,
                                                     bool with_payload, bool with_vector) {
  const Json body = {
      {"ids", IdsJson(ids)}, {"with_payload", with_payload}, {"with_vector", with_vector}};
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("POST", CollectionPath(name, "/points"), &body, true));
  if (!r.is_array()) return absl::InternalError("unexpected answer to a retrieve");
  std::vector<Record> out;
  for (const Json& j : r) {
    CAIRN_ASSIGN_OR_RETURN(Record rec, RecordFromJson(j));
    out.push_back(std::move(rec));
  }
  return out;
}

absl::StatusOr<ScrollPage> Client::Scroll(std::string_view name, const ScrollRequest& request) {
  const Json body = request.ToJson();
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("POST", CollectionPath(name, "/points/scroll"), &body, true));
  if (!r.is_object() || !r["points"].is_array()) {
    return absl::InternalError("unexpected answer to a scroll");
  }
  ScrollPage page;
  for (const Json& j : r["points"]) {
    CAIRN_ASSIGN_OR_RETURN(Record rec, RecordFromJson(j));
    page.points.push_back(std::move(rec));
  }
  if (!r["next_page_offset"].is_null()) {
    CAIRN_ASSIGN_OR_RETURN(PointId next, PointIdFromJson(r["next_page_offset"]));
    page.next_page_offset = std::move(next);
  }
  return page;
}

PointIterator Client::ScrollAll(std::string_view name, ScrollRequest request) {
  return PointIterator(this, std::string(name), std::move(request));
}

absl::StatusOr<bool> PointIterator::Next(Record* out) {
  while (pos_ == page_.size()) {
    if (last_page_) return false;
    CAIRN_ASSIGN_OR_RETURN(ScrollPage page, client_->Scroll(name_, request_));
    page_ = std::move(page.points);
    pos_ = 0;
    request_.offset = page.next_page_offset;
    last_page_ = !page.next_page_offset.has_value();
  }
  *out = std::move(page_[pos_++]);
  return true;
}

absl::StatusOr<uint64_t> Client::Count(std::string_view name, const Json& filter) {
  Json body = {{"exact", true}};
  if (!filter.is_null()) body["filter"] = filter;
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("POST", CollectionPath(name, "/points/count"), &body, true));
  if (!r.is_object() || !r["count"].is_number_unsigned()) {
    return absl::InternalError("unexpected answer to a count");
  }
  return r["count"].get<uint64_t>();
}

absl::Status Client::PointsWrite(std::string_view name, std::string_view suffix,
                                 std::string_view method, Json body, std::span<const PointId> ids) {
  body["points"] = IdsJson(ids);
  return Call(method, CollectionPath(name, absl::StrCat("/points", AV(suffix), "?wait=true")),
              &body, true)
      .status();
}

absl::Status Client::DeletePoints(std::string_view name, std::span<const PointId> ids) {
  return PointsWrite(name, "/delete", "POST", Json::object(), ids);
}

absl::Status Client::DeleteByFilter(std::string_view name, const Json& filter) {
  if (!filter.is_object()) return absl::InvalidArgumentError("a filter is a JSON object");
  const Json body = {{"filter", filter}};
  return Call("POST", CollectionPath(name, "/points/delete?wait=true"), &body, true).status();
}

absl::Status Client::SetPayload(std::string_view name, const Json& payload,
                                std::span<const PointId> ids, std::string_view key) {
  Json body = {{"payload", payload}};
  if (!key.empty()) body["key"] = std::string(key);
  return PointsWrite(name, "/payload", "POST", std::move(body), ids);
}

absl::Status Client::OverwritePayload(std::string_view name, const Json& payload,
                                      std::span<const PointId> ids) {
  return PointsWrite(name, "/payload", "PUT", Json{{"payload", payload}}, ids);
}

absl::Status Client::DeletePayload(std::string_view name, const std::vector<std::string>& keys,
                                   std::span<const PointId> ids) {
  return PointsWrite(name, "/payload/delete", "POST", Json{{"keys", keys}}, ids);
}

absl::StatusOr<std::vector<ScoredPoint>> Client::Query(std::string_view name,
                                                       const QueryRequest& request) {
  CAIRN_RETURN_IF_ERROR(request.Validate());
  const Json body = request.ToJson();
  CAIRN_ASSIGN_OR_RETURN(Json r, Call("POST", CollectionPath(name, "/points/query"), &body, true));
  if (!r.is_object() || !r["points"].is_array()) {
    return absl::InternalError("unexpected answer to a query");
  }
  std::vector<ScoredPoint> out;
  for (const Json& j : r["points"]) {
    CAIRN_ASSIGN_OR_RETURN(ScoredPoint p, ScoredPointFromJson(j));
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace cairn::client
