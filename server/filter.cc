// Filter parsing: Qdrant filter JSON -> the compiled tree of filter_tree.h, and
// the public API of filter.h other than Matches (filter_eval.cc).
#include "server/filter.h"
#include "server/filter_tree.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/status_macros.h"


namespace cairn {
namespace filter_internal {
namespace {

// ------------------------------------------------------------ parsing

absl::Status Invalid(absl::string_view where, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
}

// "string", "object", or "number 1.5": enough to see what went wrong.
std::string Describe(const json& j) {
  if (j.is_number()) return absl::StrCat("number ", j.dump());
  return j.type_name();
}

std::string Got(absl::string_view expected, const json& j) {
  return absl::StrCat("expected ", expected, ", got ", Describe(j));
}

std::string Index(absl::string_view where, size_t i) { return absl::StrCat(where, "[", i, "]"); }
std::string Field(absl::string_view where, absl::string_view k) {
  return absl::StrCat(where, ".", k);
}

// Clients that serialise optional fields as null (pydantic, TypeScript)
// must parse: a null member counts as absent, everywhere.
const json* Member(const json& object, const char* name) {
  auto it = object.find(name);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

// InvalidArgument naming the first non-null field of `j` outside `allowed`.
absl::Status OnlyFields(const json& j, absl::string_view where,
                        std::initializer_list<absl::string_view> allowed, absl::string_view hint) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_null()) continue;
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      return Invalid(Field(where, it.key()), absl::StrCat("unknown field; ", hint));
    }
  }
  return absl::OkStatus();
}

// Evaluation recurses once per key part; this bounds the stack.
constexpr size_t kMaxKeySteps = 64;

// Qdrant's key syntax: name(.name | [N] | [])*, where a name is raw (no
// . [ ] ") or "quoted" (anything but a quote; may be empty).
absl::StatusOr<KeyPath> ParseKey(const json& j, absl::string_view where) {
  const auto* text = j.get_ptr<const json::string_t*>();
  if (text == nullptr) return Invalid(where, Got("a key string", j));
  const std::string& s = *text;
  if (s.empty()) return Invalid(where, "key is empty");
  auto bad = [&](size_t pos, absl::string_view why) {
    // Keys are the client's own text; a prefix is enough to recognise one.
    return Invalid(where,
                   absl::StrCat("bad key \"", s.substr(0, 80), "\" at offset ", pos, ": ", why));
  };
  KeyPath path;
  size_t pos = 0;
  while (true) {
    PathStep step;
    if (s[pos] == '"') {
      const size_t close = s.find('"', pos + 1);
      if (close == std::string::npos) return bad(pos, "unclosed quote");
      step.key = s.substr(pos + 1, close - pos - 1);
      pos = close + 1;
    } else {
      const size_t stop = std::min(s.find_first_of(".[]\"", pos), s.size());
      if (stop == pos) return bad(pos, "expected a field name");
      step.key = s.substr(pos, stop - pos);
      pos = stop;
    }
    path.push_back(std::move(step));
    if (path.size() > kMaxKeySteps) return bad(pos, "too many parts");
    while (pos < s.size() && s[pos] == '[') {
      const size_t close = s.find(']', pos);
      if (close == std::string::npos) return bad(pos, "unclosed [");
      PathStep index;
      if (close == pos + 1) {
        index.kind = PathStep::Kind::kAll;
      } else {
        index.kind = PathStep::Kind::kIndex;
        if (close - pos - 1 > 9) return bad(pos, "array index too large");
        for (size_t i = pos + 1; i < close; ++i) {
          if (!absl::ascii_isdigit(static_cast<unsigned char>(s[i]))) {
            return bad(i, "array index must be digits or empty");
          }
          index.index = index.index * 10 + static_cast<size_t>(s[i] - '0');
        }
      }
      path.push_back(std::move(index));
      if (path.size() > kMaxKeySteps) return bad(pos, "too many parts");
      pos = close + 1;
    }
    if (pos == s.size()) return path;
    if (s[pos] != '.') return bad(pos, "expected '.' or '['");
    if (++pos == s.size()) return bad(pos, "expected a field name");
  }
}

