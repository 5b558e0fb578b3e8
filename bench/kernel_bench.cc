#include "bench/kernel_bench.h"

#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/summary.h"
#include "kernels/distance.h"
#include "nlohmann/json.hpp"

namespace cairn {
namespace {

// "cache" fits the L2 of every x86 core we target (>= 256 KiB); "memory" is
// far beyond any last-level cache, so its scans stream from DRAM.
constexpr size_t kCacheBytes = size_t{256} << 10;
constexpr size_t kMemoryBytes = size_t{256} << 20;
constexpr uint32_t kMaxDim = uint32_t{1} << 20;  // 4 MiB per f32 vector.
constexpr double kMaxSecondsPerCase = 60.0;

constexpr SimdLevel kAllLevels[] = {SimdLevel::kScalar, SimdLevel::kAvx2,
                                    SimdLevel::kAvx512};

struct Footprint {
  const char* name;
  size_t bytes;
  // Whether a case continues where the previous one stopped (see
  // MeasureCase); pointless for the cache footprint, which is all resident.
  bool resume_position;
};
constexpr Footprint kFootprints[] = {{"cache", kCacheBytes, false},
                                     {"memory", kMemoryBytes, true}};

enum class KernelId {
  kL2F32,
  kDotF32,
  kL2U8,
  kDotU8,
  kL2I8,
  kDotI8,
  kL2F32U8,
  kDotF32U8,
  kL2F32I8,
  kDotF32I8,
};

struct KernelSpec {
  KernelId id;
  const char* name;
  // Bytes per element of a database vector (the mixed kernels' float query
  // is not counted, like every query).
  size_t element_bytes;
};
constexpr KernelSpec kKernelSpecs[] = {
    {KernelId::kL2F32, "l2_f32", 4},
    {KernelId::kDotF32, "dot_f32", 4},
    {KernelId::kL2U8, "l2_u8", 1},
    {KernelId::kDotU8, "dot_u8", 1},
    {KernelId::kL2I8, "l2_i8", 1},
    {KernelId::kDotI8, "dot_i8", 1},
    {KernelId::kL2F32U8, "l2_f32_u8", 1},
    {KernelId::kDotF32U8, "dot_f32_u8", 1},
    {KernelId::kL2F32I8, "l2_f32_i8", 1},
    {KernelId::kDotF32I8, "dot_f32_i8", 1},
};
// Wide enough for the longest kernel name plus a space.
constexpr size_t kKernelColumnWidth = 12;

// Every kernel result is summed and stored here, so the compiler must keep
// every call even if it could see through the function pointers.
volatile float g_sink = 0.0f;

// splitmix64: fast, and good enough to make data that is not all alike.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // Multiples of 2^-23 in [-1, 1): never denormal, which would slow the
  // scalar float path and distort the comparison.
  float NextFloat() {
    const int32_t m = static_cast<int32_t>(Next() >> 40) - (1 << 23);
    return static_cast<float>(m) * (1.0f / (1 << 23));
  }

