#include "server/filter.h"

#include <cstdint>
#include <iterator>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/filter_test_util.h"

namespace cairn {

// Readable failure messages for ElementsAre over ids.
void PrintTo(const FilterPointId& id, std::ostream* os) {
  if (id.is_number) {
    *os << id.number;
  } else {
    *os << '"' << id.text << '"';
  }
}

namespace {

using nlohmann::json;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using ::cairn::testing::MustParse;
using ::cairn::testing::Passes;

struct Point {
  uint64_t id;
  json payload;
};

std::vector<uint64_t> Matching(std::string_view filter, const std::vector<Point>& points) {
  const Filter f = MustParse(filter);
  std::vector<uint64_t> ids;
  for (const Point& p : points) {
    if (f.Matches(FilterPointId::Number(p.id), p.payload)) ids.push_back(p.id);
  }
  return ids;
}

// The points of Qdrant's filtering documentation, with its expected results.
std::vector<Point> Cities() {
  return {
      {1, {{"city", "London"}, {"color", "green"}}}, {2, {{"city", "London"}, {"color", "red"}}},
      {3, {{"city", "London"}, {"color", "blue"}}},  {4, {{"city", "Berlin"}, {"color", "red"}}},
      {5, {{"city", "Moscow"}, {"color", "green"}}}, {6, {{"city", "Moscow"}, {"color", "blue"}}}};
}

constexpr char kLondon[] = R"({"key": "city", "match": {"value": "London"}})";
constexpr char kRed[] = R"({"key": "color", "match": {"value": "red"}})";

std::string Clause(std::string_view name, std::string_view a, std::string_view b) {
  return std::string("{\"") + std::string(name) + "\": [" + std::string(a) + ", " + std::string(b) +
         "]}";
}

// ------------------------------------------------------------------ clauses

TEST(FilterClauses, DocumentationExamples) {
  EXPECT_THAT(Matching(Clause("must", kLondon, kRed), Cities()), ElementsAre(2));
  EXPECT_THAT(Matching(Clause("should", kLondon, kRed), Cities()), ElementsAre(1, 2, 3, 4));
  EXPECT_THAT(Matching(Clause("must_not", kLondon, kRed), Cities()), ElementsAre(5, 6));
  EXPECT_THAT(Matching(std::string("{\"must\": [") + kLondon + "], \"must_not\": [" + kRed + "]}",
                       Cities()),
              ElementsAre(1, 3));
  EXPECT_THAT(
      Matching(std::string("{\"must_not\": [") + Clause("must", kLondon, kRed) + "]}", Cities()),
      ElementsAre(1, 3, 4, 5, 6));
}

TEST(FilterClauses, SingleConditionObjectInsteadOfArray) {
  EXPECT_THAT(Matching(std::string("{\"must\": ") + kRed + "}", Cities()), ElementsAre(2, 4));
  EXPECT_THAT(Matching(std::string("{\"must_not\": ") + kRed + "}", Cities()),
              ElementsAre(1, 3, 5, 6));
  EXPECT_THAT(Matching(std::string("{\"should\": ") + kRed + "}", Cities()), ElementsAre(2, 4));
}

TEST(FilterClauses, ShouldCombinesWithMustAndMustNot) {
  const std::string filter =
      std::string(R"({"must": [{"key": "color", "match": {"any": ["red", "green"]}}],
                      "should": [{"key": "city", "match": {"value": "Moscow"}},
                                 {"key": "city", "match": {"value": "Berlin"}}],
                      "must_not": [{"key": "color", "match": {"value": "green"}}]})");
  EXPECT_THAT(Matching(filter, Cities()), ElementsAre(4));
}

TEST(FilterClauses, MinShouldCountsMatchingConditions) {
  const std::string conditions = std::string("[") + kLondon + ", " + kRed +
                                 R"(, {"key": "color", "match": {"value": "green"}}])";
  EXPECT_THAT(
      Matching(R"({"min_should": {"min_count": 2, "conditions": )" + conditions + "}}", Cities()),
      ElementsAre(1, 2));
  EXPECT_THAT(
      Matching(R"({"min_should": {"min_count": 1, "conditions": )" + conditions + "}}", Cities()),
      ElementsAre(1, 2, 3, 4, 5));
  EXPECT_THAT(
      Matching(R"({"min_should": {"min_count": 3, "conditions": )" + conditions + "}}", Cities()),
      IsEmpty());
  EXPECT_THAT(Matching(R"({"min_should": {"min_count": 0, "conditions": []}})", Cities()),
              ElementsAre(1, 2, 3, 4, 5, 6));
  EXPECT_THAT(Matching(R"({"min_should": {"min_count": 1, "conditions": []}})", Cities()),
              IsEmpty());
}

TEST(FilterClauses, EmptyFiltersMatchEverythingButEmptyShouldMatchesNothing) {
  for (const char* text : {"{}", "null", R"({"must": []})", R"({"must_not": []})",
                           R"({"must": null, "should": null})", R"({"must": [{}]})"}) {
    SCOPED_TRACE(text);
    EXPECT_THAT(Matching(text, Cities()), ElementsAre(1, 2, 3, 4, 5, 6));
  }
  EXPECT_TRUE(MustParse("{}").empty());
  EXPECT_TRUE(MustParse("null").empty());
  EXPECT_TRUE(MustParse(R"({"must": [], "must_not": []})").empty());
  EXPECT_TRUE(Filter().empty());
  EXPECT_TRUE(Filter().Matches(FilterPointId::Number(9), json::parse(R"({"a": 1})")));
  EXPECT_FALSE(MustParse(std::string("{\"must\": ") + kRed + "}").empty());
  EXPECT_FALSE(MustParse(R"({"should": []})").empty());
  EXPECT_THAT(Matching(R"({"should": []})", Cities()), IsEmpty());
  EXPECT_THAT(Matching(R"({"must_not": [{}]})", Cities()), IsEmpty());
}

TEST(FilterClauses, DeepNestingOfBooleanFilters) {
  // (London AND NOT red) OR (Moscow AND blue)
  const std::string filter = R"({"should": [
      {"must": [{"key": "city", "match": {"value": "London"}}],
       "must_not": [{"key": "color", "match": {"value": "red"}}]},
      {"must": [{"key": "city", "match": {"value": "Moscow"}},
                {"should": [{"key": "color", "match": {"value": "blue"}}]}]}]})";
  EXPECT_THAT(Matching(filter, Cities()), ElementsAre(1, 3, 6));
}

