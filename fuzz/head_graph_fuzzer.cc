// The head graph loader (index/spann/head_index.cc, HeadIndex::Load over
// hnswlib's format), then a search, which follows the links the file holds.
// hnswlib trusts every size and link it reads; our checks in front of it
// must not. The first byte picks the dimension (bits 1..4, plus 1) and the
// metric (bit 5); the rest is the file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "index/spann/head_index.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint32_t dim = ((data[0] >> 1) & 15) + 1;
  const cairn::Metric metric = (data[0] & 32) ? cairn::Metric::kInnerProduct : cairn::Metric::kL2;
  const std::string path = cairn::fuzz::WriteScratch("heads.hnsw", cairn::fuzz::Rest(data, size));
  absl::StatusOr<std::unique_ptr<cairn::HeadIndex>> index =
      cairn::HeadIndex::Load(path, dim, metric);
  if (!index.ok()) return 0;
  std::vector<float> query(dim, 0.5f);
  std::vector<cairn::HeadHit> hits;
  (*index)->Search(query.data(), 4, 16, &hits);
  for (uint32_t id = 0; id < 8; ++id) {
    if (const float* v = (*index)->head(id); v != nullptr) query[0] += v[dim - 1];
  }
  (void)(*index)->MemoryBytes();
  (void)(*index)->live_count();
  return 0;
}
