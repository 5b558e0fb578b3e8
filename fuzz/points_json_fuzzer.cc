// The point write and read bodies (server/qdrant_points.cc, point ids from
// server/point_id.cc) through QdrantApi::Handle on a small collection. The
// first byte picks the route, the rest is the JSON body.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"

namespace {

constexpr cairn::fuzz::JsonRoute kRoutes[] = {
    {"PUT", "/collections/c/points?wait=true"},        // '0': upsert
    {"POST", "/collections/c/points"},                 // '1': retrieve
    {"POST", "/collections/c/points/delete"},          // '2'
    {"POST", "/collections/c/points/payload"},         // '3': set payload
    {"PUT", "/collections/c/points/payload"},          // '4': overwrite payload
    {"POST", "/collections/c/points/payload/delete"},  // '5': delete keys
    {"POST", "/collections/c/points/payload/clear"},   // '6'
    {"PUT", "/collections/c/index"},                   // '7': payload index
};
static_assert(48 % std::size(kRoutes) == 0, "seed files pick routes with '0', '1', ...");

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cairn::fuzz::CallJsonRoute(kRoutes, data, size);
  return 0;
}
