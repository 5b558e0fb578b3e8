#include "datasets/pca.h"

#include <cblas.h>

#include "absl/strings/str_cat.h"

extern "C" void ssyevd_(const char* jobz, const char* uplo, const int* n, float* a, const int* lda,
                        float* w, float* work, const int* lwork, int* iwork, const int* liwork,
                        int* info);

namespace cairn {

void Pca::Project(const float* in, size_t n, float* out) const {
  std::vector<float> centered(n * in_dim);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < in_dim; ++d) centered[i * in_dim + d] = in[i * in_dim + d] - mean[d];
  }
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out_dim, (int)in_dim, 1.0f,
              centered.data(), (int)in_dim, components.data(), (int)in_dim, 0.0f, out,
              (int)out_dim);
}

absl::StatusOr<Pca> FitPca(const float* data, size_t n, uint32_t dim, uint32_t out_dim) {
  if (n < 2 || dim == 0 || out_dim == 0 || out_dim > dim) {
    return absl::InvalidArgumentError(absl::StrCat("PCA needs n >= 2 and 0 < out_dim <= dim (n=",
                                                   n, " dim=", dim, " out_dim=", out_dim, ")"));
  }
  Pca pca;
  pca.in_dim = dim;
  pca.out_dim = out_dim;
  std::vector<double> mean(dim, 0.0);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < dim; ++d) mean[d] += data[i * dim + d];
  }
  pca.mean.resize(dim);
  for (uint32_t d = 0; d < dim; ++d) pca.mean[d] = static_cast<float>(mean[d] / n);
  std::vector<float> centered(n * dim);
  for (size_t i = 0; i < n; ++i) {
    for (uint32_t d = 0; d < dim; ++d) centered[i * dim + d] = data[i * dim + d] - pca.mean[d];
  }
  std::vector<float> cov(static_cast<size_t>(dim) * dim);
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)dim, (int)dim, (int)n,
              1.0f / static_cast<float>(n - 1), centered.data(), (int)dim, centered.data(),
              (int)dim, 0.0f, cov.data(), (int)dim);
  // cov is symmetric, so row- and column-major agree. ssyevd returns
  // eigenvalues ascending and eigenvector j in column j (column-major).
  const int ni = static_cast<int>(dim);
  std::vector<float> w(dim);
  int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  float work_query = 0;
  ssyevd_("V", "U", &ni, cov.data(), &ni, w.data(), &work_query, &lwork, &iwork_query, &liwork,
          &info);
  if (info != 0) return absl::InternalError(absl::StrCat("ssyevd workspace query failed: ", info));
  lwork = static_cast<int>(work_query) + 1;
  liwork = iwork_query;
  std::vector<float> work(lwork);
  std::vector<int> iwork(liwork);
  ssyevd_("V", "U", &ni, cov.data(), &ni, w.data(), work.data(), &lwork, iwork.data(), &liwork,
          &info);
  if (info != 0) return absl::InternalError(absl::StrCat("ssyevd failed to converge: ", info));
  pca.components.resize(static_cast<size_t>(out_dim) * dim);
  pca.eigenvalues.resize(out_dim);
  for (uint32_t c = 0; c < out_dim; ++c) {
    const uint32_t j = dim - 1 - c;  // largest first
    pca.eigenvalues[c] = w[j];
    for (uint32_t i = 0; i < dim; ++i) {
      pca.components[static_cast<size_t>(c) * dim + i] = cov[static_cast<size_t>(j) * dim + i];
    }
  }
  return pca;
}

}  // namespace cairn
