// Entry points of the per-ISA kernel tables, for the dispatcher (distance.cc)
// only; everyone else goes through Kernels() / KernelsFor() in distance.h.
//
// Each table lives in its own translation unit compiled with that level's ISA
// flags. Calling into a table the CPU cannot run raises SIGILL, so the
// dispatcher checks CpuSimdLevel() before handing one out.
//
// Rule for the ISA translation units (distance_avx2.cc, distance_avx512.cc):
// they must not odr-use any inline function from a shared header (std::min,
// std::string, absl, ...). Such a function would be emitted there as a weak
// COMDAT copy compiled with AVX flags, and the linker may keep that copy for
// the whole program, so baseline code would run AVX instructions on a CPU
// without them. Only intrinsics (always inlined) and functions with internal
// linkage are used there. (They still include distance.h, whose absl
// includes pull in <iostream>; the static initialiser that adds to each ISA
// object only calls std::ios_base::Init and contains no vector code.)
#ifndef CAIRN_KERNELS_DISTANCE_INTERNAL_H_
#define CAIRN_KERNELS_DISTANCE_INTERNAL_H_

#include "kernels/distance.h"

namespace cairn::distance_internal {

// Always available; the reference the SIMD kernels are tested against.
const DistanceKernels* GetScalarKernels();
// Safe to call on any CPU (returns a static table), but the kernels in it need
// AVX2+FMA, resp. AVX-512 F/BW/VL/DQ.
const DistanceKernels* GetAvx2Kernels();
const DistanceKernels* GetAvx512Kernels();

}  // namespace cairn::distance_internal

#endif  // CAIRN_KERNELS_DISTANCE_INTERNAL_H_
