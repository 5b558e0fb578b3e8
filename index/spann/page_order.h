// Orders a posting's entries so that vectors sharing a 4 KiB vector page are
// near one another. A two-step search reads only the pages that hold
// candidates, and a query's candidates are near the query, hence near each
// other: grouping neighbours onto the same page, and neighbouring groups onto
// adjacent pages, turns several scattered page reads into fewer, longer ones.
#ifndef CAIRN_INDEX_SPANN_PAGE_ORDER_H_
#define CAIRN_INDEX_SPANN_PAGE_ORDER_H_

#include <cstdint>
#include <vector>

namespace cairn {

// Returns a permutation of [0, n): position p holds entry order[p].
// `vectors`: n rows of `dim` floats. `group`: entries per page (0 or 1 when a
// vector fills a page or more; then only adjacency is improved).
// Recursive bisection along the direction between two far-apart entries,
// cutting at a multiple of `group` so that no page straddles a cut. Depends
// only on the vectors, their order and the SIMD level of the distance
// kernels (like the rest of the build).
std::vector<uint32_t> PageLocalityOrder(const float* vectors, uint32_t n, uint32_t dim,
                                        uint32_t group);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_PAGE_ORDER_H_
