// Filter::Parse on malformed and random input: every error is an
// InvalidArgument naming the JSON path, nothing throws, nesting is bounded.
// (The semantics of well-formed filters: filter_test.cc.)
#include <random>
#include <string>
#include <string_view>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/filter_test_util.h"
#include "server/filter.h"

namespace cairn {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

using ::cairn::testing::MustParse;
using ::cairn::testing::Passes;

// The error Parse gives, or "" if it parsed.
std::string ParseError(std::string_view text) {
  absl::StatusOr<Filter> f = Filter::Parse(json::parse(text));
  if (f.ok()) return "";
  EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument) << f.status();
  return std::string(f.status().message());
}

// ------------------------------------------------------------------ malformed input

struct BadCase {
  const char* filter;
  const char* message;  // a substring of the error, usually its path
};

TEST(FilterParse, MalformedInputNamesThePath) {
  const BadCase cases[] = {
      {"[]", "filter: expected a filter object, got array"},
      {"\"must\"", "filter: expected a filter object, got string"},
      {"5", "filter: expected a filter object, got number 5"},
      {"true", "filter: expected a filter object"},
      {R"({"mus": []})", "filter.mus: unknown field"},
      {R"({"must": 5})", "filter.must: expected a condition or an array of conditions"},
      {R"({"must": "x"})", "filter.must: expected a condition"},
      {R"({"should": [{"key": "a", "match": {"value": 1}}, 7]})",
       "filter.should[1]: expected a condition object, got number 7"},
      {R"({"must": [{"foo": 1}]})", "filter.must[0].foo: unknown field"},
      {R"({"must": [{"key": "", "match": {"value": 1}}]})", "filter.must[0].key: key is empty"},
      {R"({"must": [{"key": 5, "match": {"value": 1}}]})",
       "filter.must[0].key: expected a key string, got number 5"},
      {R"({"must": [{"key": "a..b", "match": {"value": 1}}]})", "filter.must[0].key: bad key"},
      {R"({"must": [{"key": ".a", "match": {"value": 1}}]})", "filter.must[0].key: bad key"},
      {R"({"must": [{"key": "a.", "match": {"value": 1}}]})", "filter.must[0].key: bad key"},
      {R"({"must": [{"key": "a[", "match": {"value": 1}}]})", "unclosed ["},
      {R"({"must": [{"key": "a[x]", "match": {"value": 1}}]})", "array index must be digits"},
      {R"({"must": [{"key": "[0]", "match": {"value": 1}}]})", "expected a field name"},
      {R"({"must": [{"key": "a]b", "match": {"value": 1}}]})", "expected '.' or '['"},
      {R"({"must": [{"key": "\"ab", "match": {"value": 1}}]})", "unclosed quote"},
      {R"({"must": [{"key": "a[99999999999]", "match": {"value": 1}}]})", "index too large"},
      {R"({"must": [{"key": "a"}]})",
       "filter.must[0]: expected exactly one of match, range, values_count"},
      {R"({"must": [{"key": "a", "match": {"value": 1}, "range": {"gt": 1}}]})",
       "filter.must[0]: expected exactly one of match, range, values_count"},
      {R"({"must": [{"key": "a", "match": 1}]})", "filter.must[0].match: expected an object"},
      {R"({"must": [{"key": "a", "match": {}}]})", "filter.must[0].match: expected exactly one"},
      {R"({"must": [{"key": "a", "match": {"value": 1, "any": [1]}}]})",
       "filter.must[0].match: expected exactly one"},
      {R"({"must": [{"key": "a", "match": {"valu": 1}}]})", "filter.must[0].match.valu: unknown"},
      {R"({"must": [{"key": "a", "match": {"value": 1.5}}]})",
       "filter.must[0].match.value: expected an integer, got number 1.5"},
      {R"({"must": [{"key": "a", "match": {"value": 9223372036854775808}}]})",
       "filter.must[0].match.value: expected an integer"},
      {R"({"must": [{"key": "a", "match": {"value": [1]}}]})",
       "filter.must[0].match.value: expected a string, an integer or a boolean, got array"},
      {R"({"must": [{"key": "a", "match": {"value": {}}}]})", "filter.must[0].match.value"},
      {R"({"must": [{"key": "a", "match": {"any": "x"}}]})",
       "filter.must[0].match.any: expected an array"},
      {R"({"must": [{"key": "a", "match": {"any": ["x", 1]}}]})",
       "filter.must[0].match.any[1]: mixes strings and integers"},
      {R"({"must": [{"key": "a", "match": {"except": [1, true]}}]})",
       "filter.must[0].match.except[1]: expected a string or an integer, got boolean"},
      {R"({"must": [{"key": "a", "match": {"any": [null]}}]})", "filter.must[0].match.any[0]"},
      {R"({"must": [{"key": "a", "match": {"text": 5}}]})",
       "filter.must[0].match.text: expected a string"},
      {R"({"must": [{"key": "a", "range": 5}]})", "filter.must[0].range: expected an object"},
      {R"({"must": [{"key": "a", "range": {}}]})",
       "filter.must[0].range: expected at least one of gt, gte, lt, lte"},
      {R"({"must": [{"key": "a", "range": {"gt": null, "lt": null}}]})",
       "filter.must[0].range: expected at least one"},
      {R"({"must": [{"key": "a", "range": {"gt": true}}]})",
       "filter.must[0].range.gt: expected a number or a datetime string, got boolean"},
      {R"({"must": [{"key": "a", "range": {"gt": "soon"}}]})",
       "filter.must[0].range.gt: \"soon\" is not an RFC 3339 datetime"},
      {R"({"must": [{"key": "a", "range": {"gt": "2023-02-30"}}]})", "filter.must[0].range.gt"},
      {R"({"must": [{"key": "a", "range": {"gt": 1, "lt": "2023-02-08"}}]})",
       "filter.must[0].range: mixes numbers and datetime strings"},
      {R"({"must": [{"key": "a", "range": {"ge": 1}}]})", "filter.must[0].range.ge: unknown field"},
      {R"({"must": [{"key": "a", "values_count": {"gt": -1}}]})",
       "filter.must[0].values_count.gt: expected a non-negative integer"},
      {R"({"must": [{"key": "a", "values_count": {"lt": 1.5}}]})",
       "filter.must[0].values_count.lt: expected a non-negative integer"},
      {R"({"must": [{"key": "a", "values_count": {}}]})", "filter.must[0].values_count: expected"},
      {R"({"must": [{"key": "a", "geo_radius": {"center": {}, "radius": 1}}]})",
       "filter.must[0].geo_radius: geo conditions are not supported"},
      {R"({"must": [{"key": "a", "is_empty": true}]})", "filter.must[0].is_empty: not supported"},
      {R"({"must": [{"key": "a", "match": {"value": 1}, "extra": 1}]})",
       "filter.must[0].extra: unknown field"},
      {R"({"must": [{"is_empty": "a"}]})", "filter.must[0].is_empty: expected an object"},
      {R"({"must": [{"is_empty": {}}]})", "filter.must[0].is_empty: missing key"},
      {R"({"must": [{"is_null": {"key": "a", "x": 1}}]})", "filter.must[0].is_null.x: unknown"},
      {R"({"must": [{"is_null": {"key": ""}}]})", "filter.must[0].is_null.key: key is empty"},
      {R"({"must": [{"is_empty": {"key": "a"}, "must": []}]})",
       "filter.must[0].must: unknown field; nothing may stand beside is_empty"},
      {R"({"must": [{"has_id": 5}]})", "filter.must[0].has_id: expected an array"},
      {R"({"must": [{"has_id": [1, -1]}]})",
       "filter.must[0].has_id[1]: expected an unsigned integer or a string id, got number -1"},
      {R"({"must": [{"has_id": [1.5]}]})", "filter.must[0].has_id[0]"},
      {R"({"must": [{"has_id": [{}]}]})", "filter.must[0].has_id[0]"},
      {R"({"must": [{"has_vector": "v"}]})", "filter.must[0].has_vector: has_vector is not supp"},
      {R"({"must": [{"nested": {"key": "a"}}]})", "filter.must[0].nested: needs key and filter"},
      {R"({"must": [{"nested": {"filter": {}}}]})", "filter.must[0].nested: needs key and filter"},
      {R"({"must": [{"nested": {"key": "a", "filter": []}}]})",
       "filter.must[0].nested.filter: expected a filter object, got array"},
      {R"({"must": [{"nested": {"key": "a", "filter": {"must": [{"has_id": [1]}]}}}]})",
       "filter.must[0].nested.filter.must[0].has_id: has_id is not supported inside nested"},
      {R"({"must": [{"nested": {"key": "a", "filter": {"should": [{"must": {"has_id": [1]}}]}}}]})",
       "filter.must[0].nested.filter.should[0].must.has_id: has_id is not supported"},
      {R"({"must": [{"nested": {"key": "a", "filter": {"must": {"key": "b", "range": {}}}}}]})",
       "filter.must[0].nested.filter.must.range: expected at least one"},
      {R"({"must": [{"nested": {"key": "a", "filter": {}, "x": 1}}]})",
       "filter.must[0].nested.x: unknown field"},
      {R"({"must": [{"must": [{"key": "a", "range": {"gt": "x"}}]}]})",
       "filter.must[0].must[0].range.gt"},
      {R"({"min_should": {"conditions": []}})",
       "filter.min_should: needs conditions and min_count"},
      {R"({"min_should": {"conditions": [], "min_count": -1}})",
       "filter.min_should.min_count: expected a non-negative integer"},
      {R"({"min_should": {"conditions": [5], "min_count": 1}})",
       "filter.min_should.conditions[0]: expected a condition object"},
      {R"({"min_should": [1]})", "filter.min_should: expected an object"},
  };
  for (const BadCase& c : cases) {
    SCOPED_TRACE(c.filter);
    EXPECT_THAT(ParseError(c.filter), HasSubstr(c.message));
  }
}

