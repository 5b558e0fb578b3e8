#include "server/payload_index.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "index/live/id_map.h"
#include "storage/record_file.h"

namespace cairn {

namespace {

using filter_internal::AsDouble;
using filter_internal::AsInt64;
using filter_internal::Bounds;
using filter_internal::KeyPath;
using filter_internal::ParseDateTimeMicros;

constexpr char kSchemaMagic[] = "CAIRNPIX";
constexpr uint32_t kSchemaVersion = 1;
constexpr char kSchemaFile[] = "/payload_index.json";

struct TypeName {
  PayloadFieldType type;
  const char* name;
};
constexpr TypeName kTypes[] = {
    {PayloadFieldType::kKeyword, "keyword"}, {PayloadFieldType::kInteger, "integer"},
    {PayloadFieldType::kFloat, "float"},     {PayloadFieldType::kBool, "bool"},
    {PayloadFieldType::kUuid, "uuid"},       {PayloadFieldType::kDatetime, "datetime"},
    {PayloadFieldType::kText, "text"},
};

absl::StatusOr<PayloadFieldType> TypeOf(const nlohmann::json& j, const std::string& where) {
  if (j.is_string()) {
    for (const TypeName& t : kTypes) {
      if (j == t.name) return t.type;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", j.dump(),
                   " is not supported (keyword, integer, float, bool, uuid, datetime or text)"));
}

std::vector<std::string> Sorted(std::vector<std::string> keys) {
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

}  // namespace

const char* FieldTypeName(PayloadFieldType t) {
  for (const TypeName& n : kTypes) {
    if (n.type == t) return n.name;
  }
  return "?";
}

bool IsRangeType(const PayloadFieldSchema& s) {
  return (s.type == PayloadFieldType::kInteger && s.range) || s.type == PayloadFieldType::kFloat ||
         s.type == PayloadFieldType::kDatetime;
}

absl::StatusOr<PayloadFieldSchema> ParseFieldSchema(const nlohmann::json& j) {
  PayloadFieldSchema s;
  if (j.is_string()) {
    CAIRN_ASSIGN_OR_RETURN(s.type, TypeOf(j, "field_schema"));
    return s;
  }
  if (!j.is_object() || !j.contains("type")) {
    return absl::InvalidArgumentError(
        "field_schema: expected a type name or an object with \"type\"");
  }
  CAIRN_ASSIGN_OR_RETURN(s.type, TypeOf(j["type"], "field_schema.type"));
  if (s.type == PayloadFieldType::kText) {
    CAIRN_ASSIGN_OR_RETURN(s.text, ParseTextIndexParams(j, "field_schema"));
    return s;
  }
  for (const auto& [key, value] : j.items()) {
    const std::string at = absl::StrCat("field_schema.", key);
    if (key == "type" || value.is_null()) continue;
    if (!value.is_boolean()) return absl::InvalidArgumentError(at + ": expected a boolean");
    // on_disk and is_tenant/is_principal change where or how Qdrant keeps
    // the index, not what a filter finds.
    if (key == "on_disk" || key == "is_tenant" || key == "is_principal") continue;
    if (s.type == PayloadFieldType::kInteger && (key == "lookup" || key == "range")) {
      (key == "lookup" ? s.lookup : s.range) = value.get<bool>();
      continue;
    }
    return absl::InvalidArgumentError(absl::StrCat(at, " is not supported"));
  }
  if (s.type == PayloadFieldType::kInteger && !s.lookup && !s.range) {
    return absl::InvalidArgumentError("field_schema: an integer index needs lookup or range");
  }
  return s;
}

nlohmann::json FieldSchemaParamsJson(const PayloadFieldSchema& s) {
  if (s.type == PayloadFieldType::kText) return TextIndexParamsJson(s.text);
  if (s.type == PayloadFieldType::kInteger) {
    return {{"type", "integer"}, {"lookup", s.lookup}, {"range", s.range}};
  }
  return nullptr;
}

absl::Status WritePayloadSchemaFile(Env* env, const std::string& dir,
                                    const std::map<std::string, PayloadFieldSchema>& fields) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, s] : fields) {
    nlohmann::json f = FieldSchemaParamsJson(s);
    if (f.is_null()) f = {{"type", FieldTypeName(s.type)}};
    j[name] = f;
  }
  return WriteRecordFile(env, dir + kSchemaFile, kSchemaMagic, kSchemaVersion, j.dump());
}

