// The collections of one server, each a directory under
// <data>/collections/<name>. Creating writes the collection fully (config
// file last) before it becomes visible; dropping hides it at once, then
// removes its files when the last request using it is done (shared_ptr).
// Aliases (alias_store.h) name collections too: Get and RealName resolve
// them; a collection and an alias never share a name; dropping a
// collection removes its aliases.
//
// Thread-safety: all methods may be called concurrently.
#ifndef CAIRN_SERVER_COLLECTION_MANAGER_H_
#define CAIRN_SERVER_COLLECTION_MANAGER_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/alias_store.h"
#include "server/collection.h"
#include "storage/file_lock.h"

namespace cairn {

class CollectionManager {
 public:
  // Opens every collection under data_dir (creating it if missing).
  static absl::StatusOr<std::unique_ptr<CollectionManager>> Open(const std::string& data_dir);

  // 1-255 characters of [A-Za-z0-9_.-], not starting with '.'.
  static absl::Status ValidateName(const std::string& name);

  absl::Status Create(const std::string& name, const CollectionConfig& config);
  absl::Status CreateFromIndex(const std::string& name, const std::string& index_dir,
                               const CollectionConfig& config);
  // NotFound if absent.
  absl::Status Drop(const std::string& name);
  // Replaces collection `name` (an alias: its target), or creates it, with
  // the snapshot archive's (collection_snapshot.h). The archive is checked
  // and the new collection opened in <data>/collections/.recovering-<name>
  // before anything of the existing one changes; an archive that is
  // damaged or holds no collection is InvalidArgument and changes nothing.
  // Then, under the create lock, the old directory is renamed away, the new
  // one into place, and the collection reopened there; a crash between the
  // renames leaves .recovering-<name> complete, which Open moves into place.
  absl::Status Recover(const std::string& name, std::string_view archive);
  const std::string& data_dir() const { return data_dir_; }
  // A collection by its name or an alias; null if neither.
  std::shared_ptr<Collection> Get(const std::string& name) const;
  // The collection `name` stands for (itself, or an alias's target).
  std::optional<std::string> RealName(const std::string& name) const;
  // Applies alias actions atomically (AliasStore::Apply).
  absl::Status UpdateAliases(const std::vector<AliasAction>& actions);
  std::map<std::string, std::string> Aliases() const { return aliases_->All(); }
  std::vector<std::string> Names() const;
  // Checkpoints every collection (graceful shutdown); the first error.
  absl::Status CheckpointAll();

 private:
  std::string PathOf(const std::string& name) const;
  absl::Status CreateWith(
      const std::string& name,
      const std::function<absl::StatusOr<std::unique_ptr<Collection>>(const std::string&)>& make);
  // First, so that it is released last: held while any collection is open.
  std::unique_ptr<DirLock> lock_;
  std::string data_dir_;
  std::unique_ptr<AliasStore> aliases_;
  mutable absl::Mutex mu_;
  std::map<std::string, std::shared_ptr<Collection>> collections_ ABSL_GUARDED_BY(mu_);
  absl::Mutex create_mu_;  // one create or drop at a time
};

}  // namespace cairn

#endif  // CAIRN_SERVER_COLLECTION_MANAGER_H_