TEST(FilterClauses, NonObjectPayloadCountsAsEmpty) {
  const Filter f = MustParse(R"({"must": {"is_empty": {"key": "a"}}})");
  EXPECT_TRUE(f.Matches(FilterPointId::Number(1), json()));
  EXPECT_TRUE(f.Matches(FilterPointId::Number(1), json::parse("[1, 2]")));
  EXPECT_TRUE(f.Matches(FilterPointId::Number(1), json::parse("{}")));
  EXPECT_FALSE(f.Matches(FilterPointId::Number(1), json::parse(R"({"a": 1})")));
  EXPECT_FALSE(Passes(std::string("{\"must\": ") + kRed + "}", "null"));
}

// ------------------------------------------------------------------ match

TEST(FilterMatch, ValueComparesWithinOneType) {
  const char* s = R"({"must": {"key": "v", "match": {"value": "1"}}})";
  const char* i = R"({"must": {"key": "v", "match": {"value": 1}}})";
  const char* b = R"({"must": {"key": "v", "match": {"value": true}}})";
  EXPECT_TRUE(Passes(s, R"({"v": "1"})"));
  EXPECT_FALSE(Passes(s, R"({"v": 1})"));
  EXPECT_FALSE(Passes(s, R"({"v": true})"));
  EXPECT_TRUE(Passes(i, R"({"v": 1})"));
  EXPECT_FALSE(Passes(i, R"({"v": "1"})"));
  EXPECT_FALSE(Passes(i, R"({"v": true})"));
  EXPECT_FALSE(Passes(i, R"({"v": 2})"));
  EXPECT_TRUE(Passes(b, R"({"v": true})"));
  EXPECT_FALSE(Passes(b, R"({"v": 1})"));
  EXPECT_FALSE(Passes(b, R"({"v": "true"})"));
  EXPECT_FALSE(Passes(b, R"({"v": false})"));
  EXPECT_TRUE(Passes(R"({"must": {"key": "v", "match": {"value": false}}})", R"({"v": false})"));
}

TEST(FilterMatch, ValueStringIsExactAndCaseSensitive) {
  const char* f = R"({"must": {"key": "color", "match": {"value": "red"}}})";
  EXPECT_TRUE(Passes(f, R"({"color": "red"})"));
  EXPECT_FALSE(Passes(f, R"({"color": "Red"})"));
  EXPECT_FALSE(Passes(f, R"({"color": "reddish"})"));
  EXPECT_FALSE(Passes(f, R"({"color": ""})"));
  EXPECT_TRUE(Passes(R"({"must": {"key": "c", "match": {"value": ""}}})", R"({"c": ""})"));
}

