// The hnswlib space every hnswlib graph here uses (the head index and the
// hnswlib benchmark adapter): its distance is one of our dispatched kernels
// (Kernels()), so graph search runs with this build's flags and runtime SIMD
// dispatch rather than what hnswlib's headers pick at compile time.
// Distances follow head_index.h: squared L2 for L2, -dot for inner product
// and cosine (cosine rows normalised by the caller).
//
// hnswlib 0.6.2's headers define non-inline functions and variables (CPU
// feature probes, SIMD dispatch pointers), so only one translation unit of a
// program may include them as they are (index/spann/head_index.cc); another
// (bench/hnsw_method.cc) includes <hnswlib/hnswlib.h> first under renamed
// symbols, and this header's include is then a no-op (#pragma once).
//
// Thread-safety: immutable after construction; the distance functions may
// run on many threads at once.
#ifndef CAIRN_INDEX_SPANN_HNSW_SPACE_H_
#define CAIRN_INDEX_SPANN_HNSW_SPACE_H_

#include <hnswlib/hnswlib.h>

#include <cstddef>
#include <cstdint>

#include "kernels/distance.h"
#include "kernels/metric.h"

namespace cairn {

class HnswKernelSpace : public hnswlib::SpaceInterface<float> {
 public:
  // count_distances: every distance computed adds one to the calling
  // thread's ThreadDistanceCount(), exact where hnswlib's own
  // metric_distance_computations adds whole neighbour lists.
  HnswKernelSpace(size_t dim, Metric metric, bool count_distances = false)
      : param_{metric == Metric::kL2 ? Kernels().l2_f32 : Kernels().dot_f32, dim},
        func_(metric == Metric::kL2 ? (count_distances ? &CountedKernel : &Kernel)
                                    : (count_distances ? &CountedNegKernel : &NegKernel)) {}

  size_t get_data_size() override { return param_.dim * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return func_; }
  void* get_dist_func_param() override { return &param_; }

  // Distances counted on this thread by counting spaces. A thread_local keeps
  // the count off shared cache lines.
  static uint64_t ThreadDistanceCount() { return thread_distance_count_; }

 private:
  struct Param {
    F32Kernel kernel;
    size_t dim;
  };

  // The kernel's value: squared L2, or dot for the other metrics.
  static float Kernel(const void* a, const void* b, const void* param) {
    const auto* p = static_cast<const Param*>(param);
    return p->kernel(static_cast<const float*>(a), static_cast<const float*>(b), p->dim);
  }
  static float NegKernel(const void* a, const void* b, const void* param) {
    return -Kernel(a, b, param);
  }
  static float CountedKernel(const void* a, const void* b, const void* param) {
    ++thread_distance_count_;
    return Kernel(a, b, param);
  }
  static float CountedNegKernel(const void* a, const void* b, const void* param) {
    ++thread_distance_count_;
    return -Kernel(a, b, param);
  }

  static inline thread_local uint64_t thread_distance_count_ = 0;
  Param param_;
  hnswlib::DISTFUNC<float> func_;
};

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_HNSW_SPACE_H_
