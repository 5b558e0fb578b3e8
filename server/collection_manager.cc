#include "server/collection_manager.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/collection_snapshot.h"

namespace cairn {

namespace fs = std::filesystem;

absl::Status CollectionManager::ValidateName(const std::string& name) {
  if (name.empty() || name.size() > 255 || name[0] == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat("collection name must be 1-255 characters and not start with '.'"));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) {
      return absl::InvalidArgumentError(
          absl::StrCat("collection name \"", name, "\" may only use letters, digits, '_', '-' and '.'"));
    }
  }
  return absl::OkStatus();
}

std::string CollectionManager::PathOf(const std::string& name) const {
  return data_dir_ + "/collections/" + name;
}

absl::StatusOr<std::unique_ptr<CollectionManager>> CollectionManager::Open(
    const std::string& data_dir) {
  std::unique_ptr<CollectionManager> m(new CollectionManager());
  m->data_dir_ = data_dir;
  std::error_code ec;
  fs::create_directories(data_dir + "/collections", ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create ", data_dir, "/collections: ", ec.message()));
  }
  // One server per data directory: a second one would replay and append to
  // the same logs.
  CAIRN_ASSIGN_OR_RETURN(m->lock_, DirLock::Acquire(data_dir, "cairn serve"));
  CAIRN_ASSIGN_OR_RETURN(m->aliases_, AliasStore::Open(Env::Default(), data_dir + "/aliases.json"));
  // A recovery cut between its renames: the new collection is complete.
  for (const auto& entry : fs::directory_iterator(data_dir + "/collections", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind(".recovering-", 0) != 0) continue;
    const std::string target = m->PathOf(name.substr(12));
    if (!fs::exists(target) && fs::exists(entry.path() / "collection.json")) {
      fs::rename(entry.path(), target, ec);
    } else {
      fs::remove_all(entry.path(), ec);
    }
  }
  for (const auto& entry : fs::directory_iterator(data_dir + "/collections", ec)) {
    if (!entry.is_directory()) continue;
    const std::string name = entry.path().filename().string();
    if (name.rfind(".dropped-", 0) == 0) {
      fs::remove_all(entry.path(), ec);  // a drop cut short
      continue;
    }
    if (!ValidateName(name).ok()) continue;
    if (!fs::exists(entry.path() / "collection.json")) {
      // A create that crashed before its config was written: never visible.
      std::fprintf(stderr, "cairn: removing incomplete collection %s\n", name.c_str());
      fs::remove_all(entry.path(), ec);
      continue;
    }
    auto c = Collection::Open(entry.path().string());
    if (!c.ok()) {
      return absl::Status(c.status().code(),
                          absl::StrCat("collection ", name, ": ", c.status().message()));
    }
    absl::MutexLock lock(&m->mu_);
    m->collections_[name] = std::move(*c);
  }
  if (ec) return absl::UnavailableError(absl::StrCat(data_dir, ": ", ec.message()));
  return m;
}

absl::Status CollectionManager::CreateWith(
    const std::string& name,
    const std::function<absl::StatusOr<std::unique_ptr<Collection>>(const std::string&)>& make) {
  CAIRN_RETURN_IF_ERROR(ValidateName(name));
  absl::MutexLock create(&create_mu_);
  if (Get(name) != nullptr) {
    return absl::AlreadyExistsError(
        absl::StrCat(aliases_->Resolve(name).has_value() ? "Alias `" : "Collection `", name,
                     "` already exists!"));
  }
  std::error_code ec;
  fs::remove_all(PathOf(name), ec);  // leftovers of a failed create
  auto c = make(PathOf(name));
  if (!c.ok()) {
    fs::remove_all(PathOf(name), ec);
    return c.status();
  }
  absl::MutexLock lock(&mu_);
  collections_[name] = std::move(*c);
  return absl::OkStatus();
}

absl::Status CollectionManager::Create(const std::string& name, const CollectionConfig& config) {
  return CreateWith(name, [&](const std::string& dir) { return Collection::Create(dir, config); });
}

absl::Status CollectionManager::CreateFromIndex(const std::string& name,
                                                const std::string& index_dir,
                                                const CollectionConfig& config) {
  return CreateWith(name, [&](const std::string& dir) {
    return Collection::CreateFromIndex(dir, index_dir, config);
  });
}

