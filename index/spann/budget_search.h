// The head step of a target_recall search, shared by the bulk index
// (spann_index.cc) and the live index (live_index.cc): the query's nearest
// heads at the budget's beam, and how many of their postings to read
// (index/routing/posting_budget.h).
#ifndef CAIRN_INDEX_SPANN_BUDGET_SEARCH_H_
#define CAIRN_INDEX_SPANN_BUDGET_SEARCH_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "index/routing/posting_budget.h"
#include "index/spann/head_index.h"
#include "index/spann/route_calibration.h"
#include "index/spann/spann_index.h"

namespace cairn {

// search(n, ef, hits) runs the head graph (under whatever lock the caller
// needs). Returns the postings to read, at most hits->size().
template <typename HeadSearch>
size_t RoutedHeads(const PostingBudget& budget, const SpannSearchParams& params, Metric metric,
                      const float* query, uint32_t dim, HeadSearch&& search,
                      std::vector<HeadHit>* hits) {
  const uint32_t n =
      std::max(budget.MaxPostings(params.target_recall), PostingBudget::kFeatureHeads);
  const uint32_t beam = params.head_ef > 0 ? params.head_ef : budget.head_ef();
  search(n, std::max(beam, n), hits);
  float distances[PostingBudget::kFeatureHeads];
  const size_t m = std::min<size_t>(hits->size(), PostingBudget::kFeatureHeads);
  for (size_t i = 0; i < m; ++i) distances[i] = RoutingDistance(metric, (*hits)[i].distance);
  double features[PostingBudget::kNumFeatures];
  PostingBudget::Features(distances, m, features);
  return std::min<size_t>(hits->size(),
                          budget.Postings(params.target_recall, features,
                                          PostingBudget::QueryHash(query, dim)));
}

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_BUDGET_SEARCH_H_
