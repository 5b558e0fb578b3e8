// Qdrant's alias routes: POST /collections/aliases, GET /aliases and GET
// /collections/{name}/aliases (alias_store.h keeps them).
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/api_json.h"
#include "server/qdrant_api.h"

namespace cairn {

namespace {

absl::StatusOr<std::string> NameField(const Json& obj, const char* key, const std::string& where) {
  if (!obj.contains(key) || !obj[key].is_string()) {
    return absl::InvalidArgumentError(absl::StrCat(where, ".", key, ": expected a name"));
  }
  return obj[key].get<std::string>();
}

absl::StatusOr<AliasAction> ParseAction(const Json& j, const std::string& where) {
  if (!j.is_object() || j.size() != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": expected one of create_alias, delete_alias, rename_alias"));
  }
  const std::string kind = j.begin().key();
  const Json& body = j.begin().value();
  const std::string at = absl::StrCat(where, ".", kind);
  if (!body.is_object()) return absl::InvalidArgumentError(at + ": expected an object");
  AliasAction a;
  if (kind == "create_alias") {
    a.kind = AliasAction::Kind::kCreate;
    CAIRN_ASSIGN_OR_RETURN(a.target, NameField(body, "collection_name", at));
    CAIRN_ASSIGN_OR_RETURN(a.alias, NameField(body, "alias_name", at));
    CAIRN_RETURN_IF_ERROR(CollectionManager::ValidateName(a.alias));
  } else if (kind == "delete_alias") {
    a.kind = AliasAction::Kind::kDelete;
    CAIRN_ASSIGN_OR_RETURN(a.alias, NameField(body, "alias_name", at));
  } else if (kind == "rename_alias") {
    a.kind = AliasAction::Kind::kRename;
    CAIRN_ASSIGN_OR_RETURN(a.alias, NameField(body, "old_alias_name", at));
    CAIRN_ASSIGN_OR_RETURN(a.target, NameField(body, "new_alias_name", at));
    CAIRN_RETURN_IF_ERROR(CollectionManager::ValidateName(a.target));
  } else {
    return absl::InvalidArgumentError(absl::StrCat(where, ": unknown action ", kind));
  }
  return a;
}

Json AliasList(const std::map<std::string, std::string>& aliases, const std::string* only) {
  Json list = Json::array();
  for (const auto& [alias, target] : aliases) {
    if (only != nullptr && target != *only) continue;
    list.push_back({{"alias_name", alias}, {"collection_name", target}});
  }
  return Json{{"aliases", list}};
}

}  // namespace

HttpResponse QdrantApi::UpdateAliases(const HttpRequest& r, const PathParams& params) {
  absl::StatusOr<Json> body = ParseBody(r.body);
  if (!body.ok()) return Answer(body.status());
  if (!body->contains("actions") || !(*body)["actions"].is_array()) {
    return Error(400, "Wrong input: actions: expected an array");
  }
  std::vector<AliasAction> actions;
  for (size_t i = 0; i < (*body)["actions"].size(); ++i) {
    auto a = ParseAction((*body)["actions"][i], absl::StrCat("actions[", i, "]"));
    if (!a.ok()) return Answer(a.status());
    actions.push_back(std::move(*a));
  }
  absl::Status s = collections_->UpdateAliases(actions);
  if (!s.ok()) return Answer(s);
  return Answer(Json(true));
}

HttpResponse QdrantApi::ListAliases(const HttpRequest& r, const PathParams& params) {
  return Answer(AliasList(collections_->Aliases(), nullptr));
}

HttpResponse QdrantApi::ListCollectionAliases(const HttpRequest& r, const PathParams& params) {
  const std::string name(params.Get("name"));
  std::optional<std::string> real = collections_->RealName(name);
  if (!real.has_value()) {
    return Error(404, absl::StrCat("Not found: Collection `", name, "` doesn't exist!"));
  }
  return Answer(AliasList(collections_->Aliases(), &*real));
}

}  // namespace cairn
