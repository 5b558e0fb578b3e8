// Posting files and what they hold: the file header and record frames
// (storage/posting_file.cc), the posting payloads (index/spann/
// posting_format.cc, plain and coded) and the directory
// (index/spann/spann_files.cc ReadDirectory). The first byte picks:
//   0: a whole posting file (resealed header and frame checksums), opened
//      and walked with ForEachRecord, each payload decoded as a posting;
//   1: one posting payload for DecodePosting / DecodeCodedHead, with the
//      index's dim, type and code entry bytes from the next 4 bytes;
//   2: a directory body in a valid record file; 3: a raw directory file.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_files.h"
#include "storage/checksum.h"
#include "storage/coding.h"
#include "storage/posting_file.h"
#include "storage/record_file.h"

namespace {

struct Shape {
  uint32_t dim = 4;
  cairn::StoredType type = cairn::StoredType::kFloat32;
  uint32_t entry_bytes = 0;
};

void Decode(std::span<const uint8_t> payload, const Shape& shape) {
  absl::StatusOr<cairn::PostingView> v =
      cairn::DecodePosting(payload, shape.dim, shape.type, "fuzz", shape.entry_bytes);
  if (v.ok()) {
    std::vector<float> out(v->dim);
    for (uint32_t i = 0; i < v->count; ++i) {
      (void)v->ids[i];
      cairn::StoredVectorToFloat(v->type, v->vector(i), v->dim, out.data());
    }
  }
  absl::StatusOr<cairn::PostingView> h =
      cairn::DecodeCodedHead(payload, shape.dim, shape.type, shape.entry_bytes, "fuzz");
  if (h.ok()) {
    for (uint32_t i = 0; i < h->count; ++i) {
      uint32_t first = 0, n = 0;
      cairn::VectorPagesOf(*h, i, &first, &n);
      (void)h->ids[i];
      (void)h->codes[size_t{i} * h->entry_bytes];
    }
  }
}

// Frames start on page boundaries after the header page; each checksum
// covers its payload (storage/posting_file.cc).
void SealPostingFile(std::string* bytes) {
  auto* p = reinterpret_cast<uint8_t*>(bytes->data());
  if (bytes->size() >= cairn::kPostingFileHeaderBytes) {
    cairn::EncodeFixed64(p + 96, cairn::Checksum64(p, 96));
  }
  for (size_t off = cairn::kPostingPageBytes;
       off + cairn::kPostingFrameHeaderBytes <= bytes->size(); off += cairn::kPostingPageBytes) {
    const uint64_t n = cairn::DecodeFixed32(p + off + 8);
    if (n <= bytes->size() - off - cairn::kPostingFrameHeaderBytes) {
      cairn::EncodeFixed64(p + off + 16,
                           cairn::Checksum64(p + off + cairn::kPostingFrameHeaderBytes, n));
    }
  }
}

void WholeFile(std::string_view input) {
  std::string bytes(input);
  SealPostingFile(&bytes);
  const std::string path = cairn::fuzz::WriteScratch("postings.dat", bytes);
  for (bool trailing : {false, true}) {
    auto reader = cairn::PostingFileReader::Open(path, trailing);
    if (!reader.ok()) continue;
    const cairn::PostingUserHeader& u = (*reader)->user_header();
    const Shape shape{u[0] % 9 + 1u, static_cast<cairn::StoredType>(u[1] % 3), u[2] * 8u};
    (void)(*reader)->ForEachRecord(
        [&](const cairn::PostingLocation& loc, std::span<const uint8_t> payload) {
          if (!(*reader)->CheckLocation(loc).ok()) __builtin_trap();
          Decode(payload, shape);
          return absl::OkStatus();
        });
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view rest = cairn::fuzz::Rest(data, size);
  cairn::Env* env = cairn::Env::Default();
  const std::string dir_path = cairn::fuzz::ScratchDir() + "/directory";
  switch (data[0] % 4) {
    case 0:
      WholeFile(rest);
      break;
    case 1: {
      if (rest.size() < 4) return 0;
      const auto* p = reinterpret_cast<const uint8_t*>(rest.data());
      const Shape shape{p[0] % 64 + 1u, static_cast<cairn::StoredType>(p[1] % 3), (p[2] % 16) * 8u};
      // Payloads are read into page-aligned buffers: copy to give the
      // decoder the same alignment.
      std::vector<uint64_t> aligned((rest.size() - 4 + 7) / 8 + 1);
      std::memcpy(aligned.data(), p + 4, rest.size() - 4);
      Decode({reinterpret_cast<const uint8_t*>(aligned.data()), rest.size() - 4}, shape);
      break;
    }
    case 2:
      if (!cairn::WriteRecordFile(env, dir_path, cairn::kDirectoryMagic, cairn::kDirectoryVersion,
                                  std::string(rest))
               .ok()) {
        __builtin_trap();
      }
      (void)cairn::ReadDirectory(env, dir_path);
      break;
    default:
      cairn::fuzz::WriteScratch("directory", rest);
      (void)cairn::ReadDirectory(env, dir_path);
  }
  return 0;
}