TEST(FilterMatch, IntegersIncludeIntegralFloatsAndNegatives) {
  const char* three = R"({"must": {"key": "n", "match": {"value": 3}}})";
  EXPECT_TRUE(Passes(three, R"({"n": 3.0})"));
  EXPECT_FALSE(Passes(three, R"({"n": 3.5})"));
  EXPECT_FALSE(Passes(three, R"({"n": -3})"));
  EXPECT_TRUE(Passes(R"({"must": {"key": "n", "match": {"value": -3}}})", R"({"n": -3})"));
  EXPECT_TRUE(Passes(R"({"must": {"key": "n", "match": {"value": 4.0}}})", R"({"n": 4})"));
  const char* big = R"({"must": {"key": "n", "match": {"value": 9223372036854775807}}})";
  EXPECT_TRUE(Passes(big, R"({"n": 9223372036854775807})"));
  EXPECT_FALSE(Passes(big, R"({"n": 9223372036854775808})"));
  EXPECT_FALSE(Passes(big, R"({"n": 1e300})"));
}

TEST(FilterMatch, ValueOnArrayMatchesAnyElementAndMissingFails) {
  const char* f = R"({"must": {"key": "tags", "match": {"value": "b"}}})";
  EXPECT_TRUE(Passes(f, R"({"tags": ["a", "b"]})"));
  EXPECT_FALSE(Passes(f, R"({"tags": ["a", "c"]})"));
  EXPECT_FALSE(Passes(f, R"({"tags": []})"));
  EXPECT_FALSE(Passes(f, R"({"tags": [["b"]]})"));  // arrays inside the leaf array stay closed
  EXPECT_FALSE(Passes(f, R"({"other": "b"})"));
  EXPECT_FALSE(Passes(f, R"({"tags": null})"));
  EXPECT_FALSE(Passes(f, "{}"));
}

TEST(FilterMatch, AnyIsSetMembership) {
  const char* colors = R"({"must": {"key": "color", "match": {"any": ["black", "yellow"]}}})";
  EXPECT_TRUE(Passes(colors, R"({"color": "black"})"));
  EXPECT_TRUE(Passes(colors, R"({"color": ["black", "green"]})"));  // the documented example
  EXPECT_FALSE(Passes(colors, R"({"color": ["red", "green"]})"));
  EXPECT_FALSE(Passes(colors, R"({"color": "Black"})"));
  EXPECT_FALSE(Passes(colors, "{}"));
  const char* ints = R"({"must": {"key": "n", "match": {"any": [5, 1, 3, 3]}}})";
  EXPECT_TRUE(Passes(ints, R"({"n": 3})"));
  EXPECT_TRUE(Passes(ints, R"({"n": 5.0})"));
  EXPECT_FALSE(Passes(ints, R"({"n": 2})"));
  EXPECT_FALSE(Passes(ints, R"({"n": "3"})"));
  EXPECT_FALSE(Passes(ints, R"({"n": true})"));
  EXPECT_FALSE(Passes(R"({"must": {"key": "n", "match": {"any": []}}})", R"({"n": "x"})"));
}

TEST(FilterMatch, AnyWithManyValuesUsesTheWholeList) {
  json list = json::array();
  for (int i = 0; i < 1000; i += 3) list.push_back(i);
  json condition = {{"key", "n"}, {"match", {{"any", list}}}};
  json filter = {{"must", json::array({condition})}};
  absl::StatusOr<Filter> parsed = Filter::Parse(filter);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  const Filter& f = *parsed;
  int matched = 0;
  for (int i = 0; i < 1000; ++i) matched += f.Matches(FilterPointId::Number(1), json{{"n", i}});
  EXPECT_EQ(matched, 334);
}

TEST(FilterMatch, ExceptFollowsQdrant) {
  const char* f = R"({"must": {"key": "color", "match": {"except": ["black", "yellow"]}}})";
  EXPECT_TRUE(Passes(f, R"({"color": "red"})"));
  EXPECT_FALSE(Passes(f, R"({"color": "black"})"));
  EXPECT_TRUE(Passes(f, R"({"color": ["black", "green"]})"));  // the documented example
  EXPECT_FALSE(Passes(f, R"({"color": ["black", "yellow"]})"));
  EXPECT_FALSE(Passes(f, R"({"color": []})"));
  EXPECT_FALSE(Passes(f, R"({"color": null})"));
  EXPECT_FALSE(Passes(f, "{}"));              // a missing key is not "other than"
  EXPECT_TRUE(Passes(f, R"({"color": 7})"));  // another type is not listed
  EXPECT_TRUE(Passes(f, R"({"color": true})"));
  EXPECT_TRUE(Passes(f, R"({"color": {"x": 1}})"));
  const char* ints = R"({"must": {"key": "n", "match": {"except": [1, 2]}}})";
  EXPECT_FALSE(Passes(ints, R"({"n": 2})"));
  EXPECT_FALSE(Passes(ints, R"({"n": 2.0})"));
  EXPECT_TRUE(Passes(ints, R"({"n": 2.5})"));
  EXPECT_TRUE(Passes(ints, R"({"n": 3})"));
  EXPECT_TRUE(Passes(ints, R"({"n": "2"})"));
  const char* none = R"({"must": {"key": "n", "match": {"except": []}}})";
  EXPECT_TRUE(Passes(none, R"({"n": 0})"));
  EXPECT_FALSE(Passes(none, R"({"n": null})"));
  // The documented way to keep points without the key too.
  const char* or_missing = R"({"should": [
      {"key": "color", "match": {"except": ["black"]}}, {"is_empty": {"key": "color"}}]})";
  EXPECT_TRUE(Passes(or_missing, "{}"));
  EXPECT_TRUE(Passes(or_missing, R"({"color": "red"})"));
  EXPECT_FALSE(Passes(or_missing, R"({"color": "black"})"));
}

