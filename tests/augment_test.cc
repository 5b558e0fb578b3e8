#include "datasets/augment.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

namespace cairn {
namespace {

// A 28x28 image with a filled rectangle, like a garment silhouette.
std::vector<uint8_t> Shape() {
  std::vector<uint8_t> img(28 * 28, 0);
  for (int y = 6; y < 22; ++y) {
    for (int x = 9; x < 19; ++x) img[y * 28 + x] = 200;
  }
  return img;
}

double Cosine(const std::vector<float>& a, const std::vector<uint8_t>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * double(b[i]);
    na += double(a[i]) * a[i];
    nb += double(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

TEST(ImageAugmenterTest, DeterministicPerSeed) {
  ImageAugmenter aug(28, 28, AugmentOptions{});
  const auto img = Shape();
  std::vector<float> a(784), b(784), c(784);
  Rng r1(5), r2(5), r3(6);
  aug.Augment(img.data(), r1, a.data());
  aug.Augment(img.data(), r2, b.data());
  aug.Augment(img.data(), r3, c.data());
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

TEST(ImageAugmenterTest, SmallRealisticChange) {
  ImageAugmenter aug(28, 28, AugmentOptions{});
  const auto img = Shape();
  std::vector<float> out(784);
  double min_cos = 1, max_cos = 0;
  for (uint64_t s = 0; s < 50; ++s) {
    Rng rng(s);
    aug.Augment(img.data(), rng, out.data());
    for (float v : out) {
      ASSERT_GE(v, 0.0f);
      ASSERT_LE(v, 255.0f);
    }
    double c = Cosine(out, img);
    min_cos = std::min(min_cos, c);
    max_cos = std::max(max_cos, c);
  }
  // Still recognisably the same image, but never an exact copy.
  EXPECT_GT(min_cos, 0.6);
  EXPECT_LT(max_cos, 0.9999);
}

TEST(ImageAugmenterTest, BlankStaysBlank) {
  ImageAugmenter aug(28, 28, AugmentOptions{});
  std::vector<uint8_t> blank(784, 0);
  std::vector<float> out(784, 1.0f);
  Rng rng(1);
  aug.Augment(blank.data(), rng, out.data());
  for (float v : out) EXPECT_EQ(v, 0.0f);
}

TEST(ImageAugmenterTest, NoDeformationIsIdentity) {
  AugmentOptions none;
  none.max_shift_px = 0;
  none.max_rotation_deg = 0;
  none.max_scale_delta = 0;
  none.elastic_alpha = 0;
  ImageAugmenter aug(28, 28, none);
  const auto img = Shape();
  std::vector<float> out(784);
  Rng rng(3);
  aug.Augment(img.data(), rng, out.data());
  for (int i = 0; i < 784; ++i) EXPECT_FLOAT_EQ(out[i], img[i]);
}

}  // namespace
}  // namespace cairn
