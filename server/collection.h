// A collection: one live index (vectors, search) plus one point store
// (payload and vector of every point, for get, scroll, filters and
// with_vector), in one directory:
//
//   <dir>/collection.json   config (record file CAIRNCOL, docs/formats.md)
//   <dir>/index/            LiveIndex (created empty, or a `cairn build`)
//   <dir>/points/           PointStore
//
// Write order and recovery. An upsert is written to the point store first,
// then to the index; a delete to the point store first, then to the index.
// Both fsync before the request is answered, and the store publishes its
// batch only once the index took it (PointStore::Apply's before_publish): if
// the index refuses it cleanly (a full disk, IsOutOfSpace), the store undoes
// the batch, so a failed write leaves neither holding it, and writes succeed
// again once there is space. A crash between the two leaves
// the point store ahead; Open reconciles: points the store has and the index
// lacks are inserted into the index, ids the index has and the store lacks
// are deleted from it, and the points of the store's last batch
// (PointStore::LastBatchPuts) are re-indexed even if the index has them: an
// overwrite cut between the two writes left the old vector in the index,
// while a get returns the new one.
//
// Points without a vector are stored with an empty vector and are absent
// from the index; a write that removes a point's vector deletes its id from
// the index before it inserts other vectors (WriteIndex in the .cc says why).
//
// Sparse vectors (config.sparse_vectors) are stored in the point record
// beside the dense vector (server/point_vectors.h) and searched through one
// SparseIndex per name (server/sparse_index.h: in RAM, rebuilt from the
// point store by Open, updated once a write's batch is kept). A write
// replaces a point's sparse vectors with those it names (upsert: all of
// them; update_vectors and delete_vectors: only the named ones).
//
// Manhattan collections are indexed under L2 (the SPANN index has no L1
// clustering): the index proposes candidates, which are rescored exactly by
// L1 from the point store (collection_search.cc), so results are approximate
// like every index search and exact with params.exact.
//
// Payload indexes (payload_index.h, kept in step with every write, rebuilt
// at open): a filter whose conditions an index answers reads only the
// candidate points the index gives (filter_plan.h). A filtered search with
// c candidates out of n points and want = limit + offset results scores
// the candidates exactly when c^2 <= 4 * want * n (the widening search would
// check about want * n / c candidates, and a factor 4 for its rounds and
// postings), and otherwise searches the index as below, its exact fallback
// then scoring only the candidates (collection_payload.cc).
//
// Filtered search widens: it asks the index for 4x, then 16x ... the wanted
// results and checks each candidate's payload, until enough match or the
// candidates run out; past 4,096 candidates it falls back to an exact scan of
// the point store (every matching point scored), so a filtered search
// returns `limit` results whenever that many points match. Cost: one point
// store read per candidate checked (page cache), O(points) for the fallback.
//
// Thread-safety: any number of concurrent searches and reads; writes are
// serialised per collection (write_mu_).
#ifndef CAIRN_SERVER_COLLECTION_H_
#define CAIRN_SERVER_COLLECTION_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "index/live/id_map.h"
#include "index/live/live_index.h"
#include "kernels/metric.h"
#include "nlohmann/json.hpp"
#include "server/collection_config.h"
#include "server/filter.h"
#include "server/sparse_index.h"
#include "server/sparse_vector.h"
#include "server/payload_index.h"
#include "storage/env.h"
#include "storage/point_store.h"

