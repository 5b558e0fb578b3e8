// The snapshot archive reader (storage/snapshot_archive.cc). The first
// byte's low bit reseals the checksums (each entry's that the reader can
// delimit, then the footer's) so that mutations reach the entry parsing;
// the rest is the file.
#include <xxhash.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/fuzz_support.h"
#include "storage/snapshot_archive.h"

namespace {

uint64_t Get64(const std::string& b, size_t at) {
  uint64_t v;
  std::memcpy(&v, b.data() + at, 8);
  return v;
}

void Put64(std::string* b, size_t at, uint64_t v) { std::memcpy(b->data() + at, &v, 8); }

void Reseal(std::string* b) {
  if (b->size() < 16 + 24) return;
  const size_t footer = b->size() - 24;
  for (size_t at = 16; at + 16 <= footer;) {
    uint32_t name;
    std::memcpy(&name, b->data() + at, 4);
    const uint64_t data = Get64(*b, at + 8);
    if (name > footer - at - 16 || data > footer - at - 16 - name ||
        footer - at - 16 - name - data < 8) {
      break;
    }
    const size_t sum_at = at + 16 + name + data;
    Put64(b, sum_at, XXH3_64bits(b->data() + at + 16, name + data));
    at = sum_at + 8;
  }
  Put64(b, b->size() - 8, XXH3_64bits(b->data(), b->size() - 8));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string bytes(cairn::fuzz::Rest(data, size));
  if (data[0] & 1) Reseal(&bytes);
  absl::StatusOr<std::map<std::string, std::string>> entries = cairn::ReadSnapshotArchive(bytes);
  if (entries.ok()) {
    size_t total = 0;
    for (const auto& [name, body] : *entries) total += name.size() + body.size();
    if (total > bytes.size()) __builtin_trap();
  }
  return 0;
}