absl::StatusOr<std::map<std::string, PayloadFieldSchema>> ReadPayloadSchemaFile(
    Env* env, const std::string& dir) {
  std::map<std::string, PayloadFieldSchema> out;
  const std::string path = dir + kSchemaFile;
  if (!env->FileExists(path)) return out;
  CAIRN_ASSIGN_OR_RETURN(std::string body,
                         ReadRecordFile(env, path, kSchemaMagic, kSchemaVersion, nullptr));
  nlohmann::json j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(absl::StrCat(path, ": malformed payload schema"));
  }
  for (const auto& [name, f] : j.items()) {
    auto s = ParseFieldSchema(f);
    if (!s.ok() || !filter_internal::ParseFieldKey(name).ok()) {
      return absl::DataLossError(absl::StrCat(path, ": field ", name, ": bad schema"));
    }
    out[name] = *s;
  }
  return out;
}

// ------------------------------------------------------------ postings

template <typename V>
void PayloadIndex::Postings<V>::Set(const std::string& key, std::vector<V> values) {
  Erase(key);
  if (values.empty()) return;
  std::sort(values.begin(), values.end());
  values.erase(std::unique(values.begin(), values.end()), values.end());
  for (const V& v : values) entries.emplace(v, key);
  by_point[key] = std::move(values);
}

template <typename V>
void PayloadIndex::Postings<V>::Erase(const std::string& key) {
  auto it = by_point.find(key);
  if (it == by_point.end()) return;
  for (const V& v : it->second) entries.erase({v, key});
  by_point.erase(it);
}

template <typename V>
void PayloadIndex::Postings<V>::Equal(const V& v, Keys* out) const {
  for (auto it = entries.lower_bound({v, std::string()}); it != entries.end() && it->first == v;
       ++it) {
    out->push_back(it->second);
  }
}

size_t PayloadIndex::Field::points() const {
  return std::max({strings.by_point.size(), ints.by_point.size(), numbers.by_point.size()});
}

// ------------------------------------------------------------ writes

void PayloadIndex::FillLocked(Field& f, const std::string& key, const nlohmann::json& payload) {
  std::vector<std::string> strings;
  std::vector<int64_t> ints;
  std::vector<double> numbers;
  filter_internal::ForEachLeafValue(payload, f.path, [&](const nlohmann::json& v) {
    switch (f.schema.type) {
      case PayloadFieldType::kKeyword:
        if (v.is_string()) strings.push_back(v.get<std::string>());
        break;
      case PayloadFieldType::kUuid:
        // Stored as written: a match compares the payload's text exactly.
        if (v.is_string() && ExternalId::Uuid(v.get<std::string>()).ok()) {
          strings.push_back(v.get<std::string>());
        }
        break;
      case PayloadFieldType::kBool:
        if (v.is_boolean()) strings.push_back(v.get<bool>() ? "1" : "0");
        break;
      case PayloadFieldType::kText:
        if (v.is_string()) {
          for (std::string& t : Tokenize(v.get<std::string>(), f.schema.text)) {
            strings.push_back(std::move(t));
          }
        }
        break;
      case PayloadFieldType::kInteger:
      case PayloadFieldType::kFloat: {
        int64_t n;
        if (f.schema.type == PayloadFieldType::kInteger && AsInt64(v, &n)) ints.push_back(n);
        double x;
        if (AsDouble(v, &x) && !std::isnan(x)) numbers.push_back(x);
        break;
      }
      case PayloadFieldType::kDatetime:
        if (v.is_string()) {
          if (auto t = ParseDateTimeMicros(v.get<std::string>())) ints.push_back(*t);
        }
        break;
    }
  });
  f.strings.Set(key, std::move(strings));
  f.ints.Set(key, std::move(ints));
  f.numbers.Set(key, std::move(numbers));
}

void PayloadIndex::Update(const std::string& key, const nlohmann::json& payload) {
  absl::MutexLock lock(&mu_);
  for (auto& [name, f] : fields_) FillLocked(f, key, payload);
}

void PayloadIndex::Erase(const std::string& key) {
  absl::MutexLock lock(&mu_);
  for (auto& [name, f] : fields_) {
    f.strings.Erase(key);
    f.ints.Erase(key);
    f.numbers.Erase(key);
  }
}

absl::Status PayloadIndex::AddField(const std::string& name, const PayloadFieldSchema& schema) {
  CAIRN_ASSIGN_OR_RETURN(KeyPath path, filter_internal::ParseFieldKey(name));
  absl::MutexLock lock(&mu_);
  auto it = fields_.find(name);
  if (it != fields_.end()) {
    if (it->second.schema == schema) return absl::OkStatus();
    return absl::AlreadyExistsError(
        absl::StrCat("field ", name, " is indexed as ", FieldTypeName(it->second.schema.type)));
  }
  Field& f = fields_[name];
  f.path = std::move(path);
  f.schema = schema;
  return absl::OkStatus();
}