namespace cairn {

struct PointData {
  ExternalId id = ExternalId::Number(0);
  // The collection's one dense vector; empty when the point has none
  // (Qdrant's "vector": {}): such a point keeps its payload, is found by id,
  // scroll, count and filters, and is never in the index nor a search hit.
  std::vector<float> vector;
  // Its sparse vectors by name (absent names: none).
  SparseMap sparse;
  nlohmann::json payload = nlohmann::json::object();
};

struct ScoredPoint {
  ExternalId id = ExternalId::Number(0);
  float score = 0;
  std::optional<PointData> data;  // payload and vector, when loaded
};

struct SearchRequest {
  std::vector<float> vector;
  // Set for a search of a sparse vector: its name and the query (then
  // `vector` is unused and the index knobs below do not apply: a sparse
  // search is exact).
  std::optional<std::string> sparse_name;
  SparseVector sparse_vector;
  const Filter* filter = nullptr;
  uint32_t limit = 10;
  uint32_t offset = 0;
  std::optional<float> score_threshold;
  uint32_t max_postings = 0;  // 0: the collection's default
  // Unset: the collection's default; 0: a fixed count. Ignored when
  // max_postings is given.
  std::optional<double> target_recall;
  uint32_t head_ef = 0;  // Qdrant's params.hnsw_ef: the head graph's beam; 0: default
  float epsilon = std::numeric_limits<float>::infinity();
  bool exact = false;                    // Qdrant's params.exact: scan every point
  std::optional<ExternalId> exclude;     // query by a point's id: leave it out
  bool load_data = false;                // fill ScoredPoint::data
  // Past it, DeadlineExceeded (checked between widening rounds and while
  // scanning the point store).
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
};

struct SearchInfo {
  uint64_t postings_read = 0, bytes_read = 0, candidates_checked = 0;
  bool exact_fallback = false;
  // Points read and scored by an exact scan (all points, or the payload
  // index's candidates); whether a payload index chose the candidates.
  uint64_t points_scored = 0;
  bool payload_index = false;
};

// A scroll ordered by a payload field (Qdrant's order_by).
struct OrderBy {
  std::string key;
  bool descending = false;
  std::optional<double> start_from;  // numbers; datetimes as Unix microseconds
};

class Collection {
 public:
  // `env` carries the point store's and the index's file IO (tests pass a
  // FaultInjectionEnv).
  static absl::StatusOr<std::unique_ptr<Collection>> Create(const std::string& dir,
                                                            const CollectionConfig& config,
                                                            Env* env = Env::Default());
  // A collection over an index built offline (`cairn build`): the index
  // directory is copied in, and its vectors are imported into the point
  // store from the build's input file as points 0..n-1 without payload.
  static absl::StatusOr<std::unique_ptr<Collection>> CreateFromIndex(
      const std::string& dir, const std::string& index_dir, const CollectionConfig& config);
  static absl::StatusOr<std::unique_ptr<Collection>> Open(const std::string& dir,
                                                          Env* env = Env::Default());
  ~Collection();

  // As opened; its search defaults may since have changed (PATCH): read
  // them from target_recall() and max_postings().
  const CollectionConfig& config() const { return config_; }
  double target_recall() const { return target_recall_.load(); }
  uint32_t max_postings() const { return max_postings_.load(); }
  // Changes the search defaults (PATCH /collections/{name}), persisted
  // before searches see them. InvalidArgument for values out of range.
  absl::Status UpdateSearchDefaults(std::optional<double> target_recall,
                                    std::optional<uint32_t> max_postings);
  const std::string& dir() const { return dir_; }

  // All or nothing per call; validated first (dimension, finite values,
  // duplicate ids). Cosine vectors are normalised, as Qdrant stores them. A
  // point with an empty vector is stored without one.
  absl::Status Upsert(std::vector<PointData> points);
  // Qdrant's update_vectors: replaces the vectors each point names (its
  // dense vector if not empty, each sparse vector it has) and keeps its
  // other vectors and its payload; NotFound naming the first id that does
  // not exist (and nothing changes). A point naming no vector is an
  // InvalidArgument.
  absl::Status UpdateVectors(std::vector<PointData> points);
  // Qdrant's delete_vectors: the listed points keep their payload and lose
  // the named vectors (`dense`: the dense one; `sparse`: those names); ids
  // that do not exist are skipped.
  absl::Status DeleteVectors(const std::vector<ExternalId>& ids, bool dense = true,
                             const std::vector<std::string>& sparse = {});
  absl::Status Delete(const std::vector<ExternalId>& ids, uint64_t* deleted);
  absl::Status DeleteByFilter(const Filter& filter, uint64_t* deleted);
  absl::StatusOr<std::optional<PointData>> Get(const ExternalId& id) const;
  // Payload updates on the listed points (missing ids are skipped).
  // mode: "set" merges keys (at `key` path if given), "overwrite" replaces,
  // "delete" removes `keys`, "clear" empties.
  absl::Status UpdatePayload(const std::vector<ExternalId>& ids, const std::string& mode,
                             const nlohmann::json& payload, const std::vector<std::string>& keys,
                             const std::string& key);
  // Ids of points matching `filter` (all points if empty), in scroll order.
  absl::StatusOr<std::vector<ExternalId>> Select(
      const Filter& filter,
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) const;

