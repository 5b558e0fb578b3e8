#include "index/routing/gmm_file.h"

#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/coding.h"
#include "storage/record_file.h"

namespace cairn {
namespace {

constexpr size_t kBodyHeaderBytes = 8;

void AppendFloats(const float* v, size_t n, std::string* out) {
  const size_t at = out->size();
  out->resize(at + n * sizeof(float));
  if (n > 0) std::memcpy(out->data() + at, v, n * sizeof(float));
}

}  // namespace

std::string GaussianMixture::Serialize() const {
  std::string body(kBodyHeaderBytes, '\0');
  EncodeFixed32(reinterpret_cast<uint8_t*>(body.data()), dim_);
  EncodeFixed32(reinterpret_cast<uint8_t*>(body.data()) + 4, components_);
  AppendFloats(weights_.data(), weights_.size(), &body);
  AppendFloats(means_.data(), means_.size(), &body);
  AppendFloats(variances_.data(), variances_.size(), &body);
  return body;
}

absl::StatusOr<GaussianMixture> GaussianMixture::Deserialize(std::string_view body,
                                                             const std::string& where) {
  if (body.size() < kBodyHeaderBytes) {
    return absl::DataLossError(absl::StrCat(where, ": GMM body of ", body.size(), " bytes"));
  }
  const auto* p = reinterpret_cast<const uint8_t*>(body.data());
  const uint64_t dim = DecodeFixed32(p);
  const uint64_t k = DecodeFixed32(p + 4);
  // 64-bit arithmetic: dim and K of up to 2^32 cannot overflow the product.
  const uint64_t expected = kBodyHeaderBytes + 4 * k * (1 + 2 * dim);
  if (dim == 0 || k == 0 || body.size() != expected) {
    return absl::DataLossError(absl::StrCat(where, ": GMM body of ", body.size(),
                                            " bytes does not hold ", k, " components of dim ",
                                            dim));
  }
  auto read = [&](size_t offset, size_t count) {
    std::vector<float> v(count);
    std::memcpy(v.data(), p + offset, count * sizeof(float));
    return v;
  };
  const size_t means_at = kBodyHeaderBytes + 4 * k;
  const size_t vars_at = means_at + 4 * k * dim;
  absl::StatusOr<GaussianMixture> g =
      FromParameters(static_cast<uint32_t>(dim), read(kBodyHeaderBytes, k), read(means_at, k * dim),
                     read(vars_at, k * dim));
  if (!g.ok()) return absl::DataLossError(absl::StrCat(where, ": ", g.status().message()));
  return g;
}

absl::Status WriteGmmFile(Env* env, const std::string& path, const GaussianMixture& gmm) {
  return WriteRecordFile(env, path, kGmmFileMagic, kGmmFileVersion, gmm.Serialize());
}

absl::StatusOr<GaussianMixture> ReadGmmFile(Env* env, const std::string& path) {
  uint32_t version = 0;
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(env, path, kGmmFileMagic, kGmmFileVersion, &version));
  return GaussianMixture::Deserialize(body, path);
}

}  // namespace cairn
