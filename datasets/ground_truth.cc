#include "datasets/ground_truth.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "datasets/vector_file.h"
#include "kernels/distance.h"
#include "storage/env.h"

namespace cairn {
namespace {

struct Candidate {
  float dist;
  int32_t id;
  // Max-heap order: the worst candidate (largest distance, then largest id)
  // on top, so ties keep the smaller id.
  bool operator<(const Candidate& o) const {
    return dist < o.dist || (dist == o.dist && id < o.id);
  }
};

// Exact distance, matching index/metric.h (cosine vectors are pre-normalised,
// so its distance is 1 - dot).
float ExactDistance(Metric metric, const float* q, const float* x, size_t dim) {
  const DistanceKernels& k = Kernels();
  switch (metric) {
    case Metric::kL2:
      return k.l2_f32(q, x, dim);
    case Metric::kInnerProduct:
      return -k.dot_f32(q, x, dim);
    case Metric::kCosine:
      return 1.0f - k.dot_f32(q, x, dim);
  }
  return 0;
}

template <typename Fn>
void ParallelFor(int threads, size_t n, Fn fn) {
  if (threads <= 1 || n < 2) {
    fn(0, n);
    return;
  }
  std::vector<std::thread> pool;
  size_t per = (n + threads - 1) / threads;
  for (int t = 0; t < threads; ++t) {
    size_t b = t * per, e = std::min(n, b + per);
    if (b >= e) break;
    pool.emplace_back([=, &fn] { fn(b, e); });
  }
  for (auto& th : pool) th.join();
}

}  // namespace

absl::StatusOr<GroundTruth> ReadGroundTruth(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::fseek(f, 0, SEEK_END);
  const uint64_t size = static_cast<uint64_t>(std::ftell(f));
  std::fseek(f, 0, SEEK_SET);
  GroundTruth gt;
  auto close = [&] { std::fclose(f); };
  if (path.size() >= 6 && path.substr(path.size() - 6) == ".ivecs") {
    std::fclose(f);
    auto reader = VectorReader::Open(path, VectorFormat::kIvecs);
    if (!reader.ok()) return reader.status();
    gt.num_queries = static_cast<uint32_t>((*reader)->info().num_vectors);
    gt.k = (*reader)->info().dim;
    std::vector<int32_t> raw(static_cast<size_t>(gt.num_queries) * gt.k);
    auto got = (*reader)->ReadRaw(gt.num_queries, raw.data());
    if (!got.ok()) return got.status();
    gt.ids = std::move(raw);
    return gt;
  }
  int32_t header[2];
  if (size < 8 || std::fread(header, 4, 2, f) != 2) {
    close();
    return absl::InvalidArgumentError(absl::StrCat(path, ": truncated ground-truth header"));
  }
  if (header[0] < 0 || header[1] <= 0) {
    close();
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": invalid ground-truth header n=", header[0], " k=", header[1]));
  }
  gt.num_queries = header[0];
  gt.k = header[1];
  const uint64_t cells = static_cast<uint64_t>(gt.num_queries) * gt.k;
  const uint64_t with_dists = 8 + cells * 8, ids_only = 8 + cells * 4;
  if (size != with_dists && size != ids_only) {
    close();
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": header says ", gt.num_queries, " queries x k=", gt.k, " (",
                     with_dists, " bytes) but the file has ", size, " bytes (truncated?)"));
  }
  gt.ids.resize(cells);
  if (std::fread(gt.ids.data(), 4, cells, f) != cells) {
    close();
    return absl::DataLossError(absl::StrCat(path, ": short read of ids"));
  }
  if (size == with_dists) {
    gt.distances.resize(cells);
    if (std::fread(gt.distances.data(), 4, cells, f) != cells) {
      close();
      return absl::DataLossError(absl::StrCat(path, ": short read of distances"));
    }
  }
  close();
  for (uint64_t i = 0; i < cells; ++i) {
    if (gt.ids[i] < -1) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": query ", i / gt.k, " neighbour ",
                                                     i % gt.k, ": invalid id ", gt.ids[i]));
    }
  }
  return gt;
}

absl::Status WriteGroundTruth(const std::string& path, const GroundTruth& gt) {
  const uint64_t cells = static_cast<uint64_t>(gt.num_queries) * gt.k;
  if (gt.ids.size() != cells || (!gt.distances.empty() && gt.distances.size() != cells)) {
    return absl::InvalidArgumentError(path + ": ground truth arrays do not match n*k");
  }
  // Straight from the arrays: the file is never assembled in memory.
  return WriteFileAtomically(Env::Default(), path, [&](WritableFile* file) -> absl::Status {
    int32_t header[2] = {static_cast<int32_t>(gt.num_queries), static_cast<int32_t>(gt.k)};
    CAIRN_RETURN_IF_ERROR(file->Append(header, sizeof(header)));
    CAIRN_RETURN_IF_ERROR(file->Append(gt.ids.data(), 4 * cells));
    if (gt.distances.empty()) return absl::OkStatus();
    return file->Append(gt.distances.data(), 4 * cells);
  });
}

