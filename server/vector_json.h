// Qdrant's vector grammar over a collection with one dense vector, named or
// not: which names a request may use, how vectors are decoded from upserts,
// updates and searches, and the shape they take in answers (docs/api.md,
// "Named vectors").
//
// Names. An unnamed collection's vector is Qdrant's default vector, whose
// name is "": a plain list and {"": [...]} are the same vector there. A
// named collection's vector is its name; a plain list means the default
// vector "", which only a collection whose name is "" has. Any other name is
// Qdrant's "Not existing vector name error" (400), naming the field.
//
// Answers follow Qdrant's conversion of the vectors it returns: when the only
// vector returned is named "", it is a plain list; otherwise a map name ->
// list; a point without the vector (or with_vector: []) answers {}.
//
// Refused with 400 naming the field: sparse vectors ({"indices", "values"}),
// multivectors (a list of lists), inference objects (Document, Image, ...).
#ifndef CAIRN_SERVER_VECTOR_JSON_H_
#define CAIRN_SERVER_VECTOR_JSON_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/collection_config.h"

namespace cairn {

using Json = nlohmann::json;

// The name a request uses for the collection's vector ("" for the unnamed).
inline std::string VectorNameOf(const CollectionConfig& c) { return c.vector_name.value_or(""); }

// OK if `name` is the collection's vector; InvalidArgument naming `where`.
absl::Status CheckVectorName(const CollectionConfig& c, const std::string& name,
                             const std::string& where);

// A point's "vector" in an upsert or a vector update: a list (the default
// vector) or a map name -> list. Checks the name, the dimension and that
// every value is a finite float. Empty result: no vector ({}).
absl::StatusOr<std::vector<float>> ParsePointVector(const Json& j, const CollectionConfig& c,
                                                    const std::string& where);

// The batch form's "vectors": a list of lists (the default vector) or a map
// name -> list of lists; `n` vectors, one per id.
absl::StatusOr<std::vector<std::vector<float>>> ParseBatchVectors(const Json& j, size_t n,
                                                                  const CollectionConfig& c);

// A search request's "vector": a list, or {"name": ..., "vector": list}.
absl::StatusOr<std::vector<float>> ParseSearchVector(const Json& body, const CollectionConfig& c);

// A query's "using": absent or null is the default vector "".
absl::Status CheckUsing(const Json& body, const CollectionConfig& c);

// with_vector: true / false, or a list of names (each must exist).
struct VectorSelector {
  bool enabled = false;  // false: "vector": null
  bool selected = true;  // the collection's vector is among those asked for
  static absl::StatusOr<VectorSelector> Parse(const Json* j, const CollectionConfig& c,
                                              bool fallback);
  // The answer's "vector" for a point whose vector is `v` (empty: none).
  Json Apply(const std::vector<float>& v, const CollectionConfig& c) const;
};

}  // namespace cairn

#endif  // CAIRN_SERVER_VECTOR_JSON_H_
