// A collection's payload indexes (Qdrant's PUT /collections/{n}/index): per
// indexed field, the points holding each value, so that a filter on the
// field reads only the points that may match instead of every point.
//
// Field types (Qdrant's field_schema): keyword (strings), integer (integer
// match and numeric range), float (numeric range), bool, uuid (UUID
// strings), datetime (RFC 3339 range), text (tokens, text_index_params.h's
// tokenizer). A value the field's type does not take (a number in a keyword
// field) is not indexed; a filter on it then finds no candidates from the
// index for that value, which is exactly what evaluating it finds, because
// each lookup below is answered only for conditions whose every matching
// value the index holds (filter_plan.h says which).
//
// What is stored. The index lives in RAM and is rebuilt from the point
// store at open; only the schema (field -> type and parameters) is on disk,
// `<dir>/payload_index.json` (record file CAIRNPIX, docs/formats.md). Memory:
// one (value, point key) entry per indexed value, plus each point's values
// for removal: about 2 x (value + key + 32) bytes per indexed value.
//
// Candidates are point-store keys (point_id.h's StoreKey), sorted: the
// order scroll pages in. Callers check every candidate against the whole
// filter, so an index may over-approximate but never miss a point.
//
// Thread-safety: any number of readers (Lookup*, schema, Fields) at once
// with one writer (Update, Erase, AddField, DropField), which the
// collection serialises under its write lock.
#ifndef CAIRN_SERVER_PAYLOAD_INDEX_H_
#define CAIRN_SERVER_PAYLOAD_INDEX_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/btree_set.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "nlohmann/json.hpp"
#include "server/filter_tree.h"
#include "server/text_tokenizer.h"
#include "storage/env.h"

namespace cairn {

enum class PayloadFieldType { kKeyword, kInteger, kFloat, kBool, kUuid, kDatetime, kText };

struct PayloadFieldSchema {
  PayloadFieldType type = PayloadFieldType::kKeyword;
  TextIndexParams text;  // kText only
  // Qdrant's integer {"lookup", "range"}: which conditions the index serves.
  bool lookup = true;
  bool range = true;

  friend bool operator==(const PayloadFieldSchema&, const PayloadFieldSchema&) = default;
};

// Qdrant's field_schema: a type name ("keyword", ...) or an object
// {"type": ..., params}. InvalidArgument naming what is unsupported (geo,
// a tokenizer other than word/whitespace, stopwords, ...).
absl::StatusOr<PayloadFieldSchema> ParseFieldSchema(const nlohmann::json& j);
const char* FieldTypeName(PayloadFieldType t);
// The `params` Qdrant reports in payload_schema (null when it has none).
nlohmann::json FieldSchemaParamsJson(const PayloadFieldSchema& s);
// True for types that serve range conditions and order_by.
bool IsRangeType(const PayloadFieldSchema& s);

// The schema file: field name -> schema.
absl::Status WritePayloadSchemaFile(Env* env, const std::string& dir,
                                    const std::map<std::string, PayloadFieldSchema>& fields);
// An absent file is an empty schema.
absl::StatusOr<std::map<std::string, PayloadFieldSchema>> ReadPayloadSchemaFile(
    Env* env, const std::string& dir);

class PayloadIndex {
 public:
  using Keys = std::vector<std::string>;  // sorted, unique store keys

  // Replaces the point's entries (in every field) with those of `payload`.
  void Update(const std::string& key, const nlohmann::json& payload);
  void Erase(const std::string& key);
  // Adds an empty field (AlreadyExists if present with another schema); the
  // caller then fills every point into it with FillField and calls
  // PublishField. Until then lookups ignore the field (they would miss the
  // points not yet filled), while writes (Update) already keep it current.
  absl::Status AddField(const std::string& name, const PayloadFieldSchema& schema);
  void FillField(const std::string& name, const std::string& key, const nlohmann::json& payload);
  void PublishField(const std::string& name);
  bool DropField(const std::string& name);

  std::map<std::string, PayloadFieldSchema> schema() const;
  bool has_fields() const;
  // payload_schema of collection info: {name: {"data_type", "params"?, "points"}}.
  nlohmann::json SchemaJson() const;

  // The field whose key path is `path`, if indexed: its name and schema.
  std::optional<std::pair<std::string, PayloadFieldSchema>> FieldAt(
      const filter_internal::KeyPath& path) const;

  // Lookups; nullopt when no field at `path` can answer (not indexed, or of
  // another type). Each returns every point having such a value.
  std::optional<Keys> LookupString(const filter_internal::KeyPath& path,
                                   const std::vector<std::string>& values) const;
  std::optional<Keys> LookupInt(const filter_internal::KeyPath& path,
                                const std::vector<int64_t>& values) const;
  std::optional<Keys> LookupBool(const filter_internal::KeyPath& path, bool value) const;
  std::optional<Keys> LookupRange(const filter_internal::KeyPath& path,
                                  const filter_internal::Bounds<double>& b) const;
  std::optional<Keys> LookupTimeRange(const filter_internal::KeyPath& path,
                                      const filter_internal::Bounds<int64_t>& b) const;
  // Points holding all (all=true) or any of the tokens.
  std::optional<Keys> LookupTokens(const filter_internal::KeyPath& path,
                                   const std::vector<std::string>& tokens, bool all) const;

  // order_by: calls fn(value, key) for the numeric (or datetime, as Unix
  // microseconds) values of field `name` in ascending or descending order,
  // starting at `from` (inclusive) if given, until fn returns false; a point
  // appears once per value. FailedPrecondition when `name` has no range
  // index.
  absl::Status OrderedScan(const std::string& name, bool descending, std::optional<double> from,
                           const std::function<bool(double, const std::string&)>& fn) const;

 private:
  // One ordered set of (value, key) plus each key's values, for Erase.
  template <typename V>
  struct Postings {
    absl::btree_set<std::pair<V, std::string>> entries;
    absl::flat_hash_map<std::string, std::vector<V>> by_point;
    void Set(const std::string& key, std::vector<V> values);
    void Erase(const std::string& key);
    void Equal(const V& v, Keys* out) const;
  };
  struct Field {
    filter_internal::KeyPath path;
    PayloadFieldSchema schema;
    bool published = false;         // see AddField
    Postings<std::string> strings;  // keyword, uuid, bool ("0"/"1"), text tokens
    Postings<int64_t> ints;         // integer match, datetime micros
    Postings<double> numbers;       // integer and float ranges
    size_t points() const;
  };
  void FillLocked(Field& f, const std::string& key, const nlohmann::json& payload)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Field* FieldLocked(const filter_internal::KeyPath& path) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::map<std::string, Field> fields_ ABSL_GUARDED_BY(mu_);
};

}  // namespace cairn

#endif  // CAIRN_SERVER_PAYLOAD_INDEX_H_
