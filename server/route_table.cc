#include "server/route_table.h"

namespace cairn {

std::string_view PathParams::Get(std::string_view name) const {
  for (const auto& [key, value] : values_) {
    if (key == name) return value;
  }
  return {};
}

bool MatchPath(std::string_view pattern, const std::vector<std::string>& segments,
               PathParams* params) {
  params->values_.clear();
  size_t i = 0;
  size_t start = 1;  // past the leading '/'
  while (start < pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    const std::string_view part = pattern.substr(start, end - start);
    start = end + 1;
    if (i == segments.size()) return false;
    const std::string& segment = segments[i++];
    if (part.size() >= 2 && part.front() == '{' && part.back() == '}') {
      params->values_.emplace_back(part.substr(1, part.size() - 2), segment);
    } else if (part != segment) {
      return false;
    }
  }
  return i == segments.size();
}

}  // namespace cairn
