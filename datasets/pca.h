// Principal component analysis by an eigendecomposition of the covariance
// (OpenBLAS SGEMM for the covariance, LAPACK ssyevd for the eigenvectors).
// Used to reduce augmented images to a chosen dimension.
#ifndef CAIRN_DATASETS_PCA_H_
#define CAIRN_DATASETS_PCA_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

namespace cairn {

struct Pca {
  uint32_t in_dim = 0;
  uint32_t out_dim = 0;
  std::vector<float> mean;         // in_dim
  std::vector<float> components;   // out_dim x in_dim, largest variance first
  std::vector<float> eigenvalues;  // out_dim, descending

  // out (n x out_dim) = (in - mean) * components^T. Thread-safe (const).
  void Project(const float* in, size_t n, float* out) const;
};

// Fits on n rows of dim values; out_dim <= dim, n >= 2.
absl::StatusOr<Pca> FitPca(const float* data, size_t n, uint32_t dim, uint32_t out_dim);

}  // namespace cairn

#endif  // CAIRN_DATASETS_PCA_H_
