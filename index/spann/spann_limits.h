// Limits and defaults shared by the bulk builder, the searcher, the live
// index and the server's request checks, so that a value accepted in one
// place is accepted in all of them.
#ifndef CAIRN_INDEX_SPANN_SPANN_LIMITS_H_
#define CAIRN_INDEX_SPANN_SPANN_LIMITS_H_

#include <cstdint>

namespace cairn {

// Most postings one vector is written to (R). Assignment keeps its choices
// in a fixed-size array of this many entries.
inline constexpr uint32_t kMaxReplicas = 64;
inline constexpr uint32_t kDefaultReplicas = 8;
// Most nearest heads examined when placing one vector.
inline constexpr uint32_t kMaxCandidates = 1024;
inline constexpr uint32_t kDefaultCandidates = 64;
// Most postings one query may read.
inline constexpr uint32_t kMaxPostingsPerQuery = 4096;
// The recall@k a search aims at when the caller names no budget and the
// index is calibrated (index/routing/posting_budget.h).
inline constexpr double kDefaultTargetRecall = 0.95;
// "No head": an unassigned slot in head arrays and maps.
inline constexpr uint32_t kNoHead = 0xFFFFFFFFu;

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_SPANN_LIMITS_H_
