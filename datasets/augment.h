// Realistic variations of small grayscale images, the way infinite-MNIST /
// MNIST8M grew MNIST: a random small affine move (shift, rotation, scale) and
// an elastic deformation (Simard et al. 2003: a uniform random displacement
// field smoothed by a Gaussian of std sigma and scaled by alpha), resampled
// bilinearly. Deterministic for a given Rng state.
#ifndef CAIRN_DATASETS_AUGMENT_H_
#define CAIRN_DATASETS_AUGMENT_H_

#include <cstdint>
#include <vector>

#include "common/random.h"

namespace cairn {

struct AugmentOptions {
  double max_shift_px = 2.0;
  double max_rotation_deg = 10.0;
  double max_scale_delta = 0.08;  // scale in [1 - d, 1 + d]
  double elastic_alpha = 34.0;    // Simard et al.'s MNIST setting
  double elastic_sigma = 4.0;
};

// Reusable per-thread work space, so augmenting allocates nothing per image.
class ImageAugmenter {
 public:
  ImageAugmenter(int rows, int cols, const AugmentOptions& options);
  // Writes a deformed copy of `in` (rows*cols pixels) to `out` as floats in
  // the input's value range [0, 255].
  void Augment(const uint8_t* in, Rng& rng, float* out);

 private:
  void SmoothField(std::vector<float>& field);

  const int rows_, cols_;
  const AugmentOptions options_;
  std::vector<float> kernel_;  // 1-D Gaussian, radius ceil(3 sigma)
  std::vector<float> dx_, dy_, tmp_;
};

}  // namespace cairn

#endif  // CAIRN_DATASETS_AUGMENT_H_
