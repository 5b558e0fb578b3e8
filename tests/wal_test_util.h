// Helpers shared by the WAL tests (wal_test.cc, wal_fault_test.cc).
#ifndef CAIRN_TESTS_WAL_TEST_UTIL_H_
#define CAIRN_TESTS_WAL_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/random.h"
#include "storage/env.h"
#include "storage/wal.h"

namespace cairn::testing {

inline std::string RandomPayload(size_t n, uint64_t seed) {
  Rng rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng.Next());
  return s;
}

struct OwnedRecord {
  uint8_t type;
  uint64_t sequence;
  std::string payload;
  uint64_t offset;
};

struct ReadOutcome {
  absl::Status status;
  WalReadResult result;
  std::vector<OwnedRecord> records;
};

inline ReadOutcome ReadAll(Env* env, const std::string& path) {
  ReadOutcome out;
  out.status = ReadWal(
      env, path,
      [&](const WalRecord& r) {
        out.records.push_back(
            {r.type, r.sequence, std::string(r.payload), r.offset});
        return absl::OkStatus();
      },
      &out.result);
  return out;
}

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_WAL_TEST_UTIL_H_
