#include "index/codes/rotation.h"

#include <cmath>
#include <cstring>

#include "common/random.h"
#include "kernels/distance.h"

namespace cairn {
namespace {

// In-place orthonormal Walsh-Hadamard transform of n (a power of two) values.
void Fwht(float* v, uint32_t n) {
  for (uint32_t h = 1; h < n; h <<= 1) {
    for (uint32_t i = 0; i < n; i += 2 * h) {
      for (uint32_t j = i; j < i + h; ++j) {
        const float a = v[j], b = v[j + h];
        v[j] = a + b;
        v[j + h] = a - b;
      }
    }
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(n));
  for (uint32_t i = 0; i < n; ++i) v[i] *= scale;
}

}  // namespace

HadamardRotation::HadamardRotation(uint32_t dim, uint64_t seed, uint32_t rounds)
    : dim_(dim), padded_(PaddedDim(dim)), rounds_(rounds), seed_(seed) {
  for (int bit = 31; bit >= 6; --bit) {
    if (padded_ & (1u << bit)) blocks_.push_back(1u << bit);
  }
  // Only integer draws (Next, Below): the same signs and permutations on
  // every platform, so a serialised seed reproduces the rotation exactly.
  Rng rng(Rng::Mix(seed, 0x4841444155ull));
  signs_.resize(static_cast<size_t>(rounds_) * padded_);
  perm_.resize(static_cast<size_t>(rounds_) * padded_);
  for (uint32_t r = 0; r < rounds_; ++r) {
    float* s = signs_.data() + static_cast<size_t>(r) * padded_;
    uint32_t* p = perm_.data() + static_cast<size_t>(r) * padded_;
    for (uint32_t i = 0; i < padded_; ++i) {
      s[i] = (rng.Next() >> 63) ? -1.0f : 1.0f;
      p[i] = i;
    }
    for (uint32_t i = padded_ - 1; i > 0; --i) {
      const uint32_t j = static_cast<uint32_t>(rng.Below(i + 1));
      const uint32_t t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
  }
}

void HadamardRotation::BlockHadamard(float* v) const {
  uint32_t start = 0;
  for (uint32_t size : blocks_) {
    Fwht(v + start, size);
    start += size;
  }
}

void HadamardRotation::Apply(const float* x, float* out, float* scratch) const {
  std::memcpy(scratch, x, sizeof(float) * dim_);
  std::memset(scratch + dim_, 0, sizeof(float) * (padded_ - dim_));
  for (uint32_t r = 0; r < rounds_; ++r) {
    const float* s = signs_.data() + static_cast<size_t>(r) * padded_;
    const uint32_t* p = perm_.data() + static_cast<size_t>(r) * padded_;
    for (uint32_t i = 0; i < padded_; ++i) scratch[i] *= s[i];
    for (uint32_t i = 0; i < padded_; ++i) out[i] = scratch[p[i]];
    BlockHadamard(out);
    if (r + 1 < rounds_) std::memcpy(scratch, out, sizeof(float) * padded_);
  }
}

void HadamardRotation::ApplyTranspose(const float* y, float* out, float* scratch) const {
  std::memcpy(scratch, y, sizeof(float) * padded_);
  for (uint32_t r = rounds_; r-- > 0;) {
    const float* s = signs_.data() + static_cast<size_t>(r) * padded_;
    const uint32_t* p = perm_.data() + static_cast<size_t>(r) * padded_;
    BlockHadamard(scratch);  // symmetric and orthonormal: its own inverse
    for (uint32_t i = 0; i < padded_; ++i) out[p[i]] = scratch[i];
    for (uint32_t i = 0; i < padded_; ++i) out[i] *= s[i];
    if (r > 0) std::memcpy(scratch, out, sizeof(float) * padded_);
  }
}

void DenseTransform::Apply(const float* x, float* out) const {
  const DistanceKernels& k = Kernels();
  for (uint32_t i = 0; i < rows; ++i)
    out[i] = k.dot_f32(m.data() + static_cast<size_t>(i) * cols, x, cols);
}

}  // namespace cairn
