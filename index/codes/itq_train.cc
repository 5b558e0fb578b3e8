#include "index/codes/itq_train.h"

#include <cblas.h>

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "datasets/pca.h"

extern "C" {
void sgesdd_(const char* jobz, const int* m, const int* n, float* a, const int* lda, float* s,
             float* u, const int* ldu, float* vt, const int* ldvt, float* work, const int* lwork,
             int* iwork, int* info);
void sgesvd_(const char* jobu, const char* jobvt, const int* m, const int* n, float* a,
             const int* lda, float* s, float* u, const int* ldu, float* vt, const int* ldvt,
             float* work, const int* lwork, int* info);
}

namespace cairn {
namespace {

// Full SVD of the n x n column-major matrix a (destroyed): a = u diag(s) vt.
absl::Status Svd(int n, float* a, float* u, float* vt) {
  std::vector<float> s(n);
  int info = 0, lwork = -1;
  float query = 0;
  std::vector<int> iwork(8 * static_cast<size_t>(n));
  std::vector<float> copy(a, a + static_cast<size_t>(n) * n);  // sgesdd may fail midway
  sgesdd_("A", &n, &n, a, &n, s.data(), u, &n, vt, &n, &query, &lwork, iwork.data(), &info);
  if (info == 0) {
    lwork = static_cast<int>(query) + 1;
    std::vector<float> work(lwork);
    sgesdd_("A", &n, &n, a, &n, s.data(), u, &n, vt, &n, work.data(), &lwork, iwork.data(), &info);
    if (info == 0) return absl::OkStatus();
  }
  // Divide and conquer occasionally fails to converge where the QR-based
  // routine does not.
  lwork = -1;
  sgesvd_("A", "A", &n, &n, copy.data(), &n, s.data(), u, &n, vt, &n, &query, &lwork, &info);
  if (info != 0) return absl::InternalError(absl::StrCat("sgesvd workspace query: ", info));
  lwork = static_cast<int>(query) + 1;
  std::vector<float> work(lwork);
  sgesvd_("A", "A", &n, &n, copy.data(), &n, s.data(), u, &n, vt, &n, work.data(), &lwork, &info);
  if (info != 0) return absl::InternalError(absl::StrCat("sgesvd did not converge: ", info));
  return absl::OkStatus();
}

// The orthogonal R (row-major) maximising <M, R>_F for the row-major n x n
// M: R = U W^T for M = U S W^T. Read as column-major, the buffer of M is
// M^T = W S U^T, so LAPACK returns u = W and vt = U^T, and the column-major
// product u vt = W U^T = R^T, whose buffer read row-major is R.
absl::StatusOr<std::vector<float>> Procrustes(uint32_t n, std::vector<float> m) {
  const int ni = static_cast<int>(n);
  std::vector<float> u(static_cast<size_t>(n) * n), vt(u.size()), r(u.size());
  CAIRN_RETURN_IF_ERROR(Svd(ni, m.data(), u.data(), vt.data()));
  cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, ni, ni, ni, 1.0f, u.data(), ni, vt.data(),
              ni, 0.0f, r.data(), ni);
  return r;
}

}  // namespace

absl::StatusOr<std::vector<float>> RandomOrthogonal(uint32_t n, uint64_t seed) {
  if (n == 0) return absl::InvalidArgumentError("RandomOrthogonal needs n >= 1");
  Rng rng(seed);
  std::vector<float> g(static_cast<size_t>(n) * n);
  for (float& x : g) x = static_cast<float>(rng.Gaussian());
  return Procrustes(n, std::move(g));
}

absl::StatusOr<ItqResult> TrainItqRotation(const float* v, size_t n, uint32_t b,
                                           uint32_t iterations, uint64_t seed) {
  if (n == 0 || b == 0) {
    return absl::InvalidArgumentError(absl::StrCat("ITQ needs n, b >= 1 (n=", n, " b=", b, ")"));
  }
  ItqResult result;
  CAIRN_ASSIGN_OR_RETURN(result.rotation, RandomOrthogonal(b, seed));
  const int ni = static_cast<int>(n), bi = static_cast<int>(b);
  std::vector<float> vr(n * b), codes(n * b), m(static_cast<size_t>(b) * b);
  for (uint32_t it = 0;; ++it) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, ni, bi, bi, 1.0f, v, bi,
                result.rotation.data(), bi, 0.0f, vr.data(), bi);
    double loss = 0;
    for (size_t i = 0; i < vr.size(); ++i) {
      codes[i] = vr[i] >= 0.0f ? 1.0f : -1.0f;
      const double d = static_cast<double>(codes[i]) - vr[i];
      loss += d * d;
    }
    result.losses.push_back(loss);
    if (it == iterations) break;
    // M = V^T B; the R maximising tr(B^T V R) = <M, R> minimises the loss.
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi, bi, ni, 1.0f, v, bi, codes.data(), bi,
                0.0f, m.data(), bi);
    CAIRN_ASSIGN_OR_RETURN(result.rotation, Procrustes(b, std::move(m)));
    m.assign(static_cast<size_t>(b) * b, 0.0f);
  }
  return result;
}

absl::StatusOr<PcaItq> FitPcaItq(const float* x, size_t n, uint32_t dim, uint32_t b,
                                 uint32_t iterations, uint64_t seed) {
  CAIRN_ASSIGN_OR_RETURN(Pca pca, FitPca(x, n, dim, b));
  const int ni = static_cast<int>(n), di = static_cast<int>(dim), bi = static_cast<int>(b);
  std::vector<float> v(n * b);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ni, bi, di, 1.0f, x, di,
              pca.components.data(), di, 0.0f, v.data(), bi);
  for (size_t i = 0; i < n; ++i) {
    float* row = v.data() + i * b;
    double norm2 = 0;
    for (uint32_t j = 0; j < b; ++j) norm2 += static_cast<double>(row[j]) * row[j];
    if (norm2 == 0) continue;  // a zero residual has no direction to fit
    const float inv = static_cast<float>(1.0 / std::sqrt(norm2));
    for (uint32_t j = 0; j < b; ++j) row[j] *= inv;
  }
  CAIRN_ASSIGN_OR_RETURN(ItqResult itq, TrainItqRotation(v.data(), n, b, iterations, seed));
  PcaItq out;
  out.losses = std::move(itq.losses);
  out.transform.rows = b;
  out.transform.cols = dim;
  out.transform.m.resize(static_cast<size_t>(b) * dim);
  // (T r)_j = sum_k (W r)_k R_kj, so T = R^T W.
  cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, bi, di, bi, 1.0f, itq.rotation.data(), bi,
              pca.components.data(), di, 0.0f, out.transform.m.data(), di);
  return out;
}

}  // namespace cairn
