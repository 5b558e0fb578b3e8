// Search methods by name, for the CLI and scripts: the one place that knows
// every adapter. Adding a method = one adapter file plus one line here.
#ifndef CAIRN_BENCH_METHOD_REGISTRY_H_
#define CAIRN_BENCH_METHOD_REGISTRY_H_

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/method.h"
#include "bench/search_params.h"

namespace cairn {

// "exact", "hnswlib", "faiss-ivf-flat", "faiss-ivf-pq-refine".
std::vector<std::string> KnownMethodNames();

// A new, unbuilt method configured with its build knobs (see each adapter's
// Options::FromParams); NotFound for an unknown name.
absl::StatusOr<std::unique_ptr<SearchMethod>> MakeMethod(std::string_view name,
                                                         const SearchParams& build_params);

// The methods of a comma-separated list, in order, each with its entry of
// `build_params`. InvalidArgument for a name listed twice, an empty list, or
// build knobs for a method not listed.
absl::StatusOr<std::vector<std::unique_ptr<SearchMethod>>> MakeMethods(
    std::string_view list, const std::map<std::string, SearchParams>& build_params);

}  // namespace cairn

#endif  // CAIRN_BENCH_METHOD_REGISTRY_H_
