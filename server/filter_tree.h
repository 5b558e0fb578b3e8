// The compiled form of a Qdrant filter, shared by its parser (filter.cc) and
// its evaluator (filter_eval.cc). Internal to server/filter.*.
#ifndef CAIRN_SERVER_FILTER_TREE_H_
#define CAIRN_SERVER_FILTER_TREE_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/filter.h"
#include "server/text_tokenizer.h"

namespace cairn {
namespace filter_internal {

using nlohmann::json;

// ------------------------------------------------------------ compiled tree

// One step of a key path: `.name`, `[3]` or `[]`.
struct PathStep {
  enum class Kind : uint8_t { kKey, kIndex, kAll };
  Kind kind = Kind::kKey;
  std::string key;
  size_t index = 0;
  friend bool operator==(const PathStep&, const PathStep&) = default;
};
using KeyPath = std::vector<PathStep>;

template <typename T>
struct Bounds {
  std::optional<T> gt, gte, lt, lte;
  bool Contains(T x) const {
    return (!gt || x > *gt) && (!gte || x >= *gte) && (!lt || x < *lt) && (!lte || x <= *lte);
  }
};

struct MatchString {
  KeyPath path;
  std::string value;
};
struct MatchInt {
  KeyPath path;
  int64_t value;
};
struct MatchBool {
  KeyPath path;
  bool value;
};
// any / except: sorted, deduplicated lists; one of them is empty (Qdrant
// rejects mixed lists), and a value of the other type is simply not listed.
struct MatchAny {
  KeyPath path;
  std::vector<std::string> strings;
  std::vector<int64_t> ints;
};
struct MatchExcept {
  KeyPath path;
  std::vector<std::string> strings;
  std::vector<int64_t> ints;
};
// text and phrase: exact substring, as Qdrant does without a full-text index.
struct MatchText {
  KeyPath path;
  std::string text;
  bool phrase = false;  // given as `phrase` (the same without a text index)
};
// text_any: some whitespace-separated token is a substring.
struct MatchTextAny {
  KeyPath path;
  std::vector<std::string> tokens;
};
// text / text_any / phrase on a field with a full-text index (filter_plan.h
// rewrites MatchText and MatchTextAny into this): the payload's string is
// tokenised as the index does; kAll holds when it has every query token,
// kAny some, kPhrase the tokens consecutively in order.
struct MatchTokens {
  enum class Mode : uint8_t { kAll, kAny, kPhrase };
  KeyPath path;
  Mode mode = Mode::kAll;
  std::vector<std::string> tokens;
  TextIndexParams params;
};
struct RangeNumber {
  KeyPath path;
  Bounds<double> bounds;
};
struct RangeTime {
  KeyPath path;
  Bounds<int64_t> bounds;  // Unix microseconds, UTC
};
struct ValuesCount {
  KeyPath path;
  Bounds<uint64_t> bounds;
};
struct IsEmpty {
  KeyPath path;
};
struct IsNull {
  KeyPath path;
};
struct HasId {
  std::vector<uint64_t> numbers;   // sorted, unique
  std::vector<std::string> texts;  // sorted, unique, canonical
  std::vector<FilterPointId> ids;  // numbers then texts, for CandidateIds()
};
struct Nested {
  KeyPath path;
  std::shared_ptr<const Clauses> filter;
};
struct SubFilter {
  std::shared_ptr<const Clauses> filter;
};

using Condition = std::variant<MatchString, MatchInt, MatchBool, MatchAny, MatchExcept, MatchText,
                               MatchTextAny, RangeNumber, RangeTime, ValuesCount, IsEmpty, IsNull,
                               HasId, Nested, SubFilter, MatchTokens>;

struct MinShould {
  std::vector<Condition> conditions;
  uint64_t min_count = 0;
};

struct Clauses {
  std::vector<Condition> must;
  std::vector<Condition> must_not;
  std::optional<std::vector<Condition>> should;  // present-but-empty matches nothing
  std::optional<MinShould> min_should;
};

// ------------------------------------------------------------ value helpers

// The integer a JSON number stands for: integer types within int64, and
// floats with no fractional part (payloads written by languages without an
// integer type store 3 as 3.0).
inline bool AsInt64(const json& j, int64_t* out) {
  if (const auto* u = j.get_ptr<const json::number_unsigned_t*>()) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
    *out = static_cast<int64_t>(*u);
    return true;
  }
  if (const auto* i = j.get_ptr<const json::number_integer_t*>()) {
    *out = *i;
    return true;
  }
  if (const auto* d = j.get_ptr<const json::number_float_t*>()) {
    // [-2^63, 2^63) are exactly the doubles that convert without overflow.
    if (!(*d >= -9223372036854775808.0 && *d < 9223372036854775808.0) || std::trunc(*d) != *d) {
      return false;
    }
    *out = static_cast<int64_t>(*d);
    return true;
  }
  return false;
}

inline bool AsDouble(const json& j, double* out) {
  if (const auto* u = j.get_ptr<const json::number_unsigned_t*>()) {
    *out = static_cast<double>(*u);
  } else if (const auto* i = j.get_ptr<const json::number_integer_t*>()) {
    *out = static_cast<double>(*i);
  } else if (const auto* d = j.get_ptr<const json::number_float_t*>()) {
    *out = *d;
  } else {
    return false;
  }
  return true;
}

// RFC 3339 and the looser forms Qdrant's datetime ranges take ("2023-02-08",
// "2023-02-08 10:49", "2023-02-08T10:49:00.5"); no offset means UTC.
inline std::optional<int64_t> ParseDateTimeMicros(absl::string_view s) {
  // Cheap reject before absl's parser: every form starts with YYYY-MM-DD.
  if (s.size() < 10 || s.size() > 64 || s[4] != '-' || s[7] != '-' ||
      !absl::ascii_isdigit(static_cast<unsigned char>(s[0]))) {
    return std::nullopt;
  }
  static constexpr const char* kFormats[] = {
      "%Y-%m-%d%ET%H:%M:%E*S%Ez", "%Y-%m-%d %H:%M:%E*S%Ez", "%Y-%m-%d%ET%H:%M:%E*S",
      "%Y-%m-%d %H:%M:%E*S",      "%Y-%m-%d%ET%H:%M%Ez",    "%Y-%m-%d %H:%M%Ez",
      "%Y-%m-%d%ET%H:%M",         "%Y-%m-%d %H:%M",         "%Y-%m-%d",
  };
  for (const char* format : kFormats) {
    absl::Time t;
    std::string err;
    if (absl::ParseTime(format, s, absl::UTCTimeZone(), &t, &err)) {
      if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return std::nullopt;
      return absl::ToUnixMicros(t);
    }
  }
  return std::nullopt;
}

bool EvalClauses(const Clauses& f, const FilterPointId& id, const json& payload);
// Calls fn for every value a match or range condition on `path` tests (a
// leaf array stands for its elements): what a payload index stores.
void ForEachLeafValue(const json& payload, const KeyPath& path,
                      const std::function<void(const json&)>& fn);
// A payload index's field name in filter key syntax -> its path.
absl::StatusOr<KeyPath> ParseFieldKey(const std::string& key);
absl::Status ParseClauses(const json& j, absl::string_view where, int depth, bool in_nested,
                          Clauses* out);

}  // namespace filter_internal
}  // namespace cairn

#endif  // CAIRN_SERVER_FILTER_TREE_H_
