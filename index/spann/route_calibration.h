// Calibrating a built index's posting budget (index/routing/posting_budget.h)
// and the pieces the routing study shares with it.
//
// CalibrateIndex samples base vectors as queries (heads skipped: a query at
// distance 0 from a head reads its own posting first, unlike any real
// query), computes their exact top-k over the base with each query's own row
// left out, finds the order in which the head graph (at the searcher's beam)
// lists their nearest postings, and where in that order each true neighbour
// first appears (every posting is read once, sequentially, to map vectors to
// the postings that hold them). PostingBudget::Fit turns those observations
// into per-bucket counts per recall target, written as routing.budget.
//
// Recall in these observations is exact without running the searcher: a
// posting scan computes exact distances, so the true neighbours among the
// postings read are the ones returned.
//
// Thread-safety: free functions; CalibrateIndex uses all cores.
#ifndef CAIRN_INDEX_SPANN_ROUTE_CALIBRATION_H_
#define CAIRN_INDEX_SPANN_ROUTE_CALIBRATION_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/ground_truth.h"
#include "datasets/vector_file.h"
#include "index/routing/budget_fit.h"
#include "index/routing/posting_budget.h"
#include "index/spann/head_index.h"
#include "index/spann/spann_files.h"

namespace cairn {

// Vector id -> the heads whose postings hold it (compressed rows).
struct Membership {
  std::vector<uint64_t> start;  // num_vectors + 1
  std::vector<uint32_t> heads;
  std::span<const uint32_t> of(uint32_t id) const {
    return {heads.data() + start[id], heads.data() + start[id + 1]};
  }
  // From (id << 32 | head) pairs in any order, ids below `vectors`.
  static Membership FromPairs(std::vector<uint64_t> pairs, uint64_t vectors);
};

// What calibration reads of an index besides its postings.
struct IndexParts {
  IndexManifest manifest;
  std::unique_ptr<HeadIndex> heads;
  std::vector<DirectoryEntry> directory;
};
absl::StatusOr<IndexParts> OpenIndexParts(const std::string& dir);
// One sequential pass over postings.dat.
absl::StatusOr<Membership> ReadMembership(const std::string& dir, const IndexParts& parts);

// `position` is per-head scratch (num_heads entries, all kUnreached on entry
// and on return).
struct OrderScratch {
  std::vector<uint32_t> position;
  std::vector<std::pair<float, uint32_t>> keyed;
  std::vector<uint32_t> order;
};

// first_rank and cum_kib of `q` for the heads in `order` (nearest first);
// gt holds k ids, -1 past the end. Features are left empty.
void RankInOrder(const std::vector<uint32_t>& order, const int32_t* gt, uint32_t k,
                 const Membership& mem, const std::vector<DirectoryEntry>& dir, OrderScratch* s,
                 RouteObservation* q);

// What calibration needs of an index, bulk-built or live: its vectors as a
// file (row r is vector r of the membership), the head graph (not changed
// while calibration runs) and the bytes of each head's posting.
struct CalibrationSource {
  std::string vectors;
  uint64_t num_vectors = 0;
  uint32_t dim = 0;
  Metric metric = Metric::kL2;
  const HeadIndex* heads = nullptr;
  std::vector<DirectoryEntry> directory;  // per head id; only `bytes` is read
  const Membership* membership = nullptr;
  std::string scratch_dir;  // a temporary query file goes here
};

// Up to `want` rows of src.vectors sampled without replacement as queries,
// heads skipped (counted in *skipped); ids gets their rows.
absl::StatusOr<FloatMatrix> SampleBaseQueries(const CalibrationSource& src, uint32_t want,
                                              uint64_t seed, std::vector<uint32_t>* ids,
                                              uint32_t* skipped);

// Exact top-k over the base of queries that are base rows `ids`, each
// query's own row left out. `scratch_dir` holds a temporary query file.
absl::StatusOr<GroundTruth> LeaveOneOutTruth(const std::string& base, const FloatMatrix& queries,
                                             const std::vector<uint32_t>& ids, uint32_t k,
                                             Metric metric, const std::string& scratch_dir);

// The true (not squared) distance of a head hit, for the routing features;
// inner product has none (0).
float RoutingDistance(Metric metric, float head_distance);

struct CalibrationOptions {
  uint32_t queries = 2000;
  uint32_t k = 10;
  // The head beam of target_recall searches. 0: calibrate each of
  // candidate_beams and keep the narrowest whose mean postings at
  // choose_target are within beam_tolerance of the fewest any beam needs (a
  // wider beam finds the true nearest heads more often, so fewer postings
  // reach a target, but each query then pays for the wider head search).
  uint32_t head_ef = 0;
  std::vector<uint32_t> candidate_beams{64, 128, 256};
  double choose_target = 0.95;
  double beam_tolerance = 0.03;
  uint64_t seed = 7;
  bool progress = false;
  // Targets, buckets, margin; `prefix` caps the postings a query may be
  // given (and is itself capped by the beam).
  PostingBudgetOptions budget{.prefix = 256};
};

struct CalibrationReport {
  uint32_t queries = 0, heads_skipped = 0;
  double seconds = 0;
  PostingBudget budget;  // the chosen beam's
  struct Beam {
    uint32_t head_ef = 0;
    double postings = 0;  // mean at choose_target; NaN when out of reach
  };
  std::vector<Beam> beams;  // every beam calibrated
};

// Fits a budget for `src` (writes nothing but the scratch file it removes).
absl::StatusOr<CalibrationReport> Calibrate(const CalibrationSource& src,
                                            const CalibrationOptions& options);

// Calibrates the bulk-built index in `dir` (built from `base`) and writes
// dir/routing.budget atomically. The base must be the index's input (same
// count and dim).
absl::StatusOr<CalibrationReport> CalibrateIndex(const std::string& dir, const std::string& base,
                                                 const CalibrationOptions& options);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_ROUTE_CALIBRATION_H_
