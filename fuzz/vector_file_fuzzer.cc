// The vector file readers (datasets/vector_file.cc): fvecs / ivecs / bvecs
// and fbin / u8bin / i8bin headers, record dims, sizes, NaN checks, Seek.
// The first byte picks the format; the rest is the file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "datasets/vector_file.h"
#include "fuzz/fuzz_support.h"

namespace {

constexpr const char* kNames[] = {"v.fvecs", "v.ivecs", "v.bvecs", "v.fbin", "v.u8bin", "v.i8bin"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string path =
      cairn::fuzz::WriteScratch(kNames[data[0] % std::size(kNames)], cairn::fuzz::Rest(data, size));
  absl::StatusOr<std::unique_ptr<cairn::VectorReader>> reader = cairn::VectorReader::Open(path);
  if (!reader.ok()) return 0;
  const cairn::VectorFileInfo& info = (*reader)->info();
  // Rows are read into buffers the caller sizes from the header: a header
  // the file cannot back must have been refused above.
  if (info.dim == 0 || info.num_vectors > size) __builtin_trap();
  const size_t rows = 16;
  std::vector<float> out(rows * size_t{info.dim});
  for (int round = 0; round < 2; ++round) {
    for (;;) {
      absl::StatusOr<size_t> n = (*reader)->ReadFloat(rows, out.data());
      if (!n.ok() || *n == 0) break;
    }
    if (!(*reader)->Seek(info.num_vectors / 2).ok()) break;
  }
  std::vector<uint8_t> raw(rows * size_t{info.dim} * cairn::ElementSize(info.element_type));
  if ((*reader)->Seek(0).ok()) (void)(*reader)->ReadRaw(rows, raw.data());
  return 0;
}
