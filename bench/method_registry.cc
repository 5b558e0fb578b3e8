#include "bench/method_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/cairn_method.h"
#include "bench/exact_method.h"
#include "bench/faiss_methods.h"
#include "bench/hnsw_method.h"

namespace cairn {

std::vector<std::string> KnownMethodNames() {
  return {"exact", "hnswlib", "faiss-ivf-flat", "faiss-ivf-pq-refine", "cairn",
          "cairn-lsh", "cairn-itq", "cairn-rabitq"};
}

absl::StatusOr<std::unique_ptr<SearchMethod>> MakeMethod(std::string_view name,
                                                         const SearchParams& build_params) {
  if (name == "exact") {
    absl::Status known = build_params.CheckKnown(name, {});
    if (!known.ok()) return known;
    return std::make_unique<ExactMethod>();
  }
  if (name == "hnswlib") {
    absl::StatusOr<HnswOptions> options = HnswOptions::FromParams(build_params);
    if (!options.ok()) return options.status();
    return std::make_unique<HnswMethod>(*options);
  }
  if (name == "faiss-ivf-flat") {
    absl::StatusOr<IvfFlatOptions> options = IvfFlatOptions::FromParams(build_params);
    if (!options.ok()) return options.status();
    return std::make_unique<FaissIvfFlatMethod>(*options);
  }
  if (name == "faiss-ivf-pq-refine") {
    absl::StatusOr<IvfPqRefineOptions> options = IvfPqRefineOptions::FromParams(build_params);
    if (!options.ok()) return options.status();
    return std::make_unique<FaissIvfPqRefineMethod>(*options);
  }
  if (name == "cairn" || name == "cairn-lsh" || name == "cairn-itq" || name == "cairn-rabitq") {
    absl::StatusOr<CairnMethodOptions> options = CairnMethodOptions::FromParams(build_params);
    if (!options.ok()) return options.status();
    // The method name picks the codes in the postings (none for "cairn").
    if (name != "cairn") {
      absl::StatusOr<CodeFamily> codes = ParseCodeFamily(std::string(name.substr(6)));
      if (!codes.ok()) return codes.status();
      options->build.codes = *codes;
    }
    return std::make_unique<CairnMethod>(*options);
  }
  return absl::NotFoundError(absl::StrCat("unknown method \"", std::string(name), "\" (known: ",
                                          absl::StrJoin(KnownMethodNames(), ", "), ")"));
}

}  // namespace cairn
