// Scroll and count bodies (server/qdrant_points.cc: offsets as point ids,
// limits, selectors, filters) through QdrantApi::Handle on a small
// collection. The first byte picks the route, the rest is the JSON body.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"

namespace {

constexpr cairn::fuzz::JsonRoute kRoutes[] = {
    {"POST", "/collections/c/points/scroll"},  // '0'
    {"POST", "/collections/c/points/count"},   // '1'
};
static_assert(48 % std::size(kRoutes) == 0, "seed files pick routes with '0', '1', ...");

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::fuzz::CallJsonRoute(kRoutes, data, size);
  return 0;
}
