// Result and statistics types shared by every searcher (bulk-built and live).
#ifndef CAIRN_INDEX_SPANN_SEARCH_TYPES_H_
#define CAIRN_INDEX_SPANN_SEARCH_TYPES_H_

#include <cstdint>

namespace cairn {

struct Neighbor {
  float distance;  // index/metric.h convention
  uint32_t id;     // internal id: the build input row for bulk-built vectors
};

struct SearchStats {
  uint32_t postings_read = 0;
  uint64_t bytes_read = 0;
  uint32_t reads = 0;  // IO requests (one per contiguous extent read)
  uint32_t pages_read = 0;
  uint32_t entries_scanned = 0;  // distances computed in postings
  uint32_t duplicates_skipped = 0;
  uint32_t stale_skipped = 0;     // deleted or superseded entries
  uint32_t buffered_scanned = 0;  // not-yet-flushed writes scanned (live index)
  // Coded postings (index/coded_search.h): entries estimated from codes,
  // entries whose vectors were read and scored exactly, and queries the
  // planner sent through the two-step read (the rest read whole postings).
  uint32_t codes_estimated = 0;
  uint32_t reranked = 0;
  uint32_t two_step_queries = 0;
  uint64_t head_ns = 0, io_wait_ns = 0, scan_ns = 0;
  void Add(const SearchStats& o);
};

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_SEARCH_TYPES_H_
