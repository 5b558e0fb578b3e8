#include "bench/search_params.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace cairn {
namespace {

// Debian's Abseil has its own string_view type, distinct from std's.
absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string FormatValue(double v) {
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) {
    return absl::StrCat(static_cast<int64_t>(v));
  }
  return absl::StrCat(v);
}

// One parsed section: method name and, per knob, its list of values.
struct Section {
  std::string method;
  std::vector<std::pair<std::string, std::vector<double>>> knobs;
};

absl::StatusOr<std::vector<Section>> ParseSections(absl::string_view spec) {
  std::vector<Section> sections;
  for (absl::string_view raw : absl::StrSplit(spec, ';', absl::SkipWhitespace())) {
    std::vector<absl::string_view> parts = absl::StrSplit(raw, ':');
    Section section;
    section.method = std::string(absl::StripAsciiWhitespace(parts[0]));
    if (section.method.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("missing method name in \"", raw, "\""));
    }
    if (parts.size() < 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", raw, "\" has no knobs; expected method:knob=v1,v2"));
    }
    for (size_t i = 1; i < parts.size(); ++i) {
      std::vector<absl::string_view> kv = absl::StrSplit(parts[i], absl::MaxSplits('=', 1));
      absl::string_view name = absl::StripAsciiWhitespace(kv[0]);
      if (kv.size() != 2 || name.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", parts[i], "\" in \"", raw, "\" is not knob=v1,v2"));
      }
      std::vector<double> values;
      for (absl::string_view v : absl::StrSplit(kv[1], ',')) {
        double value;
        if (!absl::SimpleAtod(absl::StripAsciiWhitespace(v), &value) || !std::isfinite(value)) {
          return absl::InvalidArgumentError(absl::StrCat("\"", v, "\" is not a number (knob ", name,
                                                         " of ", section.method, ")"));
        }
        values.push_back(value);
      }
      section.knobs.emplace_back(std::string(name), std::move(values));
    }
    sections.push_back(std::move(section));
  }
  return sections;
}

}  // namespace

SearchParams::SearchParams(std::initializer_list<std::pair<std::string, double>> knobs) {
  for (const auto& [name, value] : knobs) Set(name, value);
}

void SearchParams::Set(std::string_view name, double value) {
  for (auto& knob : knobs_) {
    if (knob.first == name) {
      knob.second = value;
      return;
    }
  }
  knobs_.emplace_back(std::string(name), value);
}

std::optional<double> SearchParams::Get(std::string_view name) const {
  for (const auto& knob : knobs_) {
    if (knob.first == name) return knob.second;
  }
  return std::nullopt;
}

double SearchParams::GetOr(std::string_view name, double fallback) const {
  return Get(name).value_or(fallback);
}

std::string SearchParams::ToString() const {
  if (knobs_.empty()) return "-";
  return absl::StrJoin(knobs_, ",", [](std::string* out, const auto& knob) {
    absl::StrAppend(out, knob.first, "=", FormatValue(knob.second));
  });
}

absl::Status SearchParams::CheckKnown(std::string_view method,
                                      std::vector<std::string_view> known) const {
  for (const auto& knob : knobs_) {
    bool found = false;
    for (std::string_view k : known) found = found || k == knob.first;
    if (!found) {
      std::vector<absl::string_view> names;
      for (std::string_view k : known) names.push_back(View(k));
      return absl::InvalidArgumentError(absl::StrCat(
          View(method), " has no knob \"", knob.first,
          "\" (it knows: ", names.empty() ? std::string("none") : absl::StrJoin(names, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::map<std::string, std::vector<SearchParams>>> ParseSweepSpec(
    std::string_view spec) {
  absl::StatusOr<std::vector<Section>> sections = ParseSections(View(spec));
  if (!sections.ok()) return sections.status();
  std::map<std::string, std::vector<SearchParams>> sweeps;
  for (const Section& section : *sections) {
    if (sweeps.count(section.method)) {
      return absl::InvalidArgumentError(
          absl::StrCat("method ", section.method, " appears twice in the sweep"));
    }
    // Cartesian product, last knob fastest.
    std::vector<SearchParams> settings = {SearchParams()};
    for (const auto& [name, values] : section.knobs) {
      std::vector<SearchParams> next;
      for (const SearchParams& prefix : settings) {
        for (double v : values) {
          SearchParams p = prefix;
          p.Set(name, v);
          next.push_back(std::move(p));
        }
      }
      settings = std::move(next);
    }
    sweeps[section.method] = std::move(settings);
  }
  return sweeps;
}

absl::StatusOr<std::map<std::string, SearchParams>> ParseBuildSpec(std::string_view spec) {
  absl::StatusOr<std::vector<Section>> sections = ParseSections(View(spec));
  if (!sections.ok()) return sections.status();
  std::map<std::string, SearchParams> out;
  for (const Section& section : *sections) {
    SearchParams& params = out[section.method];
    for (const auto& [name, values] : section.knobs) {
      if (values.size() != 1) {
        return absl::InvalidArgumentError(absl::StrCat("build knob ", name, " of ", section.method,
                                                       " takes one value, not a list"));
      }
      params.Set(name, values[0]);
    }
  }
  return out;
}

}  // namespace cairn