void PayloadIndex::FillField(const std::string& name, const std::string& key,
                             const nlohmann::json& payload) {
  absl::MutexLock lock(&mu_);
  auto it = fields_.find(name);
  if (it != fields_.end()) FillLocked(it->second, key, payload);
}

void PayloadIndex::PublishField(const std::string& name) {
  absl::MutexLock lock(&mu_);
  auto it = fields_.find(name);
  if (it != fields_.end()) it->second.published = true;
}

bool PayloadIndex::DropField(const std::string& name) {
  absl::MutexLock lock(&mu_);
  return fields_.erase(name) > 0;
}

// ------------------------------------------------------------ reads

std::map<std::string, PayloadFieldSchema> PayloadIndex::schema() const {
  absl::ReaderMutexLock lock(&mu_);
  std::map<std::string, PayloadFieldSchema> out;
  for (const auto& [name, f] : fields_) out[name] = f.schema;
  return out;
}

bool PayloadIndex::has_fields() const {
  absl::ReaderMutexLock lock(&mu_);
  return !fields_.empty();
}

nlohmann::json PayloadIndex::SchemaJson() const {
  absl::ReaderMutexLock lock(&mu_);
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [name, f] : fields_) {
    nlohmann::json e = {{"data_type", FieldTypeName(f.schema.type)}};
    nlohmann::json params = FieldSchemaParamsJson(f.schema);
    if (!params.is_null()) e["params"] = params;
    e["points"] = f.points();
    out[name] = std::move(e);
  }
  return out;
}

const PayloadIndex::Field* PayloadIndex::FieldLocked(const KeyPath& path) const {
  for (const auto& [name, f] : fields_) {
    if (f.published && f.path == path) return &f;
  }
  return nullptr;
}

std::optional<std::pair<std::string, PayloadFieldSchema>> PayloadIndex::FieldAt(
    const KeyPath& path) const {
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [name, f] : fields_) {
    if (f.published && f.path == path) return std::make_pair(name, f.schema);
  }
  return std::nullopt;
}

std::optional<PayloadIndex::Keys> PayloadIndex::LookupString(
    const KeyPath& path, const std::vector<std::string>& values) const {
  absl::ReaderMutexLock lock(&mu_);
  const Field* f = FieldLocked(path);
  if (f == nullptr) return std::nullopt;
  const PayloadFieldType t = f->schema.type;
  if (t != PayloadFieldType::kKeyword && t != PayloadFieldType::kUuid) return std::nullopt;
  Keys out;
  for (const std::string& v : values) {
    // A uuid field holds only UUID strings: it cannot answer for others.
    if (t == PayloadFieldType::kUuid && !ExternalId::Uuid(v).ok()) return std::nullopt;
    f->strings.Equal(v, &out);
  }
  return Sorted(std::move(out));
}

std::optional<PayloadIndex::Keys> PayloadIndex::LookupInt(
    const KeyPath& path, const std::vector<int64_t>& values) const {
  absl::ReaderMutexLock lock(&mu_);
  const Field* f = FieldLocked(path);
  if (f == nullptr || f->schema.type != PayloadFieldType::kInteger || !f->schema.lookup) {
    return std::nullopt;
  }
  Keys out;
  for (int64_t v : values) f->ints.Equal(v, &out);
  return Sorted(std::move(out));
}

std::optional<PayloadIndex::Keys> PayloadIndex::LookupBool(const KeyPath& path, bool value) const {
  absl::ReaderMutexLock lock(&mu_);
  const Field* f = FieldLocked(path);
  if (f == nullptr || f->schema.type != PayloadFieldType::kBool) return std::nullopt;
  Keys out;
  f->strings.Equal(value ? "1" : "0", &out);
  return Sorted(std::move(out));
}

namespace {

// The entries of `set` (pairs ordered by value) within bounds b.
template <typename V, typename Set>
void CollectRange(const Set& set, const Bounds<V>& b, std::vector<std::string>* out) {
  auto it = set.begin();
  if (b.gte.has_value() || b.gt.has_value()) {
    const V lo = b.gte.has_value() && (!b.gt.has_value() || *b.gte > *b.gt) ? *b.gte : *b.gt;
    it = set.lower_bound({lo, std::string()});
  }
  for (; it != set.end(); ++it) {
    const V x = it->first;
    if ((b.lt.has_value() && !(x < *b.lt)) || (b.lte.has_value() && !(x <= *b.lte))) break;
    if (b.Contains(x)) out->push_back(it->second);
  }
}

}  // namespace

