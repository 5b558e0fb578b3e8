// Helpers shared by the filter tests (filter_test.cc, filter_parse_test.cc).
#ifndef CAIRN_TESTS_FILTER_TEST_UTIL_H_
#define CAIRN_TESTS_FILTER_TEST_UTIL_H_

#include <string_view>
#include <utility>

#include "gtest/gtest.h"
#include "server/filter.h"

namespace cairn::testing {

// Parses a filter that must be valid (a test failure otherwise).
inline Filter MustParse(std::string_view text) {
  absl::StatusOr<Filter> f = Filter::Parse(nlohmann::json::parse(text));
  EXPECT_TRUE(f.ok()) << text << " -> " << f.status();
  return f.ok() ? *std::move(f) : Filter();
}

// Whether point `id` with `payload` passes `filter` (both JSON text).
inline bool Passes(std::string_view filter, std::string_view payload,
                   const FilterPointId& id = FilterPointId::Number(1)) {
  return MustParse(filter).Matches(id, nlohmann::json::parse(payload));
}

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_FILTER_TEST_UTIL_H_