 private:
  uint64_t state_;
};

struct Queries {
  std::vector<float> f32;
  std::vector<uint8_t> u8;
  std::vector<int8_t> i8;
};

Queries MakeQueries(size_t dim, uint64_t seed) {
  Rng rng(seed);
  Queries q;
  q.f32.resize(dim);
  q.u8.resize(dim);
  q.i8.resize(dim);
  for (size_t i = 0; i < dim; ++i) {
    q.f32[i] = rng.NextFloat();
    const uint64_t r = rng.Next();
    q.u8[i] = static_cast<uint8_t>(r);
    q.i8[i] = static_cast<int8_t>(static_cast<uint8_t>(r >> 8));
  }
  return q;
}

// Scores the query against vectors [first, first + count) of a packed array
// of T (Q = T, or float for the mixed kernels).
template <typename Q, typename T>
float ScanVectors(float (*kernel)(const Q*, const T*, size_t), const Q* query,
                  const std::byte* db, size_t first, size_t count, size_t dim) {
  const size_t stride = dim * sizeof(T);
  const std::byte* v = db + first * stride;
  float sum = 0.0f;
  for (size_t i = 0; i < count; ++i, v += stride) {
    sum += kernel(query, reinterpret_cast<const T*>(v), dim);
  }
  return sum;
}

float ScanBatch(const DistanceKernels& k, KernelId id, const Queries& q,
                const std::byte* db, size_t first, size_t count, size_t dim) {
  switch (id) {
    case KernelId::kL2F32:
      return ScanVectors(k.l2_f32, q.f32.data(), db, first, count, dim);
    case KernelId::kDotF32:
      return ScanVectors(k.dot_f32, q.f32.data(), db, first, count, dim);
    case KernelId::kL2U8:
      return ScanVectors(k.l2_u8, q.u8.data(), db, first, count, dim);
    case KernelId::kDotU8:
      return ScanVectors(k.dot_u8, q.u8.data(), db, first, count, dim);
    case KernelId::kL2I8:
      return ScanVectors(k.l2_i8, q.i8.data(), db, first, count, dim);
    case KernelId::kDotI8:
      return ScanVectors(k.dot_i8, q.i8.data(), db, first, count, dim);
    case KernelId::kL2F32U8:
      return ScanVectors(k.l2_f32_u8, q.f32.data(), db, first, count, dim);
    case KernelId::kDotF32U8:
      return ScanVectors(k.dot_f32_u8, q.f32.data(), db, first, count, dim);
    case KernelId::kL2F32I8:
      return ScanVectors(k.l2_f32_i8, q.f32.data(), db, first, count, dim);
    case KernelId::kDotF32I8:
      return ScanVectors(k.dot_f32_i8, q.f32.data(), db, first, count, dim);
  }
  return 0.0f;
}

struct CaseResult {
  std::string footprint;
  size_t footprint_bytes = 0;
  std::string kernel;
  uint32_t dim = 0;
  SimdLevel level = SimdLevel::kScalar;
  double gb_per_s = 0.0;
  double vectors_per_s = 0.0;
  double speedup_vs_scalar = 0.0;
};

// Scans the footprint's vectors round-robin for `seconds` after one warm-up
// batch. `cursor_bytes` carries the scan position between memory cases, so
// each continues where the last one stopped: on the data touched least
// recently, which is surely not in cache.
CaseResult MeasureCase(const DistanceKernels& k, const KernelSpec& spec,
                       const Queries& q, const std::byte* db,
                       const Footprint& footprint, uint32_t dim, double seconds,
                       size_t* cursor_bytes) {
  const size_t vector_bytes = size_t{dim} * spec.element_bytes;
  const size_t n =
      footprint.bytes / vector_bytes > 0 ? footprint.bytes / vector_bytes : 1;
  // About 256 KiB between clock reads: cheap next to the scan, and fine
  // grained enough to stop close to `seconds`.
  size_t batch = kCacheBytes / vector_bytes;
  if (batch == 0) batch = 1;
  if (batch > n) batch = n;

  size_t cursor = (*cursor_bytes / vector_bytes) % n;
  float sum = 0.0f;
  auto scan_next = [&]() -> size_t {
    const size_t count = n - cursor < batch ? n - cursor : batch;
    sum += ScanBatch(k, spec.id, q, db, cursor, count, dim);
    cursor = cursor + count == n ? 0 : cursor + count;
    return count;
  };

  scan_next();  // Warm-up: pulls the cache footprint into L2.
  using Clock = std::chrono::steady_clock;
  const Clock::time_point start = Clock::now();
  uint64_t vectors = 0;
  double elapsed = 0.0;
  do {
    vectors += scan_next();
    elapsed = Nanos(start, Clock::now()) / 1e9;
  } while (elapsed < seconds);
  g_sink = g_sink + sum;
  *cursor_bytes = cursor * vector_bytes;

  CaseResult r;
  r.footprint = footprint.name;
  r.footprint_bytes = n * vector_bytes;
  r.kernel = spec.name;
  r.dim = dim;
  r.level = k.level;
  r.vectors_per_s = static_cast<double>(vectors) / elapsed;
  r.gb_per_s = r.vectors_per_s * static_cast<double>(vector_bytes) / 1e9;
  return r;
}

std::string Fixed(double value, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, value);
  return buf;
}

std::string PadRight(std::string s, size_t width) {
  if (s.size() < width) s.append(width - s.size(), ' ');
  return s;
}

std::string PadLeft(const std::string& s, size_t width) {
  return s.size() < width ? std::string(width - s.size(), ' ') + s : s;
}

constexpr size_t kLevelColumnWidth = 18;

}  // namespace

absl::Status KernelBenchOptions::Validate() const {
  if (dims.empty()) {
    return absl::InvalidArgumentError("kernel bench: no dims given");
  }
  for (uint32_t dim : dims) {
    if (dim == 0 || dim > kMaxDim) {
      return absl::InvalidArgumentError(absl::StrCat(
          "kernel bench: dim ", dim, " out of range [1, ", kMaxDim, "]"));
    }
  }
  if (!std::isfinite(seconds_per_case) || seconds_per_case <= 0.0 ||
      seconds_per_case > kMaxSecondsPerCase) {
    return absl::InvalidArgumentError(
        absl::StrCat("kernel bench: seconds per case must be in (0, ",
                     kMaxSecondsPerCase, "], got ", seconds_per_case));
  }
  return absl::OkStatus();
}

