// Fusion of ranked lists, as Qdrant's query API has it ({"fusion": "rrf"}
// and {"fusion": "dbsf"}): the prefetches' results, each best first, into
// one list of fused scores, best first. A point keeps the data (payload and
// vectors) of its first appearance.
//
//   RRF: score(p) = sum over lists where p is at 0-based position r of
//        1 / (r + k); k = 2 by default (Qdrant's DEFAULT_RRF_K).
//   DBSF: each list's scores are normalised by its mean and sample standard
//        deviation (n - 1): (s - (mean - 3 sd)) / (6 sd), not clamped; a
//        list of one point scores 0.5, so does every point of a list whose
//        scores are all equal; a list whose scores are distances (lower is
//        better) is flipped to 1 - that; then a point's scores are summed.
//
// Ties keep the order in which points first appear (lists in order, each
// best first), so results are deterministic.
#ifndef CAIRN_SERVER_FUSION_H_
#define CAIRN_SERVER_FUSION_H_

#include <vector>

#include "server/collection.h"

namespace cairn {

struct RankedList {
  std::vector<ScoredPoint> points;  // best first
  bool lower_is_better = false;     // its scores are distances
};

inline constexpr uint32_t kDefaultRrfK = 2;

std::vector<ScoredPoint> FuseRrf(const std::vector<RankedList>& lists, uint32_t k = kDefaultRrfK);
std::vector<ScoredPoint> FuseDbsf(const std::vector<RankedList>& lists);

}  // namespace cairn

#endif  // CAIRN_SERVER_FUSION_H_
