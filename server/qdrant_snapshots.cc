// Qdrant's collection snapshot routes (collection_snapshot.h says what a
// snapshot is): create, list, download, delete, recover from a file on
// this server (file:// under the server's snapshots directory) or from an
// uploaded multipart form.
#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "server/api_json.h"
#include "server/collection_snapshot.h"
#include "server/qdrant_api.h"
#include "storage/sha256.h"

namespace cairn {

namespace {

Json InfoJson(const SnapshotInfo& s) {
  return Json{{"name", s.name},
              {"creation_time", s.creation_time},
              {"size", s.size},
              {"checksum", s.checksum}};
}

// The `checksum` a recovery may name must be the archive's SHA-256.
absl::Status CheckChecksum(std::string_view bytes, const std::string& want) {
  if (want.empty()) return absl::OkStatus();
  Sha256 sha;
  sha.Update(bytes);
  if (sha.HexDigest() != want) {
    return absl::InvalidArgumentError("snapshot: checksum does not match the file's SHA-256");
  }
  return absl::OkStatus();
}

// The bytes of the form part named "snapshot" of a multipart/form-data body.
absl::StatusOr<std::string_view> SnapshotPart(const HttpRequest& r) {
  const std::string type = r.header("content-type");
  const size_t at = type.find("boundary=");
  if (!absl::StartsWith(type, "multipart/form-data") || at == std::string::npos) {
    return absl::InvalidArgumentError("expected a multipart/form-data body with a boundary");
  }
  std::string boundary = type.substr(at + 9);
  if (size_t semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
  if (boundary.size() >= 2 && boundary.front() == '"')
    boundary = boundary.substr(1, boundary.size() - 2);
  const std::string delimiter = "--" + boundary;
  const std::string_view body = r.body;
  size_t pos = body.find(delimiter);
  while (pos != std::string_view::npos) {
    const size_t headers = pos + delimiter.size() + 2;  // past CRLF
    const size_t data = body.find("\r\n\r\n", headers);
    if (data == std::string_view::npos) break;
    const std::string_view head = body.substr(headers, data - headers);
    const size_t end = body.find("\r\n" + delimiter, data + 4);
    if (end == std::string_view::npos) break;
    if (head.find("name=\"snapshot\"") != std::string_view::npos) {
      return body.substr(data + 4, end - data - 4);
    }
    pos = end + 2;
  }
  return absl::InvalidArgumentError("no form field named \"snapshot\"");
}

}  // namespace

HttpResponse QdrantApi::CreateSnapshot(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  auto real = collections_->RealName(name);
  std::shared_ptr<Collection> c = collections_->Get(name);
  if (c == nullptr || !real.has_value()) {
    return Error(404, absl::StrCat("Not found: Collection `", name, "` doesn't exist!"));
  }
  auto info = cairn::CreateSnapshot(Env::Default(), *c, *real,
                                    SnapshotDirOf(collections_->data_dir(), *real));
  if (!info.ok()) return Answer(info.status());
  return Answer(InfoJson(*info));
}

HttpResponse QdrantApi::ListSnapshots(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  auto real = collections_->RealName(name);
  if (!real.has_value()) {
    return Error(404, absl::StrCat("Not found: Collection `", name, "` doesn't exist!"));
  }
  auto list = cairn::ListSnapshots(Env::Default(), SnapshotDirOf(collections_->data_dir(), *real));
  if (!list.ok()) return Answer(list.status());
  Json out = Json::array();
  for (const SnapshotInfo& s : *list) out.push_back(InfoJson(s));
  return Answer(out);
}

HttpResponse QdrantApi::DownloadSnapshot(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  const std::string snapshot(params.Get("snapshot"));
  if (absl::Status s = ValidateSnapshotName(snapshot); !s.ok()) return Answer(s);
  const std::string collection = collections_->RealName(name).value_or(name);
  const std::string path = SnapshotDirOf(collections_->data_dir(), collection) + "/" + snapshot;
  if (!Env::Default()->FileExists(path)) {
    return Error(404, absl::StrCat("Not found: Snapshot ", snapshot, " not found"));
  }
  auto bytes = Env::Default()->ReadFile(path);
  if (!bytes.ok()) return Answer(bytes.status());
  HttpResponse res;
  res.content_type = "application/octet-stream";
  res.body = std::move(*bytes);
  return res;
}

HttpResponse QdrantApi::DeleteSnapshot(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  const std::string collection = collections_->RealName(name).value_or(name);
  absl::Status s =
      cairn::DeleteSnapshot(Env::Default(), SnapshotDirOf(collections_->data_dir(), collection),
                            std::string(params.Get("snapshot")));
  if (!s.ok()) return Answer(s);
  return Answer(Json(true));
}

HttpResponse QdrantApi::RecoverSnapshot(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  absl::StatusOr<Json> body = ParseBody(r.body);
  if (!body.ok()) return Answer(body.status());
  if (!body->contains("location") || !(*body)["location"].is_string()) {
    return Error(400, "Wrong input: location: expected a file:// URL");
  }
  for (const auto& [key, value] : body->items()) {
    // priority only orders replicas, of which a single server has none.
    if (key != "location" && key != "checksum" && key != "priority" && key != "api_key") {
      return Error(400, absl::StrCat("Wrong input: ", key, " is not supported"));
    }
  }
  const std::string location = (*body)["location"].get<std::string>();
  if (!absl::StartsWith(location, "file://")) {
    return Error(400, "Wrong input: location: only file:// URLs on this server are supported");
  }
  // Only files under the server's snapshots directory: a request must not
  // make the server read any file it can.
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(collections_->data_dir() + "/snapshots", ec);
  const fs::path path = fs::weakly_canonical(location.substr(7), ec);
  const std::string rel = path.lexically_relative(root).string();
  if (ec || rel.empty() || absl::StartsWith(rel, "..")) {
    return Error(400, absl::StrCat("Wrong input: location: ", location,
                                   " is not under the server's snapshots directory"));
  }
  auto bytes = Env::Default()->ReadFile(path.string());
  if (!bytes.ok()) {
    return Error(
        400, absl::StrCat("Wrong input: cannot read ", location, ": ", bytes.status().message()));
  }
  std::string checksum;
  if (body->contains("checksum") && (*body)["checksum"].is_string()) {
    checksum = (*body)["checksum"].get<std::string>();
  }
  if (absl::Status s = CheckChecksum(*bytes, checksum); !s.ok()) return Answer(s);
  absl::Status s = collections_->Recover(name, *bytes);
  if (!s.ok()) return Answer(s);
  return Answer(Json(true));
}

HttpResponse QdrantApi::UploadSnapshot(const HttpRequest& r, const PathParams& params) {
  auto part = SnapshotPart(r);
  if (!part.ok()) return Answer(part.status());
  std::string checksum;
  if (auto it = r.query.find("checksum"); it != r.query.end()) checksum = it->second;
  if (absl::Status s = CheckChecksum(*part, checksum); !s.ok()) return Answer(s);
  absl::Status s = collections_->Recover(std::string(params.Get("name")), *part);
  if (!s.ok()) return Answer(s);
  return Answer(Json(true));
}

}  // namespace cairn