absl::StatusOr<GroundTruth> ComputeGroundTruth(const std::string& base_path,
                                               const std::string& query_path,
                                               const GroundTruthOptions& options) {
  if (options.k == 0) return absl::InvalidArgumentError("k must be positive");
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix queries, ReadFloatMatrix(query_path));
  CAIRN_ASSIGN_OR_RETURN(auto base, VectorReader::Open(base_path));
  const uint32_t dim = base->info().dim;
  const uint64_t nb = base->info().num_vectors;
  const size_t nq = queries.rows;
  if (queries.dim != dim) {
    return absl::InvalidArgumentError(absl::StrCat(query_path, ": dimension ", queries.dim,
                                                   " differs from the base's ", dim, " (",
                                                   base_path, ")"));
  }
  if (nb > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return absl::InvalidArgumentError(base_path + ": more than 2^31-1 vectors do not fit int32 ids");
  }
  const Metric metric = options.metric;
  if (metric == Metric::kCosine) {
    for (size_t i = 0; i < nq; ++i) Normalize(queries.row(i), dim);
  }
  const int threads =
      options.threads > 0 ? options.threads : std::max(1, (int)std::thread::hardware_concurrency());
  openblas_set_num_threads(threads);

  // Query tile x base block of GEMM scores. Budget covers the base block, the
  // score tile and the per-query heaps.
  const size_t q_tile = std::min<size_t>(nq, 2048);
  const uint64_t heap_bytes = static_cast<uint64_t>(nq) * options.k * sizeof(Candidate);
  const uint64_t budget =
      options.memory_budget_bytes > heap_bytes ? options.memory_budget_bytes - heap_bytes : 0;
  size_t block = static_cast<size_t>(budget / (4ull * (dim + q_tile + 1)));
  block = std::clamp<size_t>(block, 256, 1u << 16);

  std::vector<float> xb(block * dim), xnorm(block), qnorm(nq), scores(q_tile * block);
  for (size_t i = 0; i < nq; ++i) qnorm[i] = SquaredNorm(queries.row(i), dim);
  std::vector<std::vector<Candidate>> heaps(nq);
  for (auto& h : heaps) h.reserve(options.k + 1);

  Progress progress("ground truth", nb, "base vectors", options.progress);
  uint64_t block_start = 0;
  while (block_start < nb) {
    CAIRN_ASSIGN_OR_RETURN(size_t rows, base->ReadFloat(block, xb.data()));
    if (rows == 0) break;
    if (metric == Metric::kCosine) {
      for (size_t j = 0; j < rows; ++j) Normalize(xb.data() + j * dim, dim);
    }
    for (size_t j = 0; j < rows; ++j) xnorm[j] = SquaredNorm(xb.data() + j * dim, dim);
    for (size_t q0 = 0; q0 < nq; q0 += q_tile) {
      const size_t qn = std::min(q_tile, nq - q0);
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qn, (int)rows, (int)dim, 1.0f,
                  queries.row(q0), (int)dim, xb.data(), (int)dim, 0.0f, scores.data(),
                  (int)rows);
      // The GEMM value only filters: a candidate within the rounding bound of
      // the current k-th distance is rescored exactly with the kernel, so the
      // result equals brute force with the same kernel.
      ParallelFor(threads, qn, [&](size_t b, size_t e) {
        for (size_t qi = b; qi < e; ++qi) {
          const size_t q = q0 + qi;
          auto& heap = heaps[q];
          const float* s = scores.data() + qi * rows;
          const float* qv = queries.row(q);
          for (size_t j = 0; j < rows; ++j) {
            float approx, tol;
            if (metric == Metric::kL2) {
              approx = qnorm[q] + xnorm[j] - 2.0f * s[j];
              tol = 1e-4f * (qnorm[q] + xnorm[j]) + 1e-6f;
            } else {
              approx = (metric == Metric::kCosine ? 1.0f : 0.0f) - s[j];
              tol = 1e-4f * std::sqrt(qnorm[q] * xnorm[j]) + 1e-6f;
            }
            if (heap.size() >= options.k && approx - tol > heap.front().dist) continue;
            Candidate c{ExactDistance(metric, qv, xb.data() + j * dim, dim),
                        static_cast<int32_t>(block_start + j)};
            if (heap.size() < options.k) {
              heap.push_back(c);
              std::push_heap(heap.begin(), heap.end());
            } else if (c < heap.front()) {
              std::pop_heap(heap.begin(), heap.end());
              heap.back() = c;
              std::push_heap(heap.begin(), heap.end());
            }
          }
        }
      });
    }
    block_start += rows;
    progress.Add(rows);
  }
  progress.Finish();

  GroundTruth gt;
  gt.num_queries = static_cast<uint32_t>(nq);
  gt.k = options.k;
  gt.ids.assign(static_cast<size_t>(nq) * options.k, -1);
  gt.distances.assign(static_cast<size_t>(nq) * options.k,
                      std::numeric_limits<float>::infinity());
  for (size_t q = 0; q < nq; ++q) {
    auto& heap = heaps[q];
    std::sort_heap(heap.begin(), heap.end());
    for (size_t i = 0; i < heap.size(); ++i) {
      gt.ids[q * options.k + i] = heap[i].id;
      gt.distances[q * options.k + i] = heap[i].dist;
    }
  }
  return gt;
}

double RecallAtK(const GroundTruth& gt, const std::vector<int64_t>& result_ids,
                 uint32_t result_k, uint32_t k) {
  if (gt.num_queries == 0 || k == 0) return 0;
  k = std::min({k, gt.k, result_k});
  const size_t nq = std::min<size_t>(gt.num_queries, result_ids.size() / result_k);
  double total = 0;
  std::vector<int32_t> truth;
  for (size_t q = 0; q < nq; ++q) {
    truth.assign(gt.row(q), gt.row(q) + k);
    std::sort(truth.begin(), truth.end());
    size_t valid = std::count_if(truth.begin(), truth.end(), [](int32_t v) { return v >= 0; });
    if (valid == 0) {
      total += 1.0;
      continue;
    }
    size_t hits = 0;
    for (uint32_t i = 0; i < k; ++i) {
      int64_t id = result_ids[q * result_k + i];
      if (id >= 0 && std::binary_search(truth.begin(), truth.end(), static_cast<int32_t>(id))) {
        ++hits;
      }
    }
    total += static_cast<double>(hits) / valid;
  }
  return nq ? total / nq : 0;
}

}  // namespace cairn
