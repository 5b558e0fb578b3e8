// Typed reads of unsigned integer fields from JSON that came from disk
// (manifests). nlohmann's get<uint32_t>() converts whatever number it finds:
// a float outside the target's range is undefined behaviour, a negative
// integer wraps, and a string throws. These refuse all of those with a
// Status instead.
//
// Thread-safety: pure functions.
#ifndef CAIRN_COMMON_JSON_FIELDS_H_
#define CAIRN_COMMON_JSON_FIELDS_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace cairn {

// j[key] when it is a non-negative integer no larger than `max`; `fallback`
// when j has no such key (InvalidArgument if there is no fallback either).
// InvalidArgument naming the key for any other value (floats included, even
// integral ones: writers write integers). j must be an object.
inline absl::StatusOr<uint64_t> JsonUint(const nlohmann::json& j, const char* key,
                                         uint64_t max = std::numeric_limits<uint64_t>::max(),
                                         std::optional<uint64_t> fallback = std::nullopt) {
  const auto it = j.find(key);
  if (it == j.end()) {
    if (fallback.has_value()) return *fallback;
    return absl::InvalidArgumentError(absl::StrCat(key, ": missing"));
  }
  if (!it->is_number_unsigned() || it->get<uint64_t>() > max) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": expected an integer in [0, ", max, "], got ",
                     it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)));
  }
  return it->get<uint64_t>();
}

}  // namespace cairn

#endif  // CAIRN_COMMON_JSON_FIELDS_H_
