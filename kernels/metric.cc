#include "kernels/metric.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace cairn {

absl::StatusOr<Metric> ParseMetric(std::string_view name) {
  std::string lower = absl::AsciiStrToLower(std::string(name));
  if (lower == "l2" || lower == "euclid" || lower == "euclidean") return Metric::kL2;
  if (lower == "ip" || lower == "dot" || lower == "inner_product") return Metric::kInnerProduct;
  if (lower == "cosine" || lower == "cos") return Metric::kCosine;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown metric '", std::string(name), "': expected l2, ip or cosine"));
}

const char* MetricName(Metric metric) {
  switch (metric) {
    case Metric::kL2:
      return "l2";
    case Metric::kInnerProduct:
      return "ip";
    case Metric::kCosine:
      return "cosine";
  }
  return "?";
}

}  // namespace cairn
