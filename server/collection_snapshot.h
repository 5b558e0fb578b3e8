// Collection snapshots (Qdrant's /collections/{n}/snapshots): one archive
// file (storage/snapshot_archive.h) holding what a collection is made of,
// taken from a live collection without stopping writes, and restored into
// a directory from which Collection::Open rebuilds the rest.
//
// What is in it: collection.json (the config file as it is on disk),
// payload_index.json (the payload schema, if any) and
// points/points.<g>.log, the point store's log up to the last batch
// published when the copy starts (PointStore::CopyLog): a point in time.
// The vector index is not copied: every vector is in the point store, and
// opening the restored directory over a new empty index re-indexes every
// point (Collection::Open's reconciliation), so the restored collection
// holds exactly the snapshot's points; its index is built anew by live
// inserts (exact searches answer the same; approximate ones as any index).
//
// Files: <data>/snapshots/<collection>/<name>.snapshot, and beside it
// <name>.snapshot.checksum holding the archive's SHA-256 (hex), which is
// the checksum Qdrant reports. The point log is held in memory while the
// archive is written, and a recovery reads the whole archive into memory.
#ifndef CAIRN_SERVER_COLLECTION_SNAPSHOT_H_
#define CAIRN_SERVER_COLLECTION_SNAPSHOT_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "server/collection.h"
#include "storage/env.h"

namespace cairn {

struct SnapshotInfo {
  std::string name;
  std::string creation_time;  // UTC, "2024-01-02T03:04:05"
  uint64_t size = 0;
  std::string checksum;  // SHA-256, hex
};

// <data>/snapshots/<collection>.
std::string SnapshotDirOf(const std::string& data_dir, const std::string& collection);
// A snapshot file name: no path separators, ending in ".snapshot".
absl::Status ValidateSnapshotName(const std::string& name);

// Writes a snapshot of `c` into `dir` (created if missing).
absl::StatusOr<SnapshotInfo> CreateSnapshot(Env* env, const Collection& c,
                                            const std::string& collection_name,
                                            const std::string& dir);
// The snapshots in `dir`, by name; none if it does not exist.
absl::StatusOr<std::vector<SnapshotInfo>> ListSnapshots(Env* env, const std::string& dir);
// NotFound if absent.
absl::Status DeleteSnapshot(Env* env, const std::string& dir, const std::string& name);

// Validates an archive's bytes and writes the collection it holds into
// `dir` (which must not exist) with an empty index. InvalidArgument for an
// archive that is damaged or does not hold a collection.
absl::Status RestoreSnapshot(Env* env, std::string_view archive, const std::string& dir);

}  // namespace cairn

#endif  // CAIRN_SERVER_COLLECTION_SNAPSHOT_H_
