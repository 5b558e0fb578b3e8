#include "server/sparse_index.h"

#include <algorithm>
#include <cmath>

namespace cairn {

namespace {

// Compaction waits for this many dead entries at least, so that a small
// index is not rewritten on every other update.
constexpr uint64_t kMinDeadToCompact = 4096;

}  // namespace

void SparseIndex::Put(const std::string& key, const SparseVector& v) {
  absl::MutexLock lock(&mu_);
  RemoveLocked(key);
  const uint32_t slot = static_cast<uint32_t>(slot_keys_.size());
  slot_keys_.push_back(key);
  slot_nnz_.push_back(static_cast<uint32_t>(v.size()));
  live_.push_back(true);
  slot_of_[key] = slot;
  key_bytes_ += key.size();
  for (size_t i = 0; i < v.size(); ++i) postings_[v.indices[i]].push_back({slot, v.values[i]});
  live_entries_ += v.size();
  MaybeCompactLocked();
}

void SparseIndex::Remove(const std::string& key) {
  absl::MutexLock lock(&mu_);
  RemoveLocked(key);
  MaybeCompactLocked();
}

void SparseIndex::Clear() {
  absl::MutexLock lock(&mu_);
  postings_.clear();
  slot_keys_.clear();
  slot_nnz_.clear();
  live_.clear();
  slot_of_.clear();
  live_entries_ = dead_entries_ = key_bytes_ = 0;
}

void SparseIndex::RemoveLocked(const std::string& key) {
  auto it = slot_of_.find(key);
  if (it == slot_of_.end()) return;
  const uint32_t slot = it->second;
  slot_of_.erase(it);
  key_bytes_ -= key.size();
  live_[slot] = false;
  slot_keys_[slot].clear();
  slot_keys_[slot].shrink_to_fit();
  live_entries_ -= slot_nnz_[slot];
  dead_entries_ += slot_nnz_[slot];
}

void SparseIndex::MaybeCompactLocked() {
  const uint64_t dead_slots = slot_keys_.size() - slot_of_.size();
  if (!(dead_entries_ > live_entries_ && dead_entries_ >= kMinDeadToCompact) &&
      !(dead_slots > slot_of_.size() && dead_slots >= kMinDeadToCompact)) {
    return;
  }
  std::vector<uint32_t> renumber(slot_keys_.size(), UINT32_MAX);
  std::vector<std::string> keys;
  std::vector<uint32_t> nnz;
  keys.reserve(slot_of_.size());
  nnz.reserve(slot_of_.size());
  for (uint32_t s = 0; s < slot_keys_.size(); ++s) {
    if (!live_[s]) continue;
    renumber[s] = static_cast<uint32_t>(keys.size());
    keys.push_back(std::move(slot_keys_[s]));
    nnz.push_back(slot_nnz_[s]);
  }
  for (auto it = postings_.begin(); it != postings_.end();) {
    std::vector<Entry>& p = it->second;
    size_t out = 0;
    for (const Entry& e : p) {
      if (renumber[e.slot] != UINT32_MAX) p[out++] = {renumber[e.slot], e.value};
    }
    p.resize(out);
    if (p.empty()) {
      postings_.erase(it++);
    } else {
      p.shrink_to_fit();
      ++it;
    }
  }
  slot_keys_ = std::move(keys);
  slot_nnz_ = std::move(nnz);
  live_.assign(slot_keys_.size(), true);
  for (auto& [key, slot] : slot_of_) slot = renumber[slot];
  dead_entries_ = 0;
}

size_t SparseIndex::LiveCountLocked(const std::vector<Entry>& posting) const {
  size_t n = 0;
  for (const Entry& e : posting) n += live_[e.slot];
  return n;
}

float SparseIndex::IdfLocked(size_t df) const {
  const double n = static_cast<double>(slot_of_.size());
  const double d = static_cast<double>(df);
  return static_cast<float>(std::log(1.0 + (n - d + 0.5) / (d + 0.5)));
}

SparseVector SparseIndex::Weigh(const SparseVector& q) const {
  if (!idf_) return q;
  absl::ReaderMutexLock lock(&mu_);
  SparseVector w = q;
  for (size_t i = 0; i < q.size(); ++i) {
    auto it = postings_.find(q.indices[i]);
    const size_t df = it == postings_.end() ? 0 : LiveCountLocked(it->second);
    w.values[i] = q.values[i] * IdfLocked(df);
  }
  return w;
}

std::vector<std::pair<std::string, float>> SparseIndex::Search(const SparseVector& q, size_t limit,
                                                               const Accept& accept) const {
  // Per-thread scratch: one float per slot, reset only where touched.
  thread_local std::vector<float> acc;
  thread_local std::vector<uint8_t> hit;
  std::vector<std::pair<std::string, float>> out;
  if (limit == 0) return out;
  absl::ReaderMutexLock lock(&mu_);
  if (acc.size() < slot_keys_.size()) {
    acc.resize(slot_keys_.size(), 0.0f);
    hit.resize(slot_keys_.size(), 0);
  }
  std::vector<uint32_t> touched;
  for (size_t i = 0; i < q.size(); ++i) {
    auto it = postings_.find(q.indices[i]);
    if (it == postings_.end()) continue;
    float w = q.values[i];
    if (idf_) w *= IdfLocked(LiveCountLocked(it->second));
    for (const Entry& e : it->second) {
      if (!live_[e.slot]) continue;
      if (!hit[e.slot]) {
        hit[e.slot] = 1;
        touched.push_back(e.slot);
      }
      acc[e.slot] += w * e.value;
    }
  }
  std::vector<std::pair<float, uint32_t>> scored;
  scored.reserve(touched.size());
  for (uint32_t s : touched) {
    scored.emplace_back(acc[s], s);
    acc[s] = 0.0f;
    hit[s] = 0;
  }
  auto better = [&](const std::pair<float, uint32_t>& a, const std::pair<float, uint32_t>& b) {
    if (a.first != b.first) return a.first > b.first;
    return slot_keys_[a.second] < slot_keys_[b.second];
  };
  if (!accept) {
    const size_t k = std::min(limit, scored.size());
    std::partial_sort(scored.begin(), scored.begin() + k, scored.end(), better);
    scored.resize(k);
  } else {
    std::sort(scored.begin(), scored.end(), better);
  }
  for (const auto& [score, slot] : scored) {
    if (out.size() == limit) break;
    if (accept && !accept(slot_keys_[slot], score)) continue;
    out.emplace_back(slot_keys_[slot], score);
  }
  return out;
}

SparseIndexStats SparseIndex::stats() const {
  absl::ReaderMutexLock lock(&mu_);
  SparseIndexStats s;
  s.points = slot_of_.size();
  s.live_entries = live_entries_;
  s.dead_entries = dead_entries_;
  s.dimensions = postings_.size();
  uint64_t bytes = (live_entries_ + dead_entries_) * sizeof(Entry);
  bytes += postings_.size() * (sizeof(uint32_t) + sizeof(std::vector<Entry>) + 8);
  bytes += slot_keys_.size() * (sizeof(std::string) + sizeof(uint32_t) + 1);
  // Each live key is held twice (slot_keys_ and the map), with a map slot.
  bytes += key_bytes_ * 2 + slot_of_.size() * (sizeof(std::string) + sizeof(uint32_t) + 8);
  s.ram_bytes = bytes;
  return s;
}

}  // namespace cairn
