#include "bench/method_registry.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
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

absl::StatusOr<std::vector<std::unique_ptr<SearchMethod>>> MakeMethods(
    std::string_view list, const std::map<std::string, SearchParams>& build_params) {
  std::vector<std::unique_ptr<SearchMethod>> methods;
  std::set<std::string> names;
  for (absl::string_view raw : absl::StrSplit(absl::string_view(list.data(), list.size()), ',',
                                              absl::SkipWhitespace())) {
    const std::string name(absl::StripAsciiWhitespace(raw));
    if (!names.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat("method ", name, " is listed twice"));
    }
    auto params = build_params.find(name);
    absl::StatusOr<std::unique_ptr<SearchMethod>> method =
        MakeMethod(name, params == build_params.end() ? SearchParams() : params->second);
    if (!method.ok()) return method.status();
    methods.push_back(std::move(*method));
  }
  if (methods.empty()) return absl::InvalidArgumentError("--methods names no method");
  for (const auto& [name, params] : build_params) {
    if (!names.count(name)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--build-params names method \"", name, "\", which is not being run"));
    }
  }
  return methods;
}

}  // namespace cairn