TEST(FilterMatch, TextIsSubstringOfStrings) {
  const char* f = R"({"must": {"key": "d", "match": {"text": "good cheap"}}})";
  EXPECT_TRUE(Passes(f, R"({"d": "a good cheap phone"})"));
  EXPECT_FALSE(Passes(f, R"({"d": "cheap and good"})"));
  EXPECT_FALSE(Passes(f, R"({"d": "a Good cheap phone"})"));
  EXPECT_TRUE(Passes(f, R"({"d": ["x", "good cheap"]})"));
  EXPECT_FALSE(Passes(f, R"({"d": 5})"));
  EXPECT_FALSE(Passes(f, "{}"));
  EXPECT_TRUE(
      Passes(R"({"must": {"key": "d", "match": {"phrase": "od ch"}}})", R"({"d": "good cheap"})"));
  const char* any = R"({"must": {"key": "d", "match": {"text_any": "  cheap\tfast "}}})";
  EXPECT_TRUE(Passes(any, R"({"d": "it is fast"})"));
  EXPECT_TRUE(Passes(any, R"({"d": "cheapest"})"));
  EXPECT_FALSE(Passes(any, R"({"d": "slow"})"));
  EXPECT_FALSE(Passes(R"({"must": {"key": "d", "match": {"text_any": " "}}})", R"({"d": " "})"));
}

// ------------------------------------------------------------------ range

TEST(FilterRange, BoundsAreStrictOrInclusiveAsNamed) {
  const char* f = R"({"must": {"key": "p", "range": {"gt": 1, "lte": 3}}})";
  EXPECT_FALSE(Passes(f, R"({"p": 1})"));
  EXPECT_TRUE(Passes(f, R"({"p": 1.0001})"));
  EXPECT_TRUE(Passes(f, R"({"p": 3})"));
  EXPECT_FALSE(Passes(f, R"({"p": 3.0001})"));
  const char* g = R"({"must": {"key": "p", "range": {"gte": 1, "lt": 3}}})";
  EXPECT_TRUE(Passes(g, R"({"p": 1})"));
  EXPECT_FALSE(Passes(g, R"({"p": 3})"));
  EXPECT_TRUE(Passes(g, R"({"p": 2.999})"));
  EXPECT_FALSE(Passes(g, R"({"p": -5})"));
}

TEST(FilterRange, OnlyNumbersAreInRange) {
  const char* f = R"({"must": {"key": "p", "range": {"gte": 0}}})";
  EXPECT_TRUE(Passes(f, R"({"p": 0})"));
  EXPECT_TRUE(Passes(f, R"({"p": 18446744073709551615})"));
  EXPECT_FALSE(Passes(f, R"({"p": "5"})"));
  EXPECT_FALSE(Passes(f, R"({"p": true})"));
  EXPECT_FALSE(Passes(f, R"({"p": null})"));
  EXPECT_FALSE(Passes(f, R"({"p": {"v": 1}})"));
  EXPECT_FALSE(Passes(f, "{}"));
  EXPECT_TRUE(Passes(f, R"({"p": [-1, 4]})"));
  EXPECT_FALSE(Passes(f, R"({"p": [-1, -4]})"));
}

TEST(FilterRange, NullBoundsAreAbsent) {
  const char* f = R"({"must": {"key": "price", "range":
      {"gt": null, "gte": 100.0, "lt": null, "lte": 450.0}}})";
  EXPECT_TRUE(Passes(f, R"({"price": 100})"));
  EXPECT_TRUE(Passes(f, R"({"price": 450})"));
  EXPECT_FALSE(Passes(f, R"({"price": 450.5})"));
  EXPECT_FALSE(Passes(f, R"({"price": 99})"));
}

