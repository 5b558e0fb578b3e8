#include "bench/report.h"

#include <sys/utsname.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "kernels/distance.h"
#include "storage/env.h"

namespace cairn {
namespace {

std::string OrDash(const std::optional<double>& v, const char* format) {
  return v.has_value() ? absl::StrFormat(format, *v) : std::string("-");
}

nlohmann::json OptionalJson(const std::optional<double>& v) {
  return v.has_value() ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace

MachineInfo ReadMachineInfo() {
  MachineInfo info;
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        info.cpu_model = std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
      break;
    }
  }
  info.simd_level = std::string(SimdLevelName(Kernels().level));
  info.hardware_threads = std::thread::hardware_concurrency();
  struct utsname uts;
  if (uname(&uts) == 0) info.kernel = uts.release;
  return info;
}

void PrintTable(const BenchReport& r, std::ostream& out) {
  out << absl::StrFormat("base %s: %d x %d, queries %d, ground truth k=%d, metric %s\n",
                         r.base_path, r.base_rows, r.dim, r.num_queries, r.gt_k, r.metric);
  out << absl::StrFormat("cpu %s (%d threads, %s kernels); search k=%d on %d thread(s)\n",
                         r.machine.cpu_model.empty() ? "?" : r.machine.cpu_model,
                         r.machine.hardware_threads, r.machine.simd_level, r.k, r.query_threads);
  out << r.latency_note << "\n\n";
  const std::string header =
      absl::StrFormat("%-20s %-22s %6s %6s %6s %10s %8s %8s %8s %8s %9s %7s %8s %10s %10s %8s",
                      "method", "params", "R@1", "R@10", "R@100", "QPS", "mean ms", "p50 ms",
                      "p99 ms", "p99.9 ms", "dist/q", "lists/q", "KiB/q", "RAM B/vec", "SSD B/vec", "build s");
  out << header << "\n" << std::string(header.size(), '-') << "\n";
  for (const MethodResult& m : r.methods) {
    for (const SettingResult& s : m.settings) {
      out << absl::StrFormat(
          "%-20s %-22s %6s %6s %6s %10.1f %8.3f %8.3f %8.3f %8.3f %9s %7s %8s %10.1f %10s %8.2f\n",
          m.name, s.params.ToString(), OrDash(s.recall_at_1, "%.4f"),
          OrDash(s.recall_at_10, "%.4f"), OrDash(s.recall_at_100, "%.4f"), s.qps, s.latency.mean,
          s.latency.p50, s.latency.p99, s.latency.p999, OrDash(s.distances_per_query, "%.0f"),
          OrDash(s.lists_read_per_query, "%.1f"), OrDash(s.kib_read_per_query, "%.0f"),
          m.resident_bytes_per_vector,
          m.ssd_bytes_per_vector > 0 ? absl::StrFormat("%.1f", m.ssd_bytes_per_vector) : "-",
          m.build_seconds);
    }
  }
  out << "\n";
  for (const MethodResult& m : r.methods) {
    out << m.name;
    if (m.build_params != "-") out << " [" << m.build_params << "]";
    out << ": " << m.notes << "\n";
  }
}

nlohmann::json ReportToJson(const BenchReport& r) {
  nlohmann::json j;
  j["machine"] = {{"cpu_model", r.machine.cpu_model},
                  {"simd_level", r.machine.simd_level},
                  {"hardware_threads", r.machine.hardware_threads},
                  {"kernel", r.machine.kernel}};
  j["dataset"] = {{"base", r.base_path},
                  {"queries", r.query_path},
                  {"ground_truth", r.gt_path},
                  {"base_rows", r.base_rows},
                  {"dim", r.dim},
                  {"num_queries", r.num_queries},
                  {"gt_k", r.gt_k},
                  {"metric", r.metric}};
  j["config"] = {{"k", r.k},
                 {"query_threads", r.query_threads},
                 {"build_threads", r.build_threads},
                 {"warmup_queries", r.warmup_queries},
                 {"latency_note", r.latency_note}};
  j["methods"] = nlohmann::json::array();
  for (const MethodResult& m : r.methods) {
    nlohmann::json jm = {{"name", m.name},
                         {"notes", m.notes},
                         {"build_params", m.build_params},
                         {"build_seconds", m.build_seconds},
                         {"resident_bytes", m.resident_bytes},
                         {"resident_bytes_per_vector", m.resident_bytes_per_vector},
                         {"ssd_bytes_per_vector", m.ssd_bytes_per_vector},
                         {"rss_before_build_bytes", m.rss_before_build},
                         {"rss_after_build_bytes", m.rss_after_build},
                         {"peak_rss_during_build_bytes", m.peak_rss_during_build}};
    jm["results"] = nlohmann::json::array();
    for (const SettingResult& s : m.settings) {
      nlohmann::json params = nlohmann::json::object();
      for (const auto& [name, value] : s.params.knobs()) params[name] = value;
      jm["results"].push_back(
          {{"params", params},
           {"params_str", s.params.ToString()},
           {"recall_at_1", OptionalJson(s.recall_at_1)},
           {"recall_at_10", OptionalJson(s.recall_at_10)},
           {"recall_at_100", OptionalJson(s.recall_at_100)},
           {"qps", s.qps},
           {"latency_ms",
            {{"mean", s.latency.mean},
             {"p50", s.latency.p50},
             {"p99", s.latency.p99},
             {"p99_9", s.latency.p999}}},
           {"distances_per_query", OptionalJson(s.distances_per_query)},
           {"code_distances_per_query", OptionalJson(s.code_distances_per_query)},
           {"lists_read_per_query", OptionalJson(s.lists_read_per_query)},
           {"kib_read_per_query", OptionalJson(s.kib_read_per_query)}});
    }
    j["methods"].push_back(std::move(jm));
  }
  return j;
}

absl::Status WriteJson(const nlohmann::json& json, const std::string& path) {
  return WriteFileAtomically(Env::Default(), path, json.dump(2) + "\n");
}

absl::Status WriteJsonReport(const BenchReport& report, const std::string& path) {
  return WriteJson(ReportToJson(report), path);
}

}  // namespace cairn
