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
// Sparse vectors ({"indices", "values"}) are taken under the names of the
// collection's sparse_vectors, beside the dense vector or without it, and
// answered as {"name": {"indices", "values"}}.
//
// Refused with 400 naming the field: a sparse vector under the dense name
// (or the reverse), multivectors (a list of lists), inference objects
// (Document, Image, ...).
#ifndef CAIRN_SERVER_VECTOR_JSON_H_
#define CAIRN_SERVER_VECTOR_JSON_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "server/collection_config.h"
#include "server/sparse_vector.h"

namespace cairn {

using Json = nlohmann::json;

// The name a request uses for the collection's vector ("" for the unnamed).
inline std::string VectorNameOf(const CollectionConfig& c) { return c.vector_name.value_or(""); }

// OK if `name` is the collection's vector; InvalidArgument naming `where`.
absl::Status CheckVectorName(const CollectionConfig& c, const std::string& name,
                             const std::string& where);

// True when `name` is one of the collection's sparse vectors.
inline bool IsSparseName(const CollectionConfig& c, const std::string& name) {
  return SparseSlotOf(c, name) >= 0;
}

// A point's vectors as a request gives them.
struct PointVectors {
  std::vector<float> dense;  // empty: not given
  SparseMap sparse;
};

// A point's "vector" in an upsert or a vector update: a list (the default
// vector) or a map name -> list or sparse vector. Checks the names, the
// dimension and that every value is a finite float. Empty result: no
// vector ({}).
absl::StatusOr<PointVectors> ParsePointVectors(const Json& j, const CollectionConfig& c,
                                               const std::string& where);

// The batch form's "vectors": a list of lists (the default vector) or a map
// name -> list of vectors (dense or sparse by the name); `n` per name, one
// per id.
absl::StatusOr<std::vector<PointVectors>> ParseBatchVectors(const Json& j, size_t n,
                                                            const CollectionConfig& c);

// A search request's "vector": a list, or {"name": ..., "vector": list}.
absl::StatusOr<std::vector<float>> ParseSearchVector(const Json& body, const CollectionConfig& c);
// True when a search request's "vector" is a named sparse vector
// ({"name": ..., "vector": {"indices", "values"}}, Qdrant's
// NamedSparseVector); ParseNamedSparse then decodes it.
bool IsNamedSparseSearch(const Json& body);
absl::Status ParseNamedSparse(const Json& body, const CollectionConfig& c, std::string* name,
                              SparseVector* v);

// A query's "using": absent or null is the default vector "".
absl::Status CheckUsing(const Json& body, const CollectionConfig& c);

// with_vector: true / false, or a list of names (each must exist).
struct VectorSelector {
  bool enabled = false;  // false: "vector": null
  bool selected = true;  // the collection's dense vector is among those asked for
  bool all_sparse = true;              // every sparse vector (true / absent list)
  std::vector<std::string> sparse;     // else these
  static absl::StatusOr<VectorSelector> Parse(const Json* j, const CollectionConfig& c,
                                              bool fallback);
  // The answer's "vector" for a point whose dense vector is `v` (empty:
  // none) and whose sparse vectors are `sparse`.
  Json Apply(const std::vector<float>& v, const CollectionConfig& c,
             const SparseMap& sparse = {}) const;
};

}  // namespace cairn

#endif  // CAIRN_SERVER_VECTOR_JSON_H_