TEST(FilterRange, DocumentedNestedArrayProjection) {
  const std::vector<Point> countries = {
      {1, json::parse(R"({"country": {"name": "Germany", "cities": [
          {"name": "Berlin", "population": 3.7, "sightseeing": ["Brandenburg Gate", "Reichstag"]},
          {"name": "Munich", "population": 1.5, "sightseeing": ["Marienplatz", "Olympia"]}]}})")},
      {2, json::parse(R"({"country": {"name": "Japan", "cities": [
          {"name": "Tokyo", "population": 9.3, "sightseeing": ["Tokyo Tower", "Tokyo Skytree"]},
          {"name": "Osaka", "population": 2.7, "sightseeing": ["Osaka Castle", "USJ"]}]}})")}};
  EXPECT_THAT(Matching(R"({"should": [{"key": "country.name", "match": {"value": "Germany"}}]})",
                       countries),
              ElementsAre(1));
  EXPECT_THAT(
      Matching(R"({"should": [{"key": "country.cities[].population", "range": {"gte": 9.0}}]})",
               countries),
      ElementsAre(2));
  EXPECT_THAT(Matching(R"({"should": [{"key": "country.cities[].sightseeing",
                                        "match": {"value": "Osaka Castle"}}]})",
                       countries),
              ElementsAre(2));
  // Without [] the array is walked as well.
  EXPECT_THAT(
      Matching(R"({"must": {"key": "country.cities.population", "range": {"lt": 2}}})", countries),
      ElementsAre(1));
  EXPECT_THAT(
      Matching(R"({"must": {"key": "country.cities[1].name", "match": {"value": "Osaka"}}})",
               countries),
      ElementsAre(2));
  EXPECT_THAT(
      Matching(R"({"must": {"key": "country.cities[0].name", "match": {"value": "Osaka"}}})",
               countries),
      IsEmpty());
}

TEST(FilterRange, DatetimeStrings) {
  const char* f = R"({"must": {"key": "t", "range":
      {"gte": "2023-02-08T10:49:00Z", "lt": "2023-02-08T12:00:00+01:00"}}})";
  EXPECT_TRUE(Passes(f, R"({"t": "2023-02-08T10:49:00Z"})"));
  EXPECT_TRUE(Passes(f, R"({"t": "2023-02-08T10:59:59.999Z"})"));
  EXPECT_FALSE(Passes(f, R"({"t": "2023-02-08T11:00:00Z"})"));       // 12:00+01:00 is 11:00Z
  EXPECT_TRUE(Passes(f, R"({"t": "2023-02-08T12:50:00+02:00"})"));   // 10:50Z
  EXPECT_FALSE(Passes(f, R"({"t": "2023-02-08T12:30:00+02:00"})"));  // 10:30Z
  EXPECT_TRUE(Passes(f, R"({"t": "2023-02-08 10:50:00"})"));         // no offset: UTC
  EXPECT_TRUE(Passes(f, R"({"t": "2023-02-08T10:50"})"));
  EXPECT_FALSE(Passes(f, R"({"t": "2023-02-08T10:48:59Z"})"));
  EXPECT_FALSE(Passes(f, R"({"t": "yesterday"})"));
  EXPECT_FALSE(Passes(f, R"({"t": 1675853340})"));
  EXPECT_FALSE(Passes(f, "{}"));
  const char* day = R"({"must": {"key": "t", "range": {"gte": "2023-02-08", "lt": "2023-02-09"}}})";
  EXPECT_TRUE(Passes(day, R"({"t": "2023-02-08T23:59:59Z"})"));
  EXPECT_FALSE(Passes(day, R"({"t": "2023-02-09T00:00:00Z"})"));
  EXPECT_TRUE(Passes(day, R"({"t": ["2020-01-01", "2023-02-08"]})"));
}

// ------------------------------------------------------------------ values_count

TEST(FilterValuesCount, CountsArrayElementsScalarsAsOneMissingAsZero) {
  const std::vector<Point> products = {
      {1, json::parse(R"({"comments": ["Very good!", "Excellent"]})")},
      {2, json::parse(R"({"comments": ["meh", "expected more", "ok"]})")},
      {3, json::parse(R"({"comments": "single"})")},
      {4, json::parse(R"({"comments": null})")},
      {5, json::parse("{}")},
      {6, json::parse(R"({"comments": []})")}};
  EXPECT_THAT(Matching(R"({"must": {"key": "comments", "values_count": {"gt": 2}}})", products),
              ElementsAre(2));
  EXPECT_THAT(
      Matching(R"({"must": {"key": "comments", "values_count": {"gte": 1, "lte": 2}}})", products),
      ElementsAre(1, 3));
  EXPECT_THAT(Matching(R"({"must": {"key": "comments", "values_count": {"lt": 1}}})", products),
              ElementsAre(4, 5, 6));
  EXPECT_THAT(
      Matching(R"({"must": {"key": "comments", "values_count": {"gt": 1, "lt": 3}}})", products),
      ElementsAre(1));
}

