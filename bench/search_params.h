// Named numeric knobs of a search method ("ef", "nprobe", "k_factor") and the
// textual specs the CLI gives them in.
//
// Spec syntax, shared by `--sweep` and `--build-params`:
//   spec    := section (';' section)*
//   section := method (':' knob '=' value (',' value)*)+
// e.g. "hnswlib:ef=10,20;faiss-ivf-pq-refine:nprobe=8,16:k_factor=2,4".
// A sweep is the cartesian product of a section's knob lists, in the order
// written (the last knob varies fastest). Build params take one value per knob.
#ifndef CAIRN_BENCH_SEARCH_PARAMS_H_
#define CAIRN_BENCH_SEARCH_PARAMS_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace cairn {

// An ordered list of (name, value) knobs; order is kept so reports read the
// way the sweep was written.
class SearchParams {
 public:
  SearchParams() = default;
  SearchParams(std::initializer_list<std::pair<std::string, double>> knobs);

  // Replaces the value if the knob exists, else appends it.
  void Set(std::string_view name, double value);
  std::optional<double> Get(std::string_view name) const;
  double GetOr(std::string_view name, double fallback) const;
  const std::vector<std::pair<std::string, double>>& knobs() const { return knobs_; }
  bool empty() const { return knobs_.empty(); }

  // "ef=20", "nprobe=8,k_factor=4"; "-" when there are no knobs. Integral
  // values print without a decimal point.
  std::string ToString() const;

  // InvalidArgument naming the first knob not in `known` (method names the
  // method in the message).
  absl::Status CheckKnown(std::string_view method, std::vector<std::string_view> known) const;

 private:
  std::vector<std::pair<std::string, double>> knobs_;
};

// Parses a sweep spec: method name -> the settings to run, in order.
absl::StatusOr<std::map<std::string, std::vector<SearchParams>>> ParseSweepSpec(
    std::string_view spec);
// Parses a build-params spec: method name -> its build knobs (one value each).
absl::StatusOr<std::map<std::string, SearchParams>> ParseBuildSpec(std::string_view spec);

}  // namespace cairn

#endif  // CAIRN_BENCH_SEARCH_PARAMS_H_