  absl::StatusOr<std::vector<ScoredPoint>> Search(const SearchRequest& request,
                                                  SearchInfo* info) const;
  // Scores exactly the listed points (those that exist and have the vector
  // searched) under `request`'s query, filter, exclusion and threshold, best
  // first, at most limit + offset of them (the offset is not dropped): a
  // query that re-ranks the candidates of its prefetches
  // (collection_sparse.cc).
  absl::StatusOr<std::vector<ScoredPoint>> ScorePoints(const SearchRequest& request,
                                                       const std::vector<ExternalId>& ids) const;
  // Whether `request`'s scores order ascending (a dense Euclid or Manhattan
  // search); sparse scores are dot products.
  bool LowerIsBetterFor(const SearchRequest& request) const {
    return !request.sparse_name.has_value() && LowerIsBetter(config_.distance);
  }
  // Per sparse vector name, its index's counters.
  std::vector<std::pair<std::string, SparseIndexStats>> sparse_stats() const;
  // A page of points in id order from `start` (inclusive); *next is the id
  // to start the next page from, if any.
  absl::Status Scroll(const std::optional<ExternalId>& start, uint32_t limit,
                      const Filter& filter, std::vector<PointData>* out,
                      std::optional<ExternalId>* next) const;
  absl::StatusOr<uint64_t> Count(
      const Filter& filter,
      std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max()) const;
  // A page ordered by `order.key`, which needs a range index
  // (FailedPrecondition otherwise); each point at most once, at its first
  // value in that order; (*values)[i] is out[i]'s.
  absl::Status ScrollOrdered(const OrderBy& order, uint32_t limit, const Filter& filter,
                             std::vector<PointData>* out, std::vector<double>* values) const;
  uint64_t points_count() const;

  // Payload indexes (collection_payload.cc). Creating one reads every point
  // (under the write lock) and persists the schema before it answers;
  // re-creating a field with the same schema is a no-op, with another
  // AlreadyExists. Deleting an absent field is OK.
  absl::Status CreateFieldIndex(const std::string& field, const PayloadFieldSchema& schema);
  absl::Status DeleteFieldIndex(const std::string& field);
  nlohmann::json PayloadSchemaJson() const { return payload_index_->SchemaJson(); }
  const PayloadIndex& payload_index() const { return *payload_index_; }
  // Points whose payload a filtered select, scroll or count has read since
  // open (what a payload index saves; tests count it).
  uint64_t filter_points_read() const { return filter_points_read_.load(); }
  // Points that have a vector (Qdrant's indexed_vectors_count).
  uint64_t vectors_count() const { return index_->stats().live_vectors; }
  LiveStats index_stats() const { return index_->stats(); }
  PointStoreStats store_stats() const { return points_->stats(); }
  // A point-in-time copy of the point store's log (PointStore::CopyLog):
  // what a snapshot holds (collection_snapshot.h).
  absl::Status CopyPointLog(std::string* name,
                            const std::function<absl::Status(std::string_view)>& sink) const {
    return points_->CopyLog(name, sink);
  }
  // Flush + checkpoint (graceful shutdown).
  absl::Status Checkpoint();

  // Distance in the index's terms -> the score Qdrant reports.
  float Score(float index_distance) const;