TEST(FilterValuesCount, SumsOverProjectedArrays) {
  const char* f = R"({"must": {"key": "a[].b", "values_count": {"gte": 3}}})";
  EXPECT_TRUE(Passes(f, R"({"a": [{"b": [1, 2]}, {"b": 3}]})"));
  EXPECT_FALSE(Passes(f, R"({"a": [{"b": [1, 2]}, {"c": 3}]})"));
}

// ------------------------------------------------------------------ is_empty / is_null

TEST(FilterIsEmpty, MissingNullAndEmptyArrayAreEmpty) {
  const char* f = R"({"must": {"is_empty": {"key": "r"}}})";
  EXPECT_TRUE(Passes(f, "{}"));
  EXPECT_TRUE(Passes(f, R"({"r": null})"));
  EXPECT_TRUE(Passes(f, R"({"r": []})"));
  EXPECT_FALSE(Passes(f, R"({"r": [null]})"));
  EXPECT_FALSE(Passes(f, R"({"r": ""})"));
  EXPECT_FALSE(Passes(f, R"({"r": 0})"));
  EXPECT_FALSE(Passes(f, R"({"r": false})"));
  EXPECT_FALSE(Passes(f, R"({"r": {}})"));
  EXPECT_FALSE(Passes(f, R"({"r": [1]})"));
  const char* not_empty = R"({"must_not": {"is_empty": {"key": "r"}}})";
  EXPECT_TRUE(Passes(not_empty, R"({"r": [1]})"));
  EXPECT_FALSE(Passes(not_empty, R"({"r": []})"));
}

TEST(FilterIsEmpty, ProjectedPathIsEmptyOnlyWhenEveryValueIs) {
  const char* f = R"({"must": {"is_empty": {"key": "a[].b"}}})";
  EXPECT_TRUE(Passes(f, R"({"a": [{"b": null}, {"b": []}, {"c": 1}]})"));
  EXPECT_FALSE(Passes(f, R"({"a": [{"b": null}, {"b": 1}]})"));
  EXPECT_TRUE(Passes(f, R"({"a": []})"));
  EXPECT_TRUE(Passes(f, R"({"a": 5})"));
}

TEST(FilterIsNull, OnlyAnExplicitNull) {
  const char* f = R"({"must": {"is_null": {"key": "r"}}})";
  EXPECT_TRUE(Passes(f, R"({"r": null})"));
  EXPECT_FALSE(Passes(f, "{}"));
  EXPECT_FALSE(Passes(f, R"({"r": []})"));
  EXPECT_FALSE(Passes(f, R"({"r": [null]})"));
  EXPECT_FALSE(Passes(f, R"({"r": 0})"));
  EXPECT_FALSE(Passes(f, R"({"r": ""})"));
  const char* nested = R"({"must": {"is_null": {"key": "a[].b"}}})";
  EXPECT_TRUE(Passes(nested, R"({"a": [{"b": 1}, {"b": null}]})"));
  EXPECT_FALSE(Passes(nested, R"({"a": [{"b": 1}, {"c": null}]})"));
}

// ------------------------------------------------------------------ has_id

TEST(FilterHasId, NumbersAndStringsAreDifferentIds) {
  const char* f = R"({"must": {"has_id": [1, 3, 5, "7"]}})";
  EXPECT_TRUE(Passes(f, "{}", FilterPointId::Number(1)));
  EXPECT_TRUE(Passes(f, "{}", FilterPointId::Number(5)));
  EXPECT_FALSE(Passes(f, "{}", FilterPointId::Number(2)));
  EXPECT_FALSE(Passes(f, "{}", FilterPointId::Number(7)));
  EXPECT_TRUE(Passes(f, "{}", FilterPointId::Text("7")));
  EXPECT_FALSE(Passes(f, "{}", FilterPointId::Text("1")));
  EXPECT_TRUE(Passes(R"({"must": {"has_id": [18446744073709551615]}})", "{}",
                     FilterPointId::Number(UINT64_MAX)));
  EXPECT_FALSE(Passes(R"({"must": {"has_id": []}})", "{}", FilterPointId::Number(0)));
}

TEST(FilterHasId, UuidsCompareCanonically) {
  const char* f = R"({"must": {"has_id": ["936DA01F-9ABD-4D9D-80C7-02AF85C822A8"]}})";
  EXPECT_TRUE(Passes(f, "{}", FilterPointId::Text("936da01f-9abd-4d9d-80c7-02af85c822a8")));
  EXPECT_TRUE(Passes(f, "{}", FilterPointId::Text("936da01f9abd4d9d80c702af85c822a8")));
  EXPECT_FALSE(Passes(f, "{}", FilterPointId::Text("936da01f-9abd-4d9d-80c7-02af85c822a9")));
  EXPECT_TRUE(Passes(R"({"must": {"has_id": ["936da01f9abd4d9d80c702af85c822a8"]}})", "{}",
                     FilterPointId::Text("936DA01F-9abd-4d9d-80c7-02af85c822a8")));
  // Not UUIDs: kept as they are, so case matters.
  EXPECT_TRUE(Passes(R"({"must": {"has_id": ["doc-A"]}})", "{}", FilterPointId::Text("doc-A")));
  EXPECT_FALSE(Passes(R"({"must": {"has_id": ["doc-A"]}})", "{}", FilterPointId::Text("doc-a")));
}

