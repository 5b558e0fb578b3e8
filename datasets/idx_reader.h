// Reader for the IDX image files of (Fashion-)MNIST, gzip-compressed as
// Debian's dataset-fashion-mnist ships them: magic 0x00000803, then
// big-endian uint32 count, rows, cols, then count*rows*cols uint8 pixels.
#ifndef CAIRN_DATASETS_IDX_READER_H_
#define CAIRN_DATASETS_IDX_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn {

struct IdxImages {
  uint32_t count = 0;
  uint32_t rows = 0;
  uint32_t cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, row-major per image
  uint32_t pixels_per_image() const { return rows * cols; }
  const uint8_t* image(uint32_t i) const {
    return pixels.data() + static_cast<size_t>(i) * rows * cols;
  }
};

// Reads a .gz (or plain) IDX3 image file; errors name the file and the problem.
absl::StatusOr<IdxImages> ReadIdxImages(const std::string& path);

}  // namespace cairn

#endif  // CAIRN_DATASETS_IDX_READER_H_