// Fills `strings` or `ints` (sorted, unique) from a non-mixed JSON array.
absl::Status ParseValueList(const json& j, absl::string_view where,
                            std::vector<std::string>* strings, std::vector<int64_t>* ints) {
  if (!j.is_array()) return Invalid(where, Got("an array of strings or of integers", j));
  for (size_t i = 0; i < j.size(); ++i) {
    const json& e = j[i];
    int64_t n;
    if (const auto* s = e.get_ptr<const json::string_t*>()) {
      strings->push_back(*s);
    } else if (AsInt64(e, &n)) {
      ints->push_back(n);
    } else {
      return Invalid(Index(where, i), Got("a string or an integer", e));
    }
    if (!strings->empty() && !ints->empty()) {
      return Invalid(Index(where, i), "mixes strings and integers in one list");
    }
  }
  std::sort(strings->begin(), strings->end());
  strings->erase(std::unique(strings->begin(), strings->end()), strings->end());
  std::sort(ints->begin(), ints->end());
  ints->erase(std::unique(ints->begin(), ints->end()), ints->end());
  return absl::OkStatus();
}

absl::StatusOr<Condition> ParseMatch(const json& j, KeyPath path, absl::string_view where) {
  if (!j.is_object()) return Invalid(where, Got("an object", j));
  CAIRN_RETURN_IF_ERROR(
      OnlyFields(j, where, {"value", "any", "except", "text", "text_any", "phrase"},
                 "match takes one of value, any, except, text, text_any, phrase"));
  int present = 0;
  auto member = j.end();
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_null()) continue;
    ++present;
    member = it;
  }
  if (present != 1) {
    return Invalid(where, "expected exactly one of value, any, except, text, text_any, phrase");
  }
  const std::string& kind = member.key();
  const json& v = member.value();
  const std::string at = Field(where, kind);
  if (kind == "value") {
    if (const auto* s = v.get_ptr<const json::string_t*>()) {
      return MatchString{std::move(path), *s};
    }
    if (const auto* b = v.get_ptr<const json::boolean_t*>()) return MatchBool{std::move(path), *b};
    int64_t n;
    if (AsInt64(v, &n)) return MatchInt{std::move(path), n};
    if (v.is_number()) {
      return Invalid(at, absl::StrCat(Got("an integer", v), " (use range for other numbers)"));
    }
    return Invalid(at, Got("a string, an integer or a boolean", v));
  }
  if (kind == "any" || kind == "except") {
    std::vector<std::string> strings;
    std::vector<int64_t> ints;
    CAIRN_RETURN_IF_ERROR(ParseValueList(v, at, &strings, &ints));
    if (kind == "any") return MatchAny{std::move(path), std::move(strings), std::move(ints)};
    return MatchExcept{std::move(path), std::move(strings), std::move(ints)};
  }
  const auto* s = v.get_ptr<const json::string_t*>();
  if (s == nullptr) return Invalid(at, Got("a string", v));
  if (kind == "text_any") {
    std::vector<std::string> tokens =
        absl::StrSplit(*s, absl::ByAnyChar(" \t\n\v\f\r"), absl::SkipEmpty());
    return MatchTextAny{std::move(path), std::move(tokens)};
  }
  return MatchText{std::move(path), *s, kind == "phrase"};
}

template <typename T>
std::optional<T>* Slot(Bounds<T>* b, absl::string_view name) {
  if (name == "gt") return &b->gt;
  if (name == "gte") return &b->gte;
  if (name == "lt") return &b->lt;
  return &b->lte;
}

constexpr absl::string_view kBoundsHint = "expected gt, gte, lt or lte";