TEST(FilterHasId, CanonicalPointIdText) {
  EXPECT_EQ(CanonicalPointIdText("936DA01F9ABD4D9D80C702AF85C822A8"),
            "936da01f-9abd-4d9d-80c7-02af85c822a8");
  EXPECT_EQ(CanonicalPointIdText("936DA01F-9ABD-4D9D-80C7-02AF85C822A8"),
            "936da01f-9abd-4d9d-80c7-02af85c822a8");
  EXPECT_EQ(CanonicalPointIdText("936DA01F-9ABD-4D9D-80C7_02AF85C822A8"),
            "936DA01F-9ABD-4D9D-80C7_02AF85C822A8");
  EXPECT_EQ(CanonicalPointIdText("936DA01F9ABD4D9D80C702AF85C822AZ"),
            "936DA01F9ABD4D9D80C702AF85C822AZ");
  EXPECT_EQ(CanonicalPointIdText("{936da01f-9abd-4d9d-80c7-02af85c822a8}"),
            "{936da01f-9abd-4d9d-80c7-02af85c822a8}");
  EXPECT_EQ(CanonicalPointIdText("Hello"), "Hello");
  EXPECT_EQ(CanonicalPointIdText(""), "");
}

TEST(FilterHasId, CandidateIdsComeFromTopLevelMustOnly) {
  const Filter f = MustParse(R"({"must": [{"has_id": [9, 2, 2, "B", "a"]},
                                          {"key": "x", "match": {"value": 1}}]})");
  ASSERT_NE(f.CandidateIds(), nullptr);
  EXPECT_THAT(*f.CandidateIds(), ElementsAre(FilterPointId::Number(2), FilterPointId::Number(9),
                                             FilterPointId::Text("B"), FilterPointId::Text("a")));
  const Filter shortest =
      MustParse(R"({"must": [{"has_id": [1, 2, 3]}, {"has_id": [2]}, {"has_id": [2, 3]}]})");
  ASSERT_NE(shortest.CandidateIds(), nullptr);
  EXPECT_THAT(*shortest.CandidateIds(), ElementsAre(FilterPointId::Number(2)));
  EXPECT_EQ(MustParse(R"({"should": [{"has_id": [1]}]})").CandidateIds(), nullptr);
  EXPECT_EQ(MustParse(R"({"must_not": [{"has_id": [1]}]})").CandidateIds(), nullptr);
  EXPECT_EQ(MustParse(R"({"must": [{"must": [{"has_id": [1]}]}]})").CandidateIds(), nullptr);
  EXPECT_EQ(MustParse("{}").CandidateIds(), nullptr);
  const Filter single = MustParse(R"({"must": {"has_id": ["936DA01F9ABD4D9D80C702AF85C822A8"]}})");
  ASSERT_NE(single.CandidateIds(), nullptr);
  EXPECT_THAT(*single.CandidateIds(),
              ElementsAre(FilterPointId::Text("936da01f-9abd-4d9d-80c7-02af85c822a8")));
}

TEST(FilterHasId, CopiesShareTheTreeAndCandidates) {
  Filter copy;
  {
    const Filter original = MustParse(R"({"must": {"has_id": [4]}})");
    copy = original;
  }
  ASSERT_NE(copy.CandidateIds(), nullptr);
  EXPECT_THAT(*copy.CandidateIds(), ElementsAre(FilterPointId::Number(4)));
  EXPECT_TRUE(copy.Matches(FilterPointId::Number(4), json::object()));
  EXPECT_FALSE(copy.Matches(FilterPointId::Number(5), json::object()));
}

// ------------------------------------------------------------------ nested

std::vector<Point> Dinosaurs() {
  return {{1, json::parse(R"({"dinosaur": "t-rex", "diet": [
              {"food": "leaves", "likes": false}, {"food": "meat", "likes": true}]})")},
          {2, json::parse(R"({"dinosaur": "diplodocus", "diet": [
              {"food": "leaves", "likes": true}, {"food": "meat", "likes": false}]})")}};
}

