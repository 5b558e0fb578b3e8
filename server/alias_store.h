// Collection aliases (Qdrant's POST /collections/aliases): alias name ->
// collection name, kept in `<data>/aliases.json` (a record file, magic
// CAIRNALI, docs/formats.md). A batch of actions is all or nothing: it is
// applied to a copy, the copy is written (temp file, fsync, rename), and
// only then do lookups see it, so a request sees the old mapping or the
// new one, never a mix, and a crash leaves one of the two files.
//
// Thread-safety: all methods may be called concurrently; Apply calls are
// serialised.
#ifndef CAIRN_SERVER_ALIAS_STORE_H_
#define CAIRN_SERVER_ALIAS_STORE_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "storage/env.h"

namespace cairn {

struct AliasAction {
  enum class Kind { kCreate, kDelete, kRename };
  Kind kind = Kind::kCreate;
  std::string alias;   // create, delete: the alias; rename: the old name
  std::string target;  // create: the collection; rename: the new name
};

class AliasStore {
 public:
  // An absent file is no aliases; DataLoss for a damaged one.
  static absl::StatusOr<std::unique_ptr<AliasStore>> Open(Env* env, const std::string& path);

  // Applies the actions in order. create points the alias at the collection
  // (replacing an alias of that name); delete and rename need the alias
  // (NotFound); rename refuses an existing new name (AlreadyExists).
  // `collection_exists` vets create's target and the names an alias may not
  // take (a collection's name: InvalidArgument).
  absl::Status Apply(const std::vector<AliasAction>& actions,
                     const std::function<bool(const std::string&)>& collection_exists);
  // Removes every alias of `collection` (it was dropped).
  absl::Status RemoveCollection(const std::string& collection);

  std::optional<std::string> Resolve(const std::string& alias) const;
  std::map<std::string, std::string> All() const;  // alias -> collection

 private:
  AliasStore(Env* env, std::string path) : env_(env), path_(std::move(path)) {}
  absl::Status Publish(std::map<std::string, std::string> next)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);

  Env* const env_;
  const std::string path_;
  absl::Mutex write_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  mutable absl::Mutex mu_;
  std::map<std::string, std::string> aliases_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn

#endif  // CAIRN_SERVER_ALIAS_STORE_H_
