// The record frame shared by the write-ahead log and the point store's log
// (docs/formats.md, "Write-ahead log"): length (u32, body bytes), type (u8,
// nonzero), three zero bytes, sequence number (u64), the body, then an XXH3
// checksum (u64) of everything before it.
#ifndef CAIRN_STORAGE_RECORD_FRAME_H_
#define CAIRN_STORAGE_RECORD_FRAME_H_

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "storage/checksum.h"
#include "storage/coding.h"

namespace cairn {

inline constexpr size_t kFrameHeaderBytes = 16;
inline constexpr size_t kFrameTypeOffset = 4;
inline constexpr size_t kFrameSequenceOffset = 8;
inline constexpr size_t kFrameOverheadBytes = kFrameHeaderBytes + 8;

// Writes the header of a frame of `body_bytes`; the caller fills the body
// at p + kFrameHeaderBytes, then calls SealFrame.
inline void EncodeFrameHeader(uint8_t* p, uint32_t body_bytes, uint8_t type, uint64_t sequence) {
  EncodeFixed32(p, body_bytes);
  p[kFrameTypeOffset] = type;
  p[5] = p[6] = p[7] = 0;
  EncodeFixed64(p + kFrameSequenceOffset, sequence);
}
inline void SealFrame(uint8_t* p, uint32_t body_bytes) {
  const size_t covered = kFrameHeaderBytes + body_bytes;
  EncodeFixed64(p + covered, Checksum64(p, covered));
}

// Checks a whole frame in memory whose length field said `body_bytes`.
// `expected` is the sequence number it must carry (0: any).
struct FrameCheck {
  bool ok = false;
  bool bad_sequence = false;  // intact frame with the wrong number
  std::string reason;
};
inline FrameCheck CheckFrame(const uint8_t* p, uint64_t body_bytes, uint64_t expected) {
  FrameCheck c;
  const size_t covered = kFrameHeaderBytes + body_bytes;
  const uint64_t seq = DecodeFixed64(p + kFrameSequenceOffset);
  if (DecodeFixed64(p + covered) != Checksum64(p, covered)) {
    c.reason = "checksum mismatch";
  } else if (p[kFrameTypeOffset] == 0) {
    c.reason = "record type 0";
  } else if (p[5] != 0 || p[6] != 0 || p[7] != 0) {
    c.reason = "nonzero padding";
  } else if (expected != 0 && seq != expected) {
    c.bad_sequence = true;
    c.reason = absl::StrCat("sequence number ", seq, ", expected ", expected);
  } else {
    c.ok = true;
  }
  return c;
}

}  // namespace cairn

#endif  // CAIRN_STORAGE_RECORD_FRAME_H_
