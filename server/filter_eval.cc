// Filter evaluation: the compiled tree (filter_tree.h) against a point id and
// its payload.
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

// ------------------------------------------------------------ evaluation

// Calls fn(value) for each value the path reaches from `node`, until fn
// returns true; returns whether it did. Recursion depth is the path length:
// a key step walks into an array of objects one level only.
template <typename Fn>
bool VisitPath(const json& node, const PathStep* step, const PathStep* end, Fn& fn) {
  if (step == end) return fn(node);
  switch (step->kind) {
    case PathStep::Kind::kKey:
      if (node.is_object()) {
        auto it = node.find(step->key);
        return it != node.end() && VisitPath(*it, step + 1, end, fn);
      }
      if (node.is_array()) {
        for (const json& element : node) {
          if (!element.is_object()) continue;
          auto it = element.find(step->key);
          if (it != element.end() && VisitPath(*it, step + 1, end, fn)) return true;
        }
      }
      return false;
    case PathStep::Kind::kIndex:
      return node.is_array() && step->index < node.size() &&
             VisitPath(node[step->index], step + 1, end, fn);
    case PathStep::Kind::kAll:
      if (node.is_array()) {
        for (const json& element : node) {
          if (VisitPath(element, step + 1, end, fn)) return true;
        }
      }
      return false;
  }
  return false;
}

template <typename Fn>
bool VisitValues(const json& payload, const KeyPath& path, Fn&& fn) {
  return VisitPath(payload, path.data(), path.data() + path.size(), fn);
}

// Qdrant's rule for match, range and text: some value passes, where a leaf
// array stands for its elements (arrays inside it are not opened).
template <typename Fn>
bool AnyValue(const json& payload, const KeyPath& path, Fn&& test) {
  return VisitValues(payload, path, [&](const json& value) {
    if (!value.is_array()) return test(value);
    for (const json& element : value) {
      if (test(element)) return true;
    }
    return false;
  });
}

template <typename T>
bool Listed(const std::vector<T>& sorted, const T& x) {
  return std::binary_search(sorted.begin(), sorted.end(), x);
}


// `have`: a payload string's tokens, in order.
bool TokensMatch(const MatchTokens& c, const std::vector<std::string>& have) {
  auto has = [&](const std::string& t) {
    return std::find(have.begin(), have.end(), t) != have.end();
  };
  switch (c.mode) {
    case MatchTokens::Mode::kAll:
      return std::all_of(c.tokens.begin(), c.tokens.end(), has);
    case MatchTokens::Mode::kAny:
      return std::any_of(c.tokens.begin(), c.tokens.end(), has);
    case MatchTokens::Mode::kPhrase:
      return std::search(have.begin(), have.end(), c.tokens.begin(), c.tokens.end()) != have.end();
  }
  return false;
}

struct ConditionEvaluator {
  const FilterPointId& id;
  const json& payload;