// Numbers make a numeric range, strings a datetime range; null is no bound.
absl::StatusOr<Condition> ParseRange(const json& j, KeyPath path, absl::string_view where) {
  if (!j.is_object()) return Invalid(where, Got("an object", j));
  CAIRN_RETURN_IF_ERROR(OnlyFields(j, where, {"gt", "gte", "lt", "lte"}, kBoundsHint));
  Bounds<double> numbers;
  Bounds<int64_t> times;
  bool any_number = false, any_time = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const json& v = it.value();
    const std::string at = Field(where, it.key());
    double x;
    if (v.is_null()) continue;
    if (AsDouble(v, &x)) {
      *Slot(&numbers, it.key()) = x;
      any_number = true;
    } else if (const auto* s = v.get_ptr<const json::string_t*>()) {
      std::optional<int64_t> t = ParseDateTimeMicros(*s);
      if (!t.has_value()) {
        return Invalid(at,
                       absl::StrCat("\"", s->substr(0, 64),
                                    "\" is not an RFC 3339 datetime (e.g. 2023-02-08T10:49:00Z)"));
      }
      *Slot(&times, it.key()) = *t;
      any_time = true;
    } else {
      return Invalid(at, Got("a number or a datetime string", v));
    }
  }
  if (!any_number && !any_time) return Invalid(where, "expected at least one of gt, gte, lt, lte");
  if (any_number && any_time) return Invalid(where, "mixes numbers and datetime strings");
  if (any_time) return RangeTime{std::move(path), times};
  return RangeNumber{std::move(path), numbers};
}

absl::StatusOr<Condition> ParseValuesCount(const json& j, KeyPath path, absl::string_view where) {
  if (!j.is_object()) return Invalid(where, Got("an object", j));
  CAIRN_RETURN_IF_ERROR(OnlyFields(j, where, {"gt", "gte", "lt", "lte"}, kBoundsHint));
  ValuesCount c{std::move(path), {}};
  bool any = false;
  for (auto it = j.begin(); it != j.end(); ++it) {
    const json& v = it.value();
    if (v.is_null()) continue;
    const auto* u = v.get_ptr<const json::number_unsigned_t*>();
    if (u == nullptr) return Invalid(Field(where, it.key()), Got("a non-negative integer", v));
    *Slot(&c.bounds, it.key()) = *u;
    any = true;
  }
  if (!any) return Invalid(where, "expected at least one of gt, gte, lt, lte");
  return c;
}

absl::StatusOr<Condition> ParseFieldCondition(const json& j, absl::string_view where) {
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    if (it->is_null() || k == "key" || k == "match" || k == "range" || k == "values_count") {
      continue;
    }
    const std::string at = Field(where, k);
    if (absl::StartsWith(k, "geo_")) return Invalid(at, "geo conditions are not supported");
    if (k == "is_empty" || k == "is_null") {
      return Invalid(at, absl::StrCat("not supported in a field condition; use {\"", k,
                                      "\": {\"key\": ...}}"));
    }
    return Invalid(at,
                   "unknown field; a field condition has key and one of match, range, "
                   "values_count");
  }
  CAIRN_ASSIGN_OR_RETURN(KeyPath path, ParseKey(*Member(j, "key"), Field(where, "key")));
  const json* match = Member(j, "match");
  const json* range = Member(j, "range");
  const json* count = Member(j, "values_count");
  if ((match != nullptr) + (range != nullptr) + (count != nullptr) != 1) {
    return Invalid(where, "expected exactly one of match, range, values_count beside key");
  }
  if (match != nullptr) return ParseMatch(*match, std::move(path), Field(where, "match"));
  if (range != nullptr) return ParseRange(*range, std::move(path), Field(where, "range"));
  return ParseValuesCount(*count, std::move(path), Field(where, "values_count"));
}

// {"key": "..."} as taken by is_empty and is_null.
absl::StatusOr<KeyPath> ParseKeyObject(const json& j, absl::string_view where) {
  if (!j.is_object()) return Invalid(where, Got("an object with a key", j));
  CAIRN_RETURN_IF_ERROR(OnlyFields(j, where, {"key"}, "expected only key"));
  const json* key = Member(j, "key");
  if (key == nullptr) return Invalid(where, "missing key");
  return ParseKey(*key, Field(where, "key"));
}

absl::StatusOr<FilterPointId> ParsePointId(const json& j, absl::string_view where) {
  if (const auto* u = j.get_ptr<const json::number_unsigned_t*>()) return FilterPointId::Number(*u);
  if (const auto* s = j.get_ptr<const json::string_t*>()) return FilterPointId::Text(*s);
  return Invalid(where, Got("an unsigned integer or a string id", j));
}