TEST(FilterParse, NullMembersCountAsAbsent) {
  // What pydantic-style clients send for unset optional fields.
  EXPECT_TRUE(Passes(R"({"must": [{"key": "a", "match": {"value": 1}, "range": null,
                                   "geo_radius": null, "values_count": null, "is_empty": null}],
                         "should": null, "must_not": null, "min_should": null})",
                     R"({"a": 1})"));
  EXPECT_TRUE(Passes(R"({"must": [{"has_id": [1], "key": null}]})", "{}"));
}

TEST(FilterParse, NestingDepthIsBounded) {
  std::string ok = "{}";
  for (int i = 0; i < Filter::kMaxDepth; ++i) ok = R"({"must": [)" + ok + "]}";
  EXPECT_EQ(ParseError(ok), "");
  const std::string too_deep = R"({"must": [)" + ok + "]}";
  EXPECT_THAT(ParseError(too_deep), HasSubstr("nested deeper than"));
  std::string key = "a";
  for (int i = 0; i < 100; ++i) key += ".a";
  EXPECT_THAT(ParseError(R"({"must": {"key": ")" + key + R"(", "match": {"value": 1}}})"),
              HasSubstr("too many parts"));
}

// Random JSON, shaped like filters often enough to reach deep into Parse,
// must never throw; whatever parses must evaluate without throwing.
json RandomJson(std::mt19937& rng, int depth) {
  static const char* kWords[] = {"must",      "should", "must_not", "min_should",   "key",
                                 "match",     "value",  "any",      "except",       "text",
                                 "range",     "gt",     "lte",      "values_count", "is_empty",
                                 "is_null",   "has_id", "nested",   "filter",       "conditions",
                                 "min_count", "a",      "a.b",      "a[]",          "a[0]"};
  const int kind = static_cast<int>(rng() % (depth > 4 ? 6 : 9));
  switch (kind) {
    case 0:
      return nullptr;
    case 1:
      return rng() % 2 == 0;
    case 2:
      return static_cast<int64_t>(rng() % 7) - 2;
    case 3:
      return (rng() % 100) / 7.0;
    case 4:
      return kWords[rng() % std::size(kWords)];
    case 5:
      return "2023-02-0" + std::to_string(rng() % 9 + 1);
    case 6:
    case 7: {
      json o = json::object();
      const int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) o[kWords[rng() % std::size(kWords)]] = RandomJson(rng, depth + 1);
      return o;
    }
    default: {
      json a = json::array();
      const int n = static_cast<int>(rng() % 4);
      for (int i = 0; i < n; ++i) a.push_back(RandomJson(rng, depth + 1));
      return a;
    }
  }
}

TEST(FilterParse, RandomInputNeverThrows) {
  std::mt19937 rng(12345);
  int parsed = 0;
  for (int i = 0; i < 20000; ++i) {
    const json filter = RandomJson(rng, 0);
    const json payload = RandomJson(rng, 0);
    absl::StatusOr<Filter> f = Filter();
    ASSERT_NO_THROW(f = Filter::Parse(filter)) << filter.dump();
    if (!f.ok()) {
      EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(std::string(f.status().message()), ::testing::StartsWith("filter"));
      continue;
    }
    ++parsed;
    ASSERT_NO_THROW(f->Matches(FilterPointId::Number(i % 3), payload)) << filter.dump();
  }
  EXPECT_GT(parsed, 100);  // the generator does reach valid filters
}

}  // namespace
}  // namespace cairn