 private:
  Collection() = default;
  absl::Status Reconcile();
  // Deletes from the index the ids the store lacks (Reconcile's last step).
  absl::Status DeleteStrays();
  // Applies a batch to the point store and, before the store publishes it,
  // `index_write` to the index (see "Write order" above).
  absl::Status WriteBoth(const std::vector<PointStore::Put>& puts,
                         const std::vector<std::string>& deletes,
                         const std::function<absl::Status()>& index_write)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  absl::Status ValidateVector(std::vector<float>* v) const;
  // Validates each point's vector (if any) and normalises Cosine ones.
  absl::Status ValidatePoints(std::vector<PointData>* points) const;
  // Writes `points` (validated) to the store and the index, under write_mu_.
  absl::Status WritePoints(const std::vector<PointData>& points)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // The index side of a write: deletes the ids in `unvectored` that the
  // index holds, then upserts `items`.
  absl::Status WriteIndex(const std::vector<LiveIndex::Item>& items,
                          const std::vector<ExternalId>& unvectored);
  // Search helpers (collection_search.cc). The index rounds of a search:
  // widening for a filter, the exact fallback past kWidenCap candidates.
  absl::Status WidenSearch(const SearchRequest& r, LiveSearchContext* ctx, SearchInfo* info,
                           std::vector<ScoredPoint>* kept,
                           const PayloadIndex::Keys* candidates = nullptr) const;
  // One round's hits -> at most `want` results: exclusion, threshold,
  // filter, data, and for Manhattan the L1 rescoring and re-sort.
  absl::Status KeepHits(const SearchRequest& r, const std::vector<LiveResult>& hits, size_t want,
                        SearchInfo* info, std::vector<ScoredPoint>* kept) const;
  // The score the answer reports for stored vector `v` (the collection's
  // exact distance or similarity); `query` normalised for Cosine.
  float ExactScore(const std::vector<float>& query, const float* v) const;
  absl::StatusOr<std::unique_ptr<LiveSearchContext>> TakeContext() const;
  void ReturnContext(std::unique_ptr<LiveSearchContext> ctx) const;
  // Scores every point, or only `only` (sorted store keys) when given.
  absl::Status ExactSearch(const SearchRequest& r, std::vector<ScoredPoint>* out,
                           const PayloadIndex::Keys* only = nullptr,
                           SearchInfo* info = nullptr) const;
  // Payload index helpers (collection_payload.cc): the filter with text
  // matches bound to text indexes, its candidates (nullopt: every point),
  // and the index's side of a published store batch.
  Filter BindFilter(const Filter& f) const;
  std::optional<PayloadIndex::Keys> Candidates(const Filter& f) const;
  void IndexPayloads(const std::vector<PointStore::Put>& puts,
                     const std::vector<std::string>& deletes) const;
  absl::Status LoadPayloadIndex();
  // The matching points among `keys` from `start` on, until fn returns false.
  absl::Status ForEachCandidate(const PayloadIndex::Keys& keys, std::string_view start,
                                const Filter& f, const std::function<bool(PointData&)>& fn) const;
  // Sparse side (collection_sparse.cc): the search, the rebuild at open and
  // the update of the indexes once a batch is kept.
  absl::StatusOr<std::vector<ScoredPoint>> SearchSparse(const SearchRequest& r) const;
  absl::Status RebuildSparse();
  void IndexSparse(const std::vector<PointData>& written, const std::vector<std::string>& deleted);
  const SparseIndex* SparseIndexFor(const std::string& name) const;
  bool Passes(const SearchRequest& r, float score) const;

  std::string dir_;
  Env* env_ = nullptr;
  // As opened; its search defaults are superseded by the atomics, which
  // searches read and UpdateSearchDefaults (under config_mu_) writes.
  CollectionConfig config_;
  absl::Mutex config_mu_;
  std::atomic<double> target_recall_{0};
  std::atomic<uint32_t> max_postings_{32};
  std::unique_ptr<LiveIndex> index_;
  std::unique_ptr<PointStore> points_;
  // One per config_.sparse_vectors entry, in that order.
  std::vector<std::unique_ptr<SparseIndex>> sparse_;
  std::unique_ptr<PayloadIndex> payload_index_ = std::make_unique<PayloadIndex>();
  mutable std::atomic<uint64_t> filter_points_read_{0};
  absl::Mutex write_mu_;
  mutable absl::Mutex ctx_mu_;
  mutable std::vector<std::unique_ptr<LiveSearchContext>> contexts_ ABSL_GUARDED_BY(ctx_mu_);
};

// Point record encoding in the point store (opaque to it): dim float32
// values, or no bytes for a point without a vector (docs/formats.md); a
// collection with sparse vectors uses server/point_vectors.h's layout.
std::string EncodeVector(const std::vector<float>& v);
absl::StatusOr<std::vector<float>> DecodeVector(const std::string& bytes, uint32_t dim);
// A stored record -> the point (payload parsed); DataLoss if damaged.
absl::StatusOr<PointData> DecodePointRecord(const ExternalId& id, const PointRecord& rec,
                                            const CollectionConfig& c);
// The index metric a collection's vectors are clustered under (Manhattan:
// L2, see above).
Metric IndexMetricOf(VectorDistance d);

}  // namespace cairn

#endif  // CAIRN_SERVER_COLLECTION_H_
