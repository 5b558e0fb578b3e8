// Raw bytes as a connection receives them: Beast's request parser with the
// server's limits (ParseHttpRequest, the conversion every connection uses),
// then the router, auth, and every handler of QdrantApi::Handle over a small
// collection. A request the parser rejects is answered 400 by the server, so
// it ends here.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // A small limit keeps the 413 path reachable.
  constexpr uint64_t kBodyLimit = 64 * 1024;
  absl::StatusOr<cairn::HttpRequest> request = cairn::ParseHttpRequest(
      std::string_view(reinterpret_cast<const char*>(data), size), kBodyLimit);
  if (!request.ok()) return 0;
  cairn::fuzz::ApiFixture::CheckResponse(cairn::fuzz::ApiFixture::Get().Handle(*request));
  return 0;
}
