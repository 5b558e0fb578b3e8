#include "bench/route_orders.h"

#include <algorithm>
#include <cmath>

namespace cairn {

const std::vector<std::string>& AlternativeOrderNames() {
  static const auto* names = new std::vector<std::string>{"d - r/4", "d - r/2", "d - r", "d / r"};
  return *names;
}

void AlternativeOrders(const std::vector<HeadHit>& hits, const int32_t* gt, uint32_t k,
                       const Membership& mem, const std::vector<DirectoryEntry>& dir,
                       OrderScratch* s, std::vector<RouteObservation>* out) {
  out->resize(AlternativeOrderNames().size());
  for (size_t a = 0; a < out->size(); ++a) {
    s->keyed.clear();
    for (const HeadHit& h : hits) {
      const float d = std::sqrt(std::max(0.0f, h.distance));
      const float r = dir[h.head].radius;
      float key = d;
      switch (a) {
        case 0:
          key = d - 0.25f * r;
          break;
        case 1:
          key = d - 0.5f * r;
          break;
        case 2:
          key = d - r;
          break;
        default:
          key = r > 0 ? d / r : d;
          break;
      }
      s->keyed.emplace_back(key, h.head);
    }
    std::stable_sort(s->keyed.begin(), s->keyed.end(),
                     [](const auto& x, const auto& y) { return x.first < y.first; });
    s->order.clear();
    for (const auto& [key, head] : s->keyed) s->order.push_back(head);
    RankInOrder(s->order, gt, k, mem, dir, s, &(*out)[a]);
  }
}

Cover GreedyCover(const std::vector<HeadHit>& hits, const int32_t* gt, uint32_t k, uint32_t needed,
                  const Membership& mem, const std::vector<DirectoryEntry>& dir, OrderScratch* s) {
  // position: head -> its index in the prefix, to know which postings count.
  for (size_t i = 0; i < hits.size(); ++i) s->position[hits[i].head] = static_cast<uint32_t>(i);
  std::vector<int32_t> open;  // reachable neighbours not yet held
  for (uint32_t j = 0; j < k; ++j) {
    if (gt[j] < 0) continue;
    for (uint32_t h : mem.of(static_cast<uint32_t>(gt[j]))) {
      if (s->position[h] != kUnreached) {
        open.push_back(gt[j]);
        break;
      }
    }
  }
  const size_t reachable = open.size();
  const size_t goal = needed == 0 ? reachable : std::min<size_t>(needed, reachable);
  Cover cover;
  std::vector<uint32_t> gain(hits.size());
  while (reachable - open.size() < goal) {
    std::fill(gain.begin(), gain.end(), 0);
    for (int32_t id : open) {
      for (uint32_t h : mem.of(static_cast<uint32_t>(id))) {
        if (s->position[h] != kUnreached) ++gain[s->position[h]];
      }
    }
    // Most neighbours held; ties to the nearer head.
    const size_t best = std::max_element(gain.begin(), gain.end()) - gain.begin();
    const uint32_t head = hits[best].head;
    ++cover.postings;
    cover.kib += dir[head].bytes / 1024.0f;
    std::erase_if(open, [&](int32_t id) {
      const auto heads = mem.of(static_cast<uint32_t>(id));
      return std::find(heads.begin(), heads.end(), head) != heads.end();
    });
  }
  for (const HeadHit& h : hits) s->position[h.head] = kUnreached;
  return cover;
}

}  // namespace cairn
