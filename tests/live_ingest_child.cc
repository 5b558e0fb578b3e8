// A separate process for live_crash_test: opens a live index and ingests
// through the C++ API until killed. After each acknowledged write it prints
// "A <id>" (upsert) or "D <id>" (delete) and flushes stdout, so the parent
// knows exactly which writes were acknowledged before its kill -9.
//
// Usage: live_ingest_child INDEX_DIR BASE_FBIN FIRST_ID SEED
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

#include "tests/live_test_util.h"

int main(int argc, char** argv) {
  using namespace cairn;
  using namespace cairn::testing;
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s INDEX_DIR BASE_FBIN FIRST_ID SEED\n", argv[0]);
    return 2;
  }
  auto base = ReadFloatMatrix(argv[2]);
  if (!base.ok()) {
    std::fprintf(stderr, "%s\n", base.status().ToString().c_str());
    return 1;
  }
  LiveOptions o;
  o.memtable_capacity = 64;
  o.posting_limit = 96;
  o.min_posting = 4;
  o.reassign_k = 16;
  o.checkpoint_wal_bytes = 64 << 10;  // checkpoints happen while we are killed
  auto index = LiveIndex::Open(argv[1], o);
  if (!index.ok()) {
    std::fprintf(stderr, "open: %s\n", index.status().ToString().c_str());
    return 1;
  }
  std::printf("OPEN\n");
  std::fflush(stdout);
  uint64_t id = std::strtoull(argv[3], nullptr, 10);
  Rng rng(std::strtoull(argv[4], nullptr, 10));
  // At most ~400 writes per process: the parent's kill lands mid-write or
  // while maintenance (flush, split, checkpoint) is still running, and the
  // log each restart replays stays short.
  for (uint64_t round = 0;; ++round) {
    if (round == 80) {
      for (;;) pause();
    }
    const uint64_t batch = 1 + rng.Next() % 8;
    std::vector<std::vector<float>> vecs;
    std::vector<LiveIndex::Item> items;
    for (uint64_t i = 0; i < batch; ++i) vecs.push_back(VectorFor(id + i, *base));
    for (uint64_t i = 0; i < batch; ++i) items.push_back({LiveId(id + i), vecs[i].data()});
    absl::Status s = (*index)->Upsert(items);
    if (!s.ok()) {
      std::fprintf(stderr, "upsert: %s\n", s.ToString().c_str());
      return 1;
    }
    for (uint64_t i = 0; i < batch; ++i) std::printf("A %llu\n", (unsigned long long)(id + i));
    if (round % 5 == 4) {
      // Delete one of this batch's ids.
      const uint64_t victim = id + rng.Next() % batch;
      uint64_t n = 0;
      s = (*index)->Delete({LiveId(victim)}, &n);
      if (!s.ok()) {
        std::fprintf(stderr, "delete: %s\n", s.ToString().c_str());
        return 1;
      }
      std::printf("D %llu\n", (unsigned long long)victim);
    }
    std::fflush(stdout);
    id += batch;
  }
}