absl::StatusOr<Condition> ParseHasId(const json& j, absl::string_view where) {
  if (!j.is_array()) return Invalid(where, Got("an array of point ids", j));
  HasId c;
  for (size_t i = 0; i < j.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(FilterPointId id, ParsePointId(j[i], Index(where, i)));
    if (id.is_number) {
      c.numbers.push_back(id.number);
    } else {
      c.texts.push_back(std::move(id.text));
    }
  }
  std::sort(c.numbers.begin(), c.numbers.end());
  c.numbers.erase(std::unique(c.numbers.begin(), c.numbers.end()), c.numbers.end());
  std::sort(c.texts.begin(), c.texts.end());
  c.texts.erase(std::unique(c.texts.begin(), c.texts.end()), c.texts.end());
  for (uint64_t n : c.numbers) c.ids.push_back(FilterPointId::Number(n));
  for (const std::string& t : c.texts) c.ids.push_back(FilterPointId{false, 0, t});
  return c;
}

absl::StatusOr<Condition> ParseCondition(const json& j, absl::string_view where, int depth,
                                         bool in_nested) {
  if (!j.is_object()) return Invalid(where, Got("a condition object", j));
  if (Member(j, "key") != nullptr) return ParseFieldCondition(j, where);
  for (const char* name : {"is_empty", "is_null", "has_id", "nested", "has_vector"}) {
    const json* member = Member(j, name);
    if (member == nullptr) continue;
    const absl::string_view kind = name;
    const std::string at = Field(where, kind);
    CAIRN_RETURN_IF_ERROR(
        OnlyFields(j, where, {kind}, absl::StrCat("nothing may stand beside ", kind)));
    const json& v = *member;
    if (kind == "is_empty" || kind == "is_null") {
      CAIRN_ASSIGN_OR_RETURN(KeyPath path, ParseKeyObject(v, at));
      if (kind == "is_empty") return IsEmpty{std::move(path)};
      return IsNull{std::move(path)};
    }
    if (kind == "has_id") {
      if (in_nested) {
        return Invalid(at,
                       "has_id is not supported inside nested; put it beside the nested "
                       "condition");
      }
      return ParseHasId(v, at);
    }
    if (kind == "has_vector") return Invalid(at, "has_vector is not supported");
    if (!v.is_object()) return Invalid(at, Got("an object with key and filter", v));
    CAIRN_RETURN_IF_ERROR(OnlyFields(v, at, {"key", "filter"}, "expected key and filter"));
    const json* key = Member(v, "key");
    const json* filter = Member(v, "filter");
    if (key == nullptr || filter == nullptr) return Invalid(at, "needs key and filter");
    CAIRN_ASSIGN_OR_RETURN(KeyPath path, ParseKey(*key, Field(at, "key")));
    auto inner = std::make_shared<Clauses>();
    CAIRN_RETURN_IF_ERROR(ParseClauses(*filter, Field(at, "filter"), depth + 1, true, inner.get()));
    return Nested{std::move(path), std::move(inner)};
  }
  // No condition field: a nested filter ({} included, which matches all).
  auto inner = std::make_shared<Clauses>();
  CAIRN_RETURN_IF_ERROR(ParseClauses(j, where, depth + 1, in_nested, inner.get()));
  return SubFilter{std::move(inner)};
}

// A clause value: one condition, an array of them, or null for none.
absl::Status ParseConditionList(const json& j, absl::string_view where, int depth, bool in_nested,
                                std::vector<Condition>* out) {
  if (j.is_object()) {
    CAIRN_ASSIGN_OR_RETURN(Condition c, ParseCondition(j, where, depth, in_nested));
    out->push_back(std::move(c));
    return absl::OkStatus();
  }
  if (!j.is_array()) return Invalid(where, Got("a condition or an array of conditions", j));
  out->reserve(j.size());
  for (size_t i = 0; i < j.size(); ++i) {
    CAIRN_ASSIGN_OR_RETURN(Condition c, ParseCondition(j[i], Index(where, i), depth, in_nested));
    out->push_back(std::move(c));
  }
  return absl::OkStatus();
}