TEST(FilterNested, AppliesTheWholeFilterToOneElement) {
  EXPECT_THAT(Matching(R"({"must": [{"key": "diet[].food", "match": {"value": "meat"}},
                                    {"key": "diet[].likes", "match": {"value": true}}]})",
                       Dinosaurs()),
              ElementsAre(1, 2));
  for (const char* key : {"diet", "diet[]"}) {
    SCOPED_TRACE(key);
    EXPECT_THAT(Matching(std::string(R"({"must": [{"nested": {"key": ")") + key +
                             R"(", "filter": {"must": [
                                 {"key": "food", "match": {"value": "meat"}},
                                 {"key": "likes", "match": {"value": true}}]}}}]})",
                         Dinosaurs()),
                ElementsAre(1));
  }
  EXPECT_THAT(Matching(R"({"must_not": {"nested": {"key": "diet", "filter": {
                           "must": {"key": "likes", "match": {"value": false}}}}}})",
                       Dinosaurs()),
              IsEmpty());
  EXPECT_THAT(Matching(R"({"must": {"nested": {"key": "diet", "filter": {
                           "must": {"key": "food", "match": {"value": "fish"}}}}}})",
                       Dinosaurs()),
              IsEmpty());
}

TEST(FilterNested, SingleObjectNestingAndMissingKeys) {
  const char* f = R"({"must": {"nested": {"key": "a.items", "filter": {"must": [
      {"key": "k", "match": {"value": 1}},
      {"nested": {"key": "sub", "filter": {"must": {"key": "z", "range": {"gt": 5}}}}}]}}}})";
  EXPECT_TRUE(
      Passes(f, R"({"a": {"items": [{"k": 2, "sub": [{"z": 9}]}, {"k": 1, "sub": [{"z": 6}]}]}})"));
  EXPECT_FALSE(
      Passes(f, R"({"a": {"items": [{"k": 2, "sub": [{"z": 9}]}, {"k": 1, "sub": [{"z": 4}]}]}})"));
  EXPECT_TRUE(Passes(f, R"({"a": {"items": {"k": 1, "sub": {"z": 6}}}})"));
  EXPECT_FALSE(Passes(f, R"({"a": {"items": [1, 2, "x"]}})"));
  EXPECT_FALSE(Passes(f, R"({"a": {}})"));
  EXPECT_FALSE(Passes(f, "{}"));
  // An empty inner filter matches any object element, but there must be one.
  const char* any = R"({"must": {"nested": {"key": "xs", "filter": {}}}})";
  EXPECT_TRUE(Passes(any, R"({"xs": [{}]})"));
  EXPECT_FALSE(Passes(any, R"({"xs": []})"));
}

TEST(FilterNested, InnerKeysAreRelativeToTheElement) {
  const char* f = R"({"must": {"nested": {"key": "diet", "filter": {"must":
      {"is_empty": {"key": "dinosaur"}}}}}})";
  EXPECT_THAT(Matching(f, Dinosaurs()), ElementsAre(1, 2));
}

// ------------------------------------------------------------------ key paths

TEST(FilterKeys, DotsArraysIndexesAndQuotes) {
  const char* doc = R"({"a": {"b": {"c": 1}}, "arr": [{"x": 1}, {"x": 2}, {"y": 3}],
                        "g": ["g0", "g1"], "m": [[{"x": 5}]], "dotted.key": {"v": 7},
                        "s": 4})";
  auto has = [&](const char* key, const char* value) {
    return Passes(std::string(R"({"must": {"key": )") + json(key).dump() +
                      R"(, "match": {"value": )" + value + "}}}",
                  doc);
  };
  EXPECT_TRUE(has("a.b.c", "1"));
  EXPECT_FALSE(has("a.b.c.d", "1"));
  EXPECT_FALSE(has("a.c", "1"));
  EXPECT_TRUE(has("arr[].x", "2"));
  EXPECT_TRUE(has("arr.x", "2"));
  EXPECT_TRUE(has("arr[1].x", "2"));
  EXPECT_FALSE(has("arr[0].x", "2"));
  EXPECT_FALSE(has("arr[9].x", "2"));
  EXPECT_TRUE(has("g[1]", "\"g1\""));
  EXPECT_FALSE(has("g[0]", "\"g1\""));
  EXPECT_TRUE(has("g[]", "\"g1\""));
  EXPECT_FALSE(has("m.x", "5"));  // arrays of arrays are not walked by a key
  EXPECT_TRUE(has("m[][].x", "5"));
  EXPECT_TRUE(has("m[0][0].x", "5"));
  EXPECT_TRUE(has("\"dotted.key\".v", "7"));
  EXPECT_FALSE(has("dotted.key.v", "7"));
  EXPECT_FALSE(has("s.x", "4"));
  EXPECT_FALSE(has("s[]", "4"));
  EXPECT_FALSE(has("s[0]", "4"));
  EXPECT_FALSE(has("a[].b.c", "1"));  // [] needs an array
}

}  // namespace
}  // namespace cairn
