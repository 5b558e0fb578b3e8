// The body of PUT /collections/{name} (ParseCollectionConfig) and collection
// names, without creating anything: a create writes a whole collection, far
// too slow per execution; the HTTP target covers the route itself.
#include <cstddef>
#include <cstdint>
#include <string>

#include "server/api_json.h"
#include "server/collection_manager.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  // The name: up to the first newline; the body: the rest.
  const size_t nl = bytes.find('\n');
  const std::string name = bytes.substr(0, nl);
  (void)cairn::CollectionManager::ValidateName(name);
  absl::StatusOr<cairn::Json> body =
      cairn::ParseBody(nl == std::string::npos ? std::string() : bytes.substr(nl + 1));
  if (!body.ok()) return 0;
  try {
    (void)cairn::ParseCollectionConfig(*body);
  } catch (const cairn::Json::exception&) {
    // QdrantApi::Handle turns these into 400: not a crash, but note it.
  }
  return 0;
}
