// The linear transforms T of the code families (index/code_model.h):
//
//   HadamardRotation  exactly orthogonal on R^padded_dim, padded_dim =
//                     dim rounded up to a multiple of 64 (the input is
//                     zero-padded, so the code's padding bits, which a
//                     posting stores anyway, carry information). Each round
//                     is x <- H P S x: S random signs, P a random
//                     permutation, H the orthonormal Walsh-Hadamard transform
//                     applied block-wise on the binary decomposition of
//                     padded_dim (832 = 512 + 256 + 64), every block a power
//                     of two >= 64. The permutations mix across blocks, so a
//                     few rounds spread any input over all coordinates.
//                     O(rounds * padded_dim * log) per vector; stored as its
//                     seed only (regenerated with integer arithmetic, the
//                     same on every platform).
//   DenseTransform    any rows x cols matrix (Gaussian hyperplanes, or a
//                     learned PCA + ITQ rotation), applied row by row with
//                     the dot kernel.
//
// Both are immutable after construction and thread-safe; callers supply
// scratch space.
#ifndef CAIRN_INDEX_CODES_ROTATION_H_
#define CAIRN_INDEX_CODES_ROTATION_H_

#include <cstdint>
#include <vector>

namespace cairn {

// Bits in one code word: codes are stored and scanned as uint64 words, and
// the Hadamard rotation pads its input to whole words.
inline constexpr uint32_t kCodeWordBits = 64;

class HadamardRotation {
 public:
  static constexpr uint32_t kDefaultRounds = 4;
  static uint32_t PaddedDim(uint32_t dim) {
    return (dim + kCodeWordBits - 1) / kCodeWordBits * kCodeWordBits;
  }

  // dim >= 1, rounds >= 1.
  HadamardRotation(uint32_t dim, uint64_t seed, uint32_t rounds = kDefaultRounds);

  uint32_t dim() const { return dim_; }
  uint32_t padded_dim() const { return padded_; }
  uint64_t seed() const { return seed_; }
  uint32_t rounds() const { return rounds_; }
  uint64_t ram_bytes() const { return signs_.size() * sizeof(float) + perm_.size() * 4; }

  // out[0, padded_dim) = T [x; 0]; x has dim values; scratch has padded_dim.
  void Apply(const float* x, float* out, float* scratch) const;
  // out[0, padded_dim) = T^T y (the inverse), y has padded_dim values.
  void ApplyTranspose(const float* y, float* out, float* scratch) const;

 private:
  void BlockHadamard(float* v) const;

  uint32_t dim_, padded_, rounds_;
  uint64_t seed_;
  std::vector<float> signs_;      // rounds x padded_dim, +-1
  std::vector<uint32_t> perm_;    // rounds x padded_dim; round output i = input perm[i]
  std::vector<uint32_t> blocks_;  // block sizes, descending, summing to padded_dim
};

struct DenseTransform {
  uint32_t rows = 0, cols = 0;
  std::vector<float> m;  // rows x cols, row-major

  // out[0, rows) = M x.
  void Apply(const float* x, float* out) const;
  uint64_t ram_bytes() const { return m.size() * sizeof(float); }
};

}  // namespace cairn

#endif  // CAIRN_INDEX_CODES_ROTATION_H_
