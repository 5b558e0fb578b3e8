#include "server/point_id.h"

#include "absl/strings/str_cat.h"

namespace cairn {

absl::StatusOr<ExternalId> ParsePointId(const nlohmann::json& j, const std::string& where) {
  if (j.is_number_unsigned()) return ExternalId::Number(j.get<uint64_t>());
  if (j.is_number_integer()) {
    if (j.get<int64_t>() >= 0) return ExternalId::Number(static_cast<uint64_t>(j.get<int64_t>()));
    return absl::InvalidArgumentError(absl::StrCat(where, ": a point id must not be negative"));
  }
  if (j.is_string()) {
    const std::string& s = j.get_ref<const std::string&>();
    if (s.size() == 36 || s.size() == 32) {
      if (auto u = ExternalId::Uuid(s); u.ok()) return u;
    }
    auto id = ExternalId::String(s);
    if (!id.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", id.status().message()));
    return id;
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": a point id is an unsigned integer or a string (UUID), not ",
                   j.type_name()));
}

nlohmann::json PointIdToJson(const ExternalId& id) {
  if (id.kind() == ExternalId::Kind::kNumber) return id.number();
  return id.ToString();
}

std::string StoreKey(const ExternalId& id) {
  if (id.kind() != ExternalId::Kind::kNumber) return id.Key();
  // Big-endian, so byte order is numeric order.
  std::string key(9, '\0');
  key[0] = static_cast<char>(ExternalId::Kind::kNumber);
  const uint64_t n = id.number();
  for (int i = 0; i < 8; ++i) key[1 + i] = static_cast<char>((n >> (8 * (7 - i))) & 0xFF);
  return key;
}

absl::StatusOr<ExternalId> FromStoreKey(std::string_view key) {
  if (key.size() == 9 && key[0] == static_cast<char>(ExternalId::Kind::kNumber)) {
    uint64_t n = 0;
    for (int i = 0; i < 8; ++i) n = (n << 8) | static_cast<uint8_t>(key[1 + i]);
    return ExternalId::Number(n);
  }
  return ExternalId::FromKey(key);
}

FilterPointId ToFilterId(const ExternalId& id) {
  if (id.kind() == ExternalId::Kind::kNumber) return FilterPointId::Number(id.number());
  FilterPointId f;
  f.text = id.ToString();
  return f;
}

}  // namespace cairn
