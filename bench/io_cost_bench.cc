#include "bench/io_cost_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "bench/report.h"
#include "common/aligned_buffer.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "nlohmann/json.hpp"
#include "storage/block_reader.h"
#include "storage/env.h"

namespace cairn {

absl::StatusOr<LinearFit> FitLine(const std::vector<double>& x, const std::vector<double>& y) {
  if (x.size() != y.size() || x.size() < 2) {
    return absl::InvalidArgumentError("FitLine needs at least two points");
  }
  const double n = static_cast<double>(x.size());
  double mx = 0, my = 0;
  for (size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= n, my /= n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxx += (x[i] - mx) * (x[i] - mx);
    sxy += (x[i] - mx) * (y[i] - my);
  }
  if (sxx <= 0) return absl::InvalidArgumentError("FitLine needs two distinct x values");
  LinearFit f;
  f.per_unit = sxy / sxx;
  f.fixed = my - f.per_unit * mx;
  return f;
}

absl::Status IoCostOptions::Validate() const {
  if (batch == 0 || batches == 0 || sizes_kib.size() < 2) {
    return absl::InvalidArgumentError("io-cost needs --batch, --batches > 0 and two sizes or more");
  }
  const uint32_t largest = *std::max_element(sizes_kib.begin(), sizes_kib.end());
  if (largest == 0 || largest > 1024) {
    return absl::InvalidArgumentError("read sizes must be 1..1024 KiB");
  }
  return absl::OkStatus();
}

absl::Status RunIoCostBench(const IoCostOptions& a) {
  CAIRN_RETURN_IF_ERROR(a.Validate());
  CAIRN_ASSIGN_OR_RETURN(uint64_t file_bytes, Env::Default()->FileSize(a.file));
  const uint32_t largest = *std::max_element(a.sizes_kib.begin(), a.sizes_kib.end());
  const uint64_t span = uint64_t{largest} * 1024;
  if (file_bytes < span * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat(a.file, ": ", file_bytes, " bytes is too small for reads of ", largest,
                     " KiB (use a file of at least 4 reads; larger files measure the SSD, not "
                     "its cache)"));
  }
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<BlockReader> reader, OpenBlockReader(a.file));
  if (!reader->direct()) {
    std::fprintf(stderr, "note: %s is read through the page cache (no O_DIRECT here)\n",
                 a.file.c_str());
  }
  AlignedBuffer buffer(uint64_t{a.batch} * span, kDirectIoAlignment);
  std::vector<ReadRequest> reqs(a.batch);
  Rng rng(a.seed);
  const uint64_t slots = file_bytes / span;  // read offsets are multiples of the largest size

  std::vector<double> kib, mean_us;
  nlohmann::json rows = nlohmann::json::array();
  std::printf("%s via %s%s, %u reads per batch, one batch in flight\n", a.file.c_str(),
              reader->kind(), reader->direct() ? " + O_DIRECT" : "", a.batch);
  std::printf("%10s %12s %12s %12s\n", "KiB/read", "KiB/batch", "mean us", "p50 us");
  for (uint32_t size : a.sizes_kib) {
    if (size == 0 || (uint64_t{size} * 1024) % kDirectIoAlignment != 0) {
      return absl::InvalidArgumentError("read sizes must be multiples of 4 KiB");
    }
    std::vector<double> lat;
    lat.reserve(a.batches);
    for (uint32_t b = 0; b < a.batches + 100; ++b) {
      for (uint32_t i = 0; i < a.batch; ++i) {
        reqs[i] = ReadRequest{rng.Below(slots) * span, size * 1024u,
                              buffer.data() + uint64_t{i} * span, 0, i};
      }
      const auto t0 = std::chrono::steady_clock::now();
      CAIRN_RETURN_IF_ERROR(reader->Submit(reqs.data(), reqs.size()));
      for (uint32_t i = 0; i < a.batch; ++i) {
        CAIRN_ASSIGN_OR_RETURN(ReadRequest * r, reader->WaitNext());
        (void)r;
      }
      const double us = Nanos(t0, std::chrono::steady_clock::now()) / 1e3;
      if (b >= 100) lat.push_back(us);
    }
    const LatencyMs summary = Summarize(std::move(lat));
    const double mean = summary.mean, p50 = summary.p50;
    const double batch_kib = static_cast<double>(size) * a.batch;
    std::printf("%10u %12.0f %12.1f %12.1f\n", size, batch_kib, mean, p50);
    kib.push_back(batch_kib);
    mean_us.push_back(mean);
    rows.push_back({{"kib_per_read", size}, {"kib_per_batch", batch_kib}, {"mean_us", mean},
                    {"p50_us", p50}});
  }
  CAIRN_ASSIGN_OR_RETURN(LinearFit fit, FitLine(kib, mean_us));
  const double ratio = fit.per_unit > 0 ? fit.fixed / fit.per_unit : 0;
  std::printf("fit: %.1f us per batch + %.3f us per KiB; batch_cost_kib = %.0f\n", fit.fixed,
              fit.per_unit, ratio);
  std::printf("(a two-step coded search pays one batch more than a whole read; it is faster only\n"
              " when it reads at least batch_cost_kib fewer KiB)\n");
  if (!a.json.empty()) {
    nlohmann::json j{{"file", a.file},       {"reader", reader->kind()},
                     {"direct", reader->direct()}, {"reads_per_batch", a.batch},
                     {"rows", rows},          {"fixed_us_per_batch", fit.fixed},
                     {"us_per_kib", fit.per_unit}, {"batch_cost_kib", ratio}};
    std::ofstream f(a.json);
    f << j.dump(2) << "\n";
    if (!f) return absl::InternalError(a.json + ": write failed");
  }
  return absl::OkStatus();
}

}  // namespace cairn
