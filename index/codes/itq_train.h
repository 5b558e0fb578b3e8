// Iterative quantisation (Gong and Lazebnik, "Iterative Quantization: A
// Procrustean Approach to Learning Binary Codes", CVPR 2011): the orthogonal
// R minimising the quantisation loss ||B - V R||_F^2 over codes B in {-1,+1},
// by alternating B = sign(V R) and R = argmin over orthogonal R, which is the
// orthogonal Procrustes solution U W^T of V^T B = U S W^T (LAPACK SVD).
// Each half step cannot increase the loss, so the recorded losses are
// non-increasing (up to float rounding).
//
// Since ||B - V R||^2 = n b + ||V||^2 - 2 ||V R||_1 for B = sign(V R), ITQ
// maximises the L1 norm of the rotated rows; on rows scaled to unit length
// that is the mean of RaBitQ's <x_bar, T o> (times sqrt(b)), the quantity
// that sets the codes' estimation error. FitPcaItq trains on such rows.
//
// Uses OpenBLAS (SGEMM) and LAPACK (sgesdd, falling back to sgesvd).
#ifndef CAIRN_INDEX_CODES_ITQ_TRAIN_H_
#define CAIRN_INDEX_CODES_ITQ_TRAIN_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "index/codes/rotation.h"

namespace cairn {

// A Haar-random orthogonal n x n matrix (row-major): the polar factor of a
// Gaussian matrix.
absl::StatusOr<std::vector<float>> RandomOrthogonal(uint32_t n, uint64_t seed);

struct ItqResult {
  std::vector<float> rotation;  // b x b, row-major; codes are sign(V R)
  // losses[k] = ||sign(V R_k) - V R_k||_F^2 for R_0 (random) to
  // R_iterations (the returned rotation).
  std::vector<double> losses;
};

// v: n rows of b values. n >= 1, b >= 1.
absl::StatusOr<ItqResult> TrainItqRotation(const float* v, size_t n, uint32_t b,
                                           uint32_t iterations, uint64_t seed);

// PCA of n rows of dim (the top b components W, b <= dim), rows projected
// without centring (the codes are of residuals, whose mean is ~0, and the
// transform must stay linear) and scaled to unit length, then ITQ. Returns
// T = R^T W (b x dim, orthonormal rows) and the ITQ losses.
struct PcaItq {
  DenseTransform transform;
  std::vector<double> losses;
};
absl::StatusOr<PcaItq> FitPcaItq(const float* x, size_t n, uint32_t dim, uint32_t b,
                                 uint32_t iterations, uint64_t seed);

}  // namespace cairn

#endif  // CAIRN_INDEX_CODES_ITQ_TRAIN_H_