std::optional<PayloadIndex::Keys> PayloadIndex::LookupRange(const KeyPath& path,
                                                            const Bounds<double>& b) const {
  absl::ReaderMutexLock lock(&mu_);
  const Field* f = FieldLocked(path);
  if (f == nullptr || !IsRangeType(f->schema) || f->schema.type == PayloadFieldType::kDatetime) {
    return std::nullopt;
  }
  for (const auto& bound : {b.gt, b.gte, b.lt, b.lte}) {
    if (bound.has_value() && std::isnan(*bound)) return std::nullopt;
  }
  Keys out;
  CollectRange(f->numbers.entries, b, &out);
  return Sorted(std::move(out));
}

std::optional<PayloadIndex::Keys> PayloadIndex::LookupTimeRange(const KeyPath& path,
                                                                const Bounds<int64_t>& b) const {
  absl::ReaderMutexLock lock(&mu_);
  const Field* f = FieldLocked(path);
  if (f == nullptr || f->schema.type != PayloadFieldType::kDatetime) return std::nullopt;
  Keys out;
  CollectRange(f->ints.entries, b, &out);
  return Sorted(std::move(out));
}

std::optional<PayloadIndex::Keys> PayloadIndex::LookupTokens(const KeyPath& path,
                                                             const std::vector<std::string>& tokens,
                                                             bool all) const {
  absl::ReaderMutexLock lock(&mu_);
  const Field* f = FieldLocked(path);
  if (f == nullptr || f->schema.type != PayloadFieldType::kText || tokens.empty()) {
    return std::nullopt;
  }
  std::optional<Keys> acc;
  for (const std::string& t : tokens) {
    Keys one;
    f->strings.Equal(t, &one);
    one = Sorted(std::move(one));
    if (!acc.has_value()) {
      acc = std::move(one);
    } else if (all) {
      Keys both;
      std::set_intersection(acc->begin(), acc->end(), one.begin(), one.end(),
                            std::back_inserter(both));
      acc = std::move(both);
    } else {
      Keys either;
      std::set_union(acc->begin(), acc->end(), one.begin(), one.end(), std::back_inserter(either));
      acc = std::move(either);
    }
  }
  return acc;
}

absl::Status PayloadIndex::OrderedScan(
    const std::string& name, bool descending, std::optional<double> from,
    const std::function<bool(double, const std::string&)>& fn) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = fields_.find(name);
  if (it == fields_.end() || !it->second.published || !IsRangeType(it->second.schema)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "No range index for `order_by` key: `", name,
        "`. Please create one to use `order_by` (an integer, float or datetime payload index)"));
  }
  const Field& f = it->second;
  auto walk = [&](const auto& set) {
    using Pair = typename std::decay_t<decltype(set)>::value_type;
    using V = typename Pair::first_type;
    if (!descending) {
      auto i = set.begin();
      if (from.has_value()) {
        if constexpr (std::is_floating_point_v<V>) {
          i = set.lower_bound({*from, std::string()});
        } else if (*from > 9.2e18) {
          i = set.end();
        } else if (*from > -9.2e18) {
          i = set.lower_bound({static_cast<V>(std::ceil(*from)), std::string()});
        }
      }
      for (; i != set.end(); ++i) {
        if (!fn(static_cast<double>(i->first), i->second)) return;
      }
    } else {
      auto stop = set.end();  // entries before it have values <= from
      if (from.has_value()) {
        if constexpr (std::is_floating_point_v<V>) {
          stop = set.lower_bound(
              {std::nextafter(*from, std::numeric_limits<double>::infinity()), std::string()});
        } else if (*from < -9.2e18) {
          stop = set.begin();
        } else if (*from < 9.2e18) {
          stop = set.lower_bound({static_cast<V>(std::floor(*from)) + 1, std::string()});
        }
      }
      for (auto i = std::make_reverse_iterator(stop); i != set.rend(); ++i) {
        if (!fn(static_cast<double>(i->first), i->second)) return;
      }
    }
  };
  if (f.schema.type == PayloadFieldType::kDatetime) {
    walk(f.ints.entries);
  } else {
    walk(f.numbers.entries);
  }
  return absl::OkStatus();
}

}  // namespace cairn
