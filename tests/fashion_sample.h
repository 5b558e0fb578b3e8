// The first images of Fashion-MNIST as float rows, for tests that need real
// data: read from the Debian package dataset-fashion-mnist, which
// scripts/install-deps.sh installs (so CI has it), falling back to a fetched
// data/fashion-mnist/base.fbin. The tests that use it fail, never skip, when
// neither is there: a skipped real-data test would prove nothing in CI.
#ifndef CAIRN_TESTS_FASHION_SAMPLE_H_
#define CAIRN_TESTS_FASHION_SAMPLE_H_

#include <string>

#include "absl/status/statusor.h"
#include "datasets/idx_reader.h"
#include "datasets/vector_file.h"

namespace cairn::testing {

inline absl::StatusOr<FloatMatrix> FashionMnistSample(uint64_t rows) {
  auto idx = ReadIdxImages("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
  if (!idx.ok()) {
    return ReadFloatMatrix(std::string(CAIRN_SOURCE_DIR) + "/data/fashion-mnist/base.fbin", 0,
                           rows);
  }
  FloatMatrix m;
  m.rows = std::min<uint64_t>(rows, idx->count);
  m.dim = idx->pixels_per_image();
  m.data.resize(m.rows * m.dim);
  for (uint64_t i = 0; i < m.rows; ++i) {
    const uint8_t* img = idx->image(static_cast<uint32_t>(i));
    for (uint32_t d = 0; d < m.dim; ++d) m.row(i)[d] = img[d];
  }
  return m;
}

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_FASHION_SAMPLE_H_