absl::Status CollectionManager::Drop(const std::string& name) {
  absl::MutexLock create(&create_mu_);
  std::shared_ptr<Collection> c;
  {
    absl::MutexLock lock(&mu_);
    auto it = collections_.find(name);
    if (it == collections_.end()) {
      return absl::NotFoundError(absl::StrCat("Collection `", name, "` doesn't exist!"));
    }
    c = std::move(it->second);
    collections_.erase(it);
  }
  // Rename first so a crash mid-removal never leaves a half collection that
  // Open would take; the config file goes first.
  const std::string doomed = absl::StrCat(data_dir_, "/collections/.dropped-", name);
  std::error_code ec;
  fs::remove_all(doomed, ec);
  fs::rename(PathOf(name), doomed, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot remove ", PathOf(name), ": ", ec.message()));
  if (absl::Status s = aliases_->RemoveCollection(name); !s.ok()) {
    // The collection is gone either way; its aliases then resolve to nothing.
    std::fprintf(stderr, "cairn: removing the aliases of %s: %s\n", name.c_str(),
                 std::string(s.message()).c_str());
  }
  c.reset();  // closes it unless a request still holds it; files go below
  fs::remove(doomed + "/collection.json", ec);
  fs::remove_all(doomed, ec);
  return absl::OkStatus();
}

absl::Status CollectionManager::Recover(const std::string& requested, std::string_view archive) {
  const std::string name = RealName(requested).value_or(requested);
  CAIRN_RETURN_IF_ERROR(ValidateName(name));
  const std::string staging = absl::StrCat(data_dir_, "/collections/.recovering-", name);
  std::error_code ec;
  fs::remove_all(staging, ec);
  auto fail = [&](const absl::Status& s) {
    fs::remove_all(staging, ec);
    return absl::IsInvalidArgument(s) || absl::IsDataLoss(s)
               ? absl::InvalidArgumentError(absl::StrCat("snapshot: ", s.message()))
               : s;
  };
  if (absl::Status s = RestoreSnapshot(Env::Default(), archive, staging); !s.ok()) return fail(s);
  {
    // Opening re-indexes every point and checks the point log.
    auto c = Collection::Open(staging);
    if (!c.ok()) return fail(c.status());
    if (absl::Status s = (*c)->Checkpoint(); !s.ok()) return fail(s);
  }
  absl::MutexLock create(&create_mu_);
  std::shared_ptr<Collection> old;
  {
    absl::MutexLock lock(&mu_);
    if (auto it = collections_.find(name); it != collections_.end()) {
      old = std::move(it->second);
      collections_.erase(it);
    }
  }
  const std::string doomed = absl::StrCat(data_dir_, "/collections/.dropped-", name);
  fs::remove_all(doomed, ec);
  if (fs::exists(PathOf(name))) fs::rename(PathOf(name), doomed, ec);
  if (!ec) fs::rename(staging, PathOf(name), ec);
  if (ec) return absl::InternalError(absl::StrCat("recovering ", name, ": ", ec.message()));
  CAIRN_RETURN_IF_ERROR(Env::Default()->SyncDir(data_dir_ + "/collections"));
  old.reset();
  fs::remove_all(doomed, ec);
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<Collection> c, Collection::Open(PathOf(name)));
  absl::MutexLock lock(&mu_);
  collections_[name] = std::move(c);
  return absl::OkStatus();
}

std::shared_ptr<Collection> CollectionManager::Get(const std::string& name) const {
  std::optional<std::string> real = RealName(name);
  if (!real.has_value()) return nullptr;
  absl::MutexLock lock(&mu_);
  auto it = collections_.find(*real);
  return it == collections_.end() ? nullptr : it->second;
}

std::optional<std::string> CollectionManager::RealName(const std::string& name) const {
  {
    absl::MutexLock lock(&mu_);
    if (collections_.contains(name)) return name;
  }
  return aliases_->Resolve(name);
}

absl::Status CollectionManager::UpdateAliases(const std::vector<AliasAction>& actions) {
  absl::MutexLock create(&create_mu_);  // no collection appears or goes meanwhile
  return aliases_->Apply(actions, [&](const std::string& name) {
    absl::MutexLock lock(&mu_);
    return collections_.contains(name);
  });
}

std::vector<std::string> CollectionManager::Names() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  for (const auto& [name, c] : collections_) out.push_back(name);
  return out;
}

absl::Status CollectionManager::CheckpointAll() {
  std::vector<std::shared_ptr<Collection>> all;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [name, c] : collections_) all.push_back(c);
  }
  absl::Status first;
  for (const auto& c : all) {
    absl::Status s = c->Checkpoint();
    if (!s.ok() && first.ok()) first = s;
  }
  return first;
}

}  // namespace cairn
