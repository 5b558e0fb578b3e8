#include "server/filter_plan.h"

#include <algorithm>
#include <iterator>

#include "server/filter_tree.h"
#include "server/point_id.h"

namespace cairn {

namespace {

using namespace filter_internal;  // NOLINT: the tree's many node types
using Keys = PayloadIndex::Keys;

std::shared_ptr<const Clauses> BindClauses(const Clauses& in, const PayloadIndex& index,
                                           bool* changed);

// The text index at `path`, if any.
std::optional<TextIndexParams> TextIndexAt(const KeyPath& path, const PayloadIndex& index) {
  auto f = index.FieldAt(path);
  if (!f.has_value() || f->second.type != PayloadFieldType::kText) return std::nullopt;
  return f->second.text;
}

Condition BindCondition(const Condition& c, const PayloadIndex& index, bool* changed) {
  if (const auto* t = std::get_if<MatchText>(&c)) {
    if (auto params = TextIndexAt(t->path, index)) {
      *changed = true;
      return MatchTokens{t->path, t->phrase ? MatchTokens::Mode::kPhrase : MatchTokens::Mode::kAll,
                         Tokenize(t->text, *params), *params};
    }
  } else if (const auto* any = std::get_if<MatchTextAny>(&c)) {
    if (auto params = TextIndexAt(any->path, index)) {
      *changed = true;
      MatchTokens m{any->path, MatchTokens::Mode::kAny, {}, *params};
      for (const std::string& word : any->tokens) {
        for (std::string& tok : Tokenize(word, *params)) m.tokens.push_back(std::move(tok));
      }
      return m;
    }
  } else if (const auto* sub = std::get_if<SubFilter>(&c)) {
    bool sub_changed = false;
    auto bound = BindClauses(*sub->filter, index, &sub_changed);
    if (sub_changed) {
      *changed = true;
      return SubFilter{std::move(bound)};
    }
  }
  return c;
}

std::vector<Condition> BindList(const std::vector<Condition>& in, const PayloadIndex& index,
                                bool* changed) {
  std::vector<Condition> out;
  out.reserve(in.size());
  for (const Condition& c : in) out.push_back(BindCondition(c, index, changed));
  return out;
}

std::shared_ptr<const Clauses> BindClauses(const Clauses& in, const PayloadIndex& index,
                                           bool* changed) {
  auto out = std::make_shared<Clauses>();
  out->must = BindList(in.must, index, changed);
  out->must_not = BindList(in.must_not, index, changed);
  if (in.should.has_value()) out->should = BindList(*in.should, index, changed);
  if (in.min_should.has_value()) {
    out->min_should =
        MinShould{BindList(in.min_should->conditions, index, changed), in.min_should->min_count};
  }
  return out;
}

std::optional<Keys> PlanClauses(const Clauses& c, const PayloadIndex& index);

Keys IdKeys(const HasId& h) {
  Keys out;
  for (uint64_t n : h.numbers) out.push_back(StoreKey(ExternalId::Number(n)));
  for (const std::string& t : h.texts) {
    auto id = ExternalId::Uuid(t);
    if (!id.ok()) id = ExternalId::String(t);
    if (id.ok()) out.push_back(StoreKey(*id));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::optional<Keys> PlanCondition(const Condition& c, const PayloadIndex& index) {
  if (const auto* m = std::get_if<MatchString>(&c)) return index.LookupString(m->path, {m->value});
  if (const auto* m = std::get_if<MatchInt>(&c)) return index.LookupInt(m->path, {m->value});
  if (const auto* m = std::get_if<MatchBool>(&c)) return index.LookupBool(m->path, m->value);
  if (const auto* m = std::get_if<MatchAny>(&c)) {
    // A list is of one type only (filter_tree.h); an empty one matches nothing.
    if (m->strings.empty() && m->ints.empty()) return Keys();
    return m->ints.empty() ? index.LookupString(m->path, m->strings)
                           : index.LookupInt(m->path, m->ints);
  }
  if (const auto* m = std::get_if<RangeNumber>(&c)) return index.LookupRange(m->path, m->bounds);
  if (const auto* m = std::get_if<RangeTime>(&c)) return index.LookupTimeRange(m->path, m->bounds);
  if (const auto* m = std::get_if<MatchTokens>(&c)) {
    return index.LookupTokens(m->path, m->tokens, m->mode != MatchTokens::Mode::kAny);
  }
  if (const auto* h = std::get_if<HasId>(&c)) return IdKeys(*h);
  if (const auto* s = std::get_if<SubFilter>(&c)) return PlanClauses(*s->filter, index);
  return std::nullopt;
}

Keys Intersect(const Keys& a, const Keys& b) {
  Keys out;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(out));
  return out;
}

std::optional<Keys> PlanClauses(const Clauses& c, const PayloadIndex& index) {
  std::optional<Keys> acc;
  for (const Condition& cond : c.must) {
    std::optional<Keys> k = PlanCondition(cond, index);
    if (!k.has_value()) continue;
    acc = acc.has_value() ? Intersect(*acc, *k) : std::move(*k);
    if (acc->empty()) return acc;
  }
  if (c.should.has_value()) {
    Keys any;
    bool answered = true;
    for (const Condition& cond : *c.should) {
      std::optional<Keys> k = PlanCondition(cond, index);
      if (!k.has_value()) {
        answered = false;
        break;
      }
      Keys merged;
      std::set_union(any.begin(), any.end(), k->begin(), k->end(), std::back_inserter(merged));
      any = std::move(merged);
    }
    if (answered) acc = acc.has_value() ? Intersect(*acc, any) : std::move(any);
  }
  return acc;
}

}  // namespace

Filter BindTextIndexes(const Filter& filter, const PayloadIndex& index) {
  if (filter.root() == nullptr) return filter;
  bool changed = false;
  auto bound = BindClauses(*filter.root(), index, &changed);
  return changed ? Filter::FromRoot(std::move(bound)) : filter;
}

std::optional<PayloadIndex::Keys> PlanCandidates(const Filter& filter, const PayloadIndex& index) {
  if (filter.root() == nullptr) return std::nullopt;
  return PlanClauses(*filter.root(), index);
}

}  // namespace cairn
