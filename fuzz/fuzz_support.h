// What the fuzz targets share: a per-process scratch directory for readers
// that take a path, checksum fix-ups so that mutated files get past the
// checksums and into the parsers behind them, and an API fixture (a
// CollectionManager with one small collection) for the request targets.
//
// Every target is single-threaded from libFuzzer's side; none of this is
// thread-safe, and none of it needs to be.
#ifndef CAIRN_FUZZ_FUZZ_SUPPORT_H_
#define CAIRN_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/qdrant_api.h"

namespace cairn::fuzz {

// A directory private to this process, on tmpfs when there is one (a file
// write per execution stays cheap), removed at exit.
const std::string& ScratchDir();

// Replaces ScratchDir()/name with `bytes` and returns its path. Aborts on an
// IO error: the harness failing is not a finding.
std::string WriteScratch(const std::string& name, std::string_view bytes);

// Rewrites the checksum of storage/file_header.h's 32-byte header (bytes
// [24, 32) hash [0, 24)) when `bytes` is long enough to hold one.
void SealFileHeader(std::string* bytes);

// Walks storage/record_frame.h frames from `offset` and rewrites the
// checksum of every frame whose declared length fits in `bytes`; stops at
// the first that does not.
void SealFrames(std::string* bytes, size_t offset);

// The bytes as a string, without the first `skip` (used by targets whose
// first byte picks a mode).
inline std::string_view Rest(const uint8_t* data, size_t size, size_t skip = 1) {
  if (size <= skip) return {};
  return std::string_view(reinterpret_cast<const char*>(data) + skip, size - skip);
}

// A CollectionManager over ScratchDir()/api with collection "c" (4
// dimensions, cosine, unsynced writes) holding a few points with payloads,
// and a QdrantApi over it without auth. Requests may write: the whole
// directory is recreated every kRunsPerReset calls of Handle so that state
// stays small and a finding replays from a fresh collection within that
// many inputs.
class ApiFixture {
 public:
  static ApiFixture& Get();
  HttpResponse Handle(const HttpRequest& request);
  // A request as the HTTP layer would build it for `target`.
  HttpResponse Call(std::string_view method, std::string_view target, std::string body);

  static constexpr int kRunsPerReset = 2000;

  // Checks what every answer must satisfy and aborts (a finding) if not: no
  // 500 (a request's fault is a 4xx; nothing here fails underneath), and a
  // JSON body that parses.
  static void CheckResponse(const HttpResponse& response);

 private:
  ApiFixture() = default;
  void Reset();

  std::unique_ptr<QdrantApi> api_;
  std::unique_ptr<CollectionManager> collections_;
  Metrics metrics_;
  int runs_ = 0;
};

// One route of a JSON target: the input's first byte picks the route
// (modulo the number of routes) and the rest is the body.
struct JsonRoute {
  std::string_view method;
  std::string_view target;
};
void CallJsonRoute(std::span<const JsonRoute> routes, const uint8_t* data, size_t size);

}  // namespace cairn::fuzz

#endif  // CAIRN_FUZZ_FUZZ_SUPPORT_H_
