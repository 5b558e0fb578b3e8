#include "datasets/augment.h"

#include <algorithm>
#include <cmath>

namespace cairn {

ImageAugmenter::ImageAugmenter(int rows, int cols, const AugmentOptions& options)
    : rows_(rows), cols_(cols), options_(options) {
  const int radius = std::max(1, static_cast<int>(std::ceil(3 * options.elastic_sigma)));
  kernel_.resize(2 * radius + 1);
  double sum = 0;
  for (int i = -radius; i <= radius; ++i) {
    double v = std::exp(-0.5 * i * i / (options.elastic_sigma * options.elastic_sigma));
    kernel_[i + radius] = static_cast<float>(v);
    sum += v;
  }
  for (auto& k : kernel_) k = static_cast<float>(k / sum);
  dx_.resize(rows * cols);
  dy_.resize(rows * cols);
  tmp_.resize(rows * cols);
}

// Separable Gaussian blur with zero padding (the field is zero outside).
void ImageAugmenter::SmoothField(std::vector<float>& f) {
  const int radius = static_cast<int>(kernel_.size() / 2);
  for (int y = 0; y < rows_; ++y) {
    for (int x = 0; x < cols_; ++x) {
      float s = 0;
      for (int k = -radius; k <= radius; ++k) {
        int xx = x + k;
        if (xx >= 0 && xx < cols_) s += kernel_[k + radius] * f[y * cols_ + xx];
      }
      tmp_[y * cols_ + x] = s;
    }
  }
  for (int y = 0; y < rows_; ++y) {
    for (int x = 0; x < cols_; ++x) {
      float s = 0;
      for (int k = -radius; k <= radius; ++k) {
        int yy = y + k;
        if (yy >= 0 && yy < rows_) s += kernel_[k + radius] * tmp_[yy * cols_ + x];
      }
      f[y * cols_ + x] = s;
    }
  }
}

void ImageAugmenter::Augment(const uint8_t* in, Rng& rng, float* out) {
  const double angle = rng.Uniform(-1, 1) * options_.max_rotation_deg * M_PI / 180.0;
  const double scale = 1.0 + rng.Uniform(-1, 1) * options_.max_scale_delta;
  const double sx = rng.Uniform(-1, 1) * options_.max_shift_px;
  const double sy = rng.Uniform(-1, 1) * options_.max_shift_px;
  for (auto& v : dx_) v = static_cast<float>(rng.Uniform(-1, 1));
  for (auto& v : dy_) v = static_cast<float>(rng.Uniform(-1, 1));
  SmoothField(dx_);
  SmoothField(dy_);
  // Inverse mapping: for each output pixel find where it comes from.
  const double ca = std::cos(angle) / scale, sa = std::sin(angle) / scale;
  const double cy = (rows_ - 1) / 2.0, cx = (cols_ - 1) / 2.0;
  for (int y = 0; y < rows_; ++y) {
    for (int x = 0; x < cols_; ++x) {
      const double ux = x - cx - sx, uy = y - cy - sy;
      double srcx = ca * ux + sa * uy + cx + options_.elastic_alpha * dx_[y * cols_ + x];
      double srcy = -sa * ux + ca * uy + cy + options_.elastic_alpha * dy_[y * cols_ + x];
      const int x0 = static_cast<int>(std::floor(srcx)), y0 = static_cast<int>(std::floor(srcy));
      const double fx = srcx - x0, fy = srcy - y0;
      auto pix = [&](int yy, int xx) -> double {
        return (yy >= 0 && yy < rows_ && xx >= 0 && xx < cols_) ? in[yy * cols_ + xx] : 0.0;
      };
      double v = (1 - fy) * ((1 - fx) * pix(y0, x0) + fx * pix(y0, x0 + 1)) +
                 fy * ((1 - fx) * pix(y0 + 1, x0) + fx * pix(y0 + 1, x0 + 1));
      out[y * cols_ + x] = static_cast<float>(std::clamp(v, 0.0, 255.0));
    }
  }
}

}  // namespace cairn
