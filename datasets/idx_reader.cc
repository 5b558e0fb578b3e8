#include "datasets/idx_reader.h"

#include <zlib.h>

#include "absl/strings/str_cat.h"

namespace cairn {
namespace {

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

absl::StatusOr<IdxImages> ReadIdxImages(const std::string& path) {
  // gzopen reads plain files transparently too.
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{f};
  uint8_t header[16];
  int got = gzread(f, header, sizeof(header));
  if (got != static_cast<int>(sizeof(header))) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": truncated IDX header"));
  }
  const uint32_t magic = BigEndian32(header);
  if (magic != 0x00000803) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": bad IDX magic 0x", absl::Hex(magic), " (want 0x00000803, images)"));
  }
  IdxImages images;
  images.count = BigEndian32(header + 4);
  images.rows = BigEndian32(header + 8);
  images.cols = BigEndian32(header + 12);
  if (images.rows == 0 || images.cols == 0 || images.rows > 4096 || images.cols > 4096 ||
      images.count > (1u << 28)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": implausible IDX shape ", images.count,
                                                   " x ", images.rows, " x ", images.cols));
  }
  const size_t total = static_cast<size_t>(images.count) * images.rows * images.cols;
  images.pixels.resize(total);
  size_t done = 0;
  while (done < total) {
    unsigned chunk = static_cast<unsigned>(std::min<size_t>(total - done, 1u << 30));
    int n = gzread(f, images.pixels.data() + done, chunk);
    if (n <= 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": truncated: image ", done / images.pixels_per_image(), " of ", images.count,
          " is incomplete"));
    }
    done += static_cast<size_t>(n);
  }
  return images;
}

}  // namespace cairn