  bool operator()(const MatchString& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      const auto* s = v.get_ptr<const json::string_t*>();
      return s != nullptr && *s == c.value;
    });
  }
  bool operator()(const MatchInt& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      int64_t n;
      return AsInt64(v, &n) && n == c.value;
    });
  }
  bool operator()(const MatchBool& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      const auto* b = v.get_ptr<const json::boolean_t*>();
      return b != nullptr && *b == c.value;
    });
  }
  bool operator()(const MatchAny& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      if (const auto* s = v.get_ptr<const json::string_t*>()) return Listed(c.strings, *s);
      int64_t n;
      return AsInt64(v, &n) && Listed(c.ints, n);
    });
  }
  // Qdrant: a value passes unless it is null or listed; values of another
  // type than the list (true, 2.5, objects) pass. A missing key passes
  // nothing, so except alone never selects points without the key.
  bool operator()(const MatchExcept& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      if (v.is_null()) return false;
      if (const auto* s = v.get_ptr<const json::string_t*>()) return !Listed(c.strings, *s);
      int64_t n;
      if (AsInt64(v, &n)) return !Listed(c.ints, n);
      return true;
    });
  }
  bool operator()(const MatchText& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      const auto* s = v.get_ptr<const json::string_t*>();
      return s != nullptr && s->find(c.text) != std::string::npos;
    });
  }
  bool operator()(const MatchTextAny& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      const auto* s = v.get_ptr<const json::string_t*>();
      if (s == nullptr) return false;
      for (const std::string& token : c.tokens) {
        if (s->find(token) != std::string::npos) return true;
      }
      return false;
    });
  }
  bool operator()(const RangeNumber& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      double x;
      return AsDouble(v, &x) && c.bounds.Contains(x);
    });
  }
  bool operator()(const RangeTime& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      const auto* s = v.get_ptr<const json::string_t*>();
      if (s == nullptr) return false;
      std::optional<int64_t> t = ParseDateTimeMicros(*s);
      return t.has_value() && c.bounds.Contains(*t);
    });
  }
  bool operator()(const ValuesCount& c) const {
    uint64_t count = 0;
    VisitValues(payload, c.path, [&](const json& v) {
      count += v.is_null() ? 0 : v.is_array() ? v.size() : 1;
      return false;
    });
    return c.bounds.Contains(count);
  }
  bool operator()(const IsEmpty& c) const {
    return !VisitValues(payload, c.path, [](const json& v) {
      return !(v.is_null() || (v.is_array() && v.empty()));
    });
  }
  bool operator()(const IsNull& c) const {
    return VisitValues(payload, c.path, [](const json& v) { return v.is_null(); });
  }
  bool operator()(const HasId& c) const {
    return id.is_number ? Listed(c.numbers, id.number) : Listed(c.texts, id.text);
  }
  // Each object element is a payload of its own for the inner filter.
  bool operator()(const Nested& c) const {
    return VisitValues(payload, c.path, [&](const json& v) {
      if (v.is_object()) return EvalClauses(*c.filter, id, v);
      if (v.is_array()) {
        for (const json& element : v) {
          if (element.is_object() && EvalClauses(*c.filter, id, element)) return true;
        }
      }
      return false;
    });
  }
  bool operator()(const SubFilter& c) const { return EvalClauses(*c.filter, id, payload); }
  bool operator()(const MatchTokens& c) const {
    return AnyValue(payload, c.path, [&](const json& v) {
      const auto* s = v.get_ptr<const json::string_t*>();
      return s != nullptr && TokensMatch(c, Tokenize(*s, c.params));
    });
  }
};

bool EvalCondition(const Condition& c, const FilterPointId& id, const json& payload) {
  return std::visit(ConditionEvaluator{id, payload}, c);
}

}  // namespace

bool EvalClauses(const Clauses& f, const FilterPointId& id, const json& payload) {
  for (const Condition& c : f.must) {
    if (!EvalCondition(c, id, payload)) return false;
  }
  for (const Condition& c : f.must_not) {
    if (EvalCondition(c, id, payload)) return false;
  }
  if (f.should.has_value()) {
    bool any = false;
    for (const Condition& c : *f.should) {
      if (EvalCondition(c, id, payload)) {
        any = true;
        break;
      }
    }
    if (!any) return false;
  }
  if (f.min_should.has_value()) {
    uint64_t matched = 0;
    for (const Condition& c : f.min_should->conditions) {
      if (matched >= f.min_should->min_count) break;
      if (EvalCondition(c, id, payload)) ++matched;
    }
    if (matched < f.min_should->min_count) return false;
  }
  return true;
}

void ForEachLeafValue(const json& payload, const KeyPath& path,
                      const std::function<void(const json&)>& fn) {
  AnyValue(payload, path, [&](const json& v) {
    fn(v);
    return false;
  });
}

}  // namespace filter_internal

bool Filter::Matches(const FilterPointId& id, const nlohmann::json& payload) const {
  if (root_ == nullptr) return true;
  static const nlohmann::json* const kEmptyObject = new nlohmann::json(nlohmann::json::object());
  return filter_internal::EvalClauses(*root_, id, payload.is_object() ? payload : *kEmptyObject);
}

}  // namespace cairn
