// The write-ahead log reader (storage/wal.cc, ReadWal): header, record
// frames, torn-tail and sequence rules. The first byte's low bit asks the
// harness to reseal the header and every frame checksum, so that mutations
// of lengths, types and sequence numbers reach the checks behind the
// checksums; the rest is the file.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/fuzz_support.h"
#include "storage/env.h"
#include "storage/wal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string bytes(cairn::fuzz::Rest(data, size));
  if (data[0] & 1) {
    cairn::fuzz::SealFileHeader(&bytes);
    cairn::fuzz::SealFrames(&bytes, cairn::kWalHeaderBytes);
  }
  const std::string path = cairn::fuzz::WriteScratch("wal", bytes);
  cairn::WalReadResult result;
  uint64_t sum = 0;
  absl::Status s = cairn::ReadWal(
      cairn::Env::Default(), path,
      [&](const cairn::WalRecord& r) {
        // Touch every payload byte: a view past the buffer is a finding.
        for (char c : r.payload) sum += static_cast<uint8_t>(c);
        return absl::OkStatus();
      },
      &result);
  if (s.ok() && result.valid_bytes > bytes.size()) __builtin_trap();
  (void)result.next_sequence();
  return static_cast<int>(sum & 0);
}