absl::Status ParseMinShould(const json& j, absl::string_view where, int depth, bool in_nested,
                            MinShould* out) {
  if (!j.is_object()) return Invalid(where, Got("an object with conditions and min_count", j));
  CAIRN_RETURN_IF_ERROR(
      OnlyFields(j, where, {"conditions", "min_count"}, "expected conditions and min_count"));
  const json* conditions = Member(j, "conditions");
  const json* count = Member(j, "min_count");
  if (conditions == nullptr || count == nullptr) {
    return Invalid(where, "needs conditions and min_count");
  }
  const auto* u = count->get_ptr<const json::number_unsigned_t*>();
  if (u == nullptr)
    return Invalid(Field(where, "min_count"), Got("a non-negative integer", *count));
  out->min_count = *u;
  return ParseConditionList(*conditions, Field(where, "conditions"), depth, in_nested,
                            &out->conditions);
}

}  // namespace

absl::Status ParseClauses(const json& j, absl::string_view where, int depth, bool in_nested,
                          Clauses* out) {
  if (depth > Filter::kMaxDepth) {
    return Invalid(where, absl::StrCat("filters nested deeper than ", Filter::kMaxDepth));
  }
  if (!j.is_object()) return Invalid(where, Got("a filter object", j));
  CAIRN_RETURN_IF_ERROR(OnlyFields(j, where, {"must", "should", "must_not", "min_should"},
                                   "a filter has must, should, must_not and min_should"));
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    const json& v = it.value();
    if (v.is_null()) continue;
    const std::string at = Field(where, k);
    if (k == "must") {
      CAIRN_RETURN_IF_ERROR(ParseConditionList(v, at, depth, in_nested, &out->must));
    } else if (k == "must_not") {
      CAIRN_RETURN_IF_ERROR(ParseConditionList(v, at, depth, in_nested, &out->must_not));
    } else if (k == "should") {
      CAIRN_RETURN_IF_ERROR(ParseConditionList(v, at, depth, in_nested, &out->should.emplace()));
    } else {
      CAIRN_RETURN_IF_ERROR(ParseMinShould(v, at, depth, in_nested, &out->min_should.emplace()));
    }
  }
  return absl::OkStatus();
}


}  // namespace filter_internal

// ------------------------------------------------------------ public API

using filter_internal::Clauses;

FilterPointId FilterPointId::Number(uint64_t n) { return FilterPointId{true, n, {}}; }

FilterPointId FilterPointId::Text(std::string_view text) {
  return FilterPointId{false, 0, CanonicalPointIdText(text)};
}

std::string CanonicalPointIdText(std::string_view text) {
  const bool dashed = text.size() == 36;
  if (!dashed && text.size() != 32) return std::string(text);
  std::string out;
  out.reserve(36);
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (dashed && (i == 8 || i == 13 || i == 18 || i == 23)) {
      if (c != '-') return std::string(text);
      continue;
    }
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return std::string(text);
    const size_t n = out.size();
    if (n == 8 || n == 13 || n == 18 || n == 23) out.push_back('-');
    out.push_back(absl::ascii_tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

Filter::Filter() = default;

absl::StatusOr<Filter> Filter::Parse(const nlohmann::json& filter) {
  Filter f;
  if (filter.is_null()) return f;
  // Parsing checks every type before reading a value, so nothing here should
  // throw; the catch keeps that promise if a nlohmann call ever does.
  try {
    auto root = std::make_shared<Clauses>();
    CAIRN_RETURN_IF_ERROR(filter_internal::ParseClauses(filter, "filter", 0, false, root.get()));
    f = FromRoot(std::move(root));
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("filter: ", e.what()));
  }
  return f;
}

Filter Filter::FromRoot(std::shared_ptr<const filter_internal::Clauses> root) {
  Filter f;
  for (const filter_internal::Condition& c : root->must) {
    const auto* has_id = std::get_if<filter_internal::HasId>(&c);
    if (has_id != nullptr &&
        (f.candidate_ids_ == nullptr || has_id->ids.size() < f.candidate_ids_->size())) {
      f.candidate_ids_ = &has_id->ids;
    }
  }
  f.root_ = std::move(root);
  return f;
}

namespace filter_internal {

absl::StatusOr<KeyPath> ParseFieldKey(const std::string& key) {
  return ParseKey(json(key), "field_name");
}

}  // namespace filter_internal

bool Filter::empty() const {
  return root_ == nullptr || (root_->must.empty() && root_->must_not.empty() &&
                              !root_->should.has_value() && !root_->min_should.has_value());
}

}  // namespace cairn
