#include "server/alias_store.h"

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "nlohmann/json.hpp"
#include "storage/record_file.h"

namespace cairn {

namespace {

constexpr char kAliasMagic[] = "CAIRNALI";
constexpr uint32_t kAliasVersion = 1;

}  // namespace

absl::StatusOr<std::unique_ptr<AliasStore>> AliasStore::Open(Env* env, const std::string& path) {
  std::unique_ptr<AliasStore> s(new AliasStore(env, path));
  if (!env->FileExists(path)) return s;
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(env, path, kAliasMagic, kAliasVersion, nullptr));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(path, ": malformed alias table"));
  }
  absl::MutexLock lock(&s->mu_);
  for (const auto& [alias, target] : j.items()) {
    if (!target.is_string()) return absl::DataLossError(absl::StrCat(path, ": bad alias ", alias));
    s->aliases_[alias] = target.get<std::string>();
  }
  return s;
}

absl::Status AliasStore::Publish(std::map<std::string, std::string> next) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [alias, target] : next) j[alias] = target;
  CAIRN_RETURN_IF_ERROR(WriteRecordFile(env_, path_, kAliasMagic, kAliasVersion, j.dump()));
  absl::MutexLock lock(&mu_);
  aliases_ = std::move(next);
  return absl::OkStatus();
}

absl::Status AliasStore::Apply(const std::vector<AliasAction>& actions,
                               const std::function<bool(const std::string&)>& collection_exists) {
  absl::MutexLock write(&write_mu_);
  std::map<std::string, std::string> next = All();
  for (const AliasAction& a : actions) {
    switch (a.kind) {
      case AliasAction::Kind::kCreate:
        if (!collection_exists(a.target)) {
          return absl::NotFoundError(absl::StrCat("Collection `", a.target, "` doesn't exist!"));
        }
        if (collection_exists(a.alias)) {
          return absl::InvalidArgumentError(
              absl::StrCat("alias `", a.alias, "` is the name of a collection"));
        }
        next[a.alias] = a.target;
        break;
      case AliasAction::Kind::kDelete:
        if (next.erase(a.alias) == 0) {
          return absl::NotFoundError(absl::StrCat("Alias `", a.alias, "` doesn't exist!"));
        }
        break;
      case AliasAction::Kind::kRename: {
        auto it = next.find(a.alias);
        if (it == next.end()) {
          return absl::NotFoundError(absl::StrCat("Alias `", a.alias, "` doesn't exist!"));
        }
        if (next.contains(a.target)) {
          return absl::AlreadyExistsError(absl::StrCat("Alias `", a.target, "` already exists!"));
        }
        if (collection_exists(a.target)) {
          return absl::InvalidArgumentError(
              absl::StrCat("alias `", a.target, "` is the name of a collection"));
        }
        std::string target = it->second;
        next.erase(it);
        next[a.target] = std::move(target);
        break;
      }
    }
  }
  return Publish(std::move(next));
}

absl::Status AliasStore::RemoveCollection(const std::string& collection) {
  absl::MutexLock write(&write_mu_);
  std::map<std::string, std::string> next = All();
  const size_t before = next.size();
  std::erase_if(next, [&](const auto& kv) { return kv.second == collection; });
  if (next.size() == before) return absl::OkStatus();
  return Publish(std::move(next));
}

std::optional<std::string> AliasStore::Resolve(const std::string& alias) const {
  absl::MutexLock lock(&mu_);
  auto it = aliases_.find(alias);
  if (it == aliases_.end()) return std::nullopt;
  return it->second;
}

std::map<std::string, std::string> AliasStore::All() const {
  absl::MutexLock lock(&mu_);
  return aliases_;
}

}  // namespace cairn