absl::Status RunKernelBench(const KernelBenchOptions& opts, std::ostream& out,
                            nlohmann::json* json) {
  if (absl::Status s = opts.Validate(); !s.ok()) return s;

  std::vector<const DistanceKernels*> levels;
  for (SimdLevel level : kAllLevels) {
    if (const DistanceKernels* k = KernelsFor(level); k != nullptr) {
      levels.push_back(k);
    }
  }

  // One buffer serves every case: filled with floats, it is equally valid as
  // u8 or i8 data (any byte is), and the cache footprint is its prefix.
  struct FreeDeleter {
    void operator()(void* p) const { std::free(p); }
  };
  std::unique_ptr<std::byte, FreeDeleter> buffer(
      static_cast<std::byte*>(std::aligned_alloc(64, kMemoryBytes)));
  if (buffer == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "kernel bench: cannot allocate ", kMemoryBytes >> 20, " MiB"));
  }
  {
    Rng rng(0x6361697);
    float* f = reinterpret_cast<float*>(buffer.get());
    for (size_t i = 0; i < kMemoryBytes / sizeof(float); ++i) {
      f[i] = rng.NextFloat();
    }
  }

  const size_t cases = std::size(kFootprints) * opts.dims.size() *
                       std::size(kKernelSpecs) * levels.size();
  out << "Distance kernels: GB/s of database vectors streamed against one "
         "query (query not counted)\n"
      << "cpu level " << SimdLevelName(CpuSimdLevel()) << ", dispatch picks "
      << SimdLevelName(Kernels().level) << "; cache = " << (kCacheBytes >> 10)
      << " KiB of vectors (stays in L2), memory = " << (kMemoryBytes >> 20)
      << " MiB (streams from DRAM)\n"
      << cases << " cases x " << opts.seconds_per_case
      << " s; speedup is against scalar on the same row\n\n";

  std::string header = PadRight("footprint", 11) +
                       PadRight("kernel", kKernelColumnWidth) +
                       PadLeft("dim", 6);
  for (const DistanceKernels* k : levels) {
    header += PadLeft(std::string(SimdLevelName(k->level)), kLevelColumnWidth);
  }
  out << header << "\n" << std::string(header.size(), '-') << "\n";

  std::vector<CaseResult> results;
  const auto run_start = std::chrono::steady_clock::now();
  size_t memory_cursor_bytes = 0;
  for (const Footprint& footprint : kFootprints) {
    for (uint32_t dim : opts.dims) {
      const Queries q = MakeQueries(dim, 1000 + dim);
      for (const KernelSpec& spec : kKernelSpecs) {
        std::string line = PadRight(footprint.name, 11) +
                           PadRight(spec.name, kKernelColumnWidth) +
                           PadLeft(std::to_string(dim), 6);
        double scalar_gb_per_s = 0.0;
        for (const DistanceKernels* k : levels) {
          size_t fresh_cursor_bytes = 0;
          size_t* cursor = footprint.resume_position ? &memory_cursor_bytes
                                                     : &fresh_cursor_bytes;
          CaseResult r = MeasureCase(*k, spec, q, buffer.get(), footprint, dim,
                                     opts.seconds_per_case, cursor);
          if (k->level == SimdLevel::kScalar) scalar_gb_per_s = r.gb_per_s;
          r.speedup_vs_scalar =
              scalar_gb_per_s > 0.0 ? r.gb_per_s / scalar_gb_per_s : 0.0;
          std::string cell = Fixed(r.gb_per_s, 2);
          if (k->level != SimdLevel::kScalar) {
            cell += " (" + Fixed(r.speedup_vs_scalar, 1) + "x)";
          }
          line += PadLeft(cell, kLevelColumnWidth);
          results.push_back(std::move(r));
        }
        out << line << "\n" << std::flush;
      }
    }
  }
  const double total_seconds = Nanos(run_start, std::chrono::steady_clock::now()) / 1e9;
  out << "\n"
      << results.size() << " cases in " << Fixed(total_seconds, 1) << " s\n";

  if (json != nullptr) {
    nlohmann::json rows = nlohmann::json::array();
    for (const CaseResult& r : results) {
      rows.push_back({{"footprint", r.footprint},
                      {"footprint_bytes", r.footprint_bytes},
                      {"kernel", r.kernel},
                      {"dim", r.dim},
                      {"level", std::string(SimdLevelName(r.level))},
                      {"gb_per_s", r.gb_per_s},
                      {"vectors_per_s", r.vectors_per_s},
                      {"speedup_vs_scalar", r.speedup_vs_scalar}});
    }
    *json = {
        {"benchmark", "kernels"},
        {"cpu_simd_level", std::string(SimdLevelName(CpuSimdLevel()))},
        {"dispatch_simd_level", std::string(SimdLevelName(Kernels().level))},
        {"seconds_per_case", opts.seconds_per_case},
        {"cache_bytes", kCacheBytes},
        {"memory_bytes", kMemoryBytes},
        {"total_seconds", total_seconds},
        {"results", std::move(rows)}};
  }
  return absl::OkStatus();
}

}  // namespace cairn
