#include "fuzz/fuzz_support.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "index/live/id_map.h"
#include "server/collection.h"
#include "storage/checksum.h"
#include "storage/coding.h"
#include "storage/record_frame.h"

namespace cairn::fuzz {

namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "fuzz harness: %s\n", what.c_str());
  std::abort();
}

void RemoveScratch() {
  std::error_code ec;
  std::filesystem::remove_all(ScratchDir(), ec);
}

}  // namespace

const std::string& ScratchDir() {
  static const std::string* dir = [] {
    const char* base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
    std::string pattern = std::string(base) + "/cairn-fuzz-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) Die("mkdtemp failed");
    auto* d = new std::string(pattern);
    std::atexit(RemoveScratch);
    return d;
  }();
  return *dir;
}

std::string WriteScratch(const std::string& name, std::string_view bytes) {
  const std::string path = ScratchDir() + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) Die("cannot write " + path);
  const bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  if (std::fclose(f) != 0 || !ok) Die("cannot write " + path);
  return path;
}

void SealFileHeader(std::string* bytes) {
  if (bytes->size() < 32) return;
  auto* p = reinterpret_cast<uint8_t*>(bytes->data());
  EncodeFixed64(p + 24, Checksum64(p, 24));
}

void SealFrames(std::string* bytes, size_t offset) {
  auto* p = reinterpret_cast<uint8_t*>(bytes->data());
  while (offset + kFrameOverheadBytes <= bytes->size()) {
    const uint64_t body = DecodeFixed32(p + offset);
    if (body > bytes->size() - offset - kFrameOverheadBytes) return;
    SealFrame(p + offset, static_cast<uint32_t>(body));
    offset += kFrameOverheadBytes + body;
  }
}

ApiFixture& ApiFixture::Get() {
  static ApiFixture* fixture = new ApiFixture();
  return *fixture;
}

void ApiFixture::Reset() {
  // The API first: it points into the manager.
  api_.reset();
  collections_.reset();
  const std::string dir = ScratchDir() + "/api";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  auto manager = CollectionManager::Open(dir);
  if (!manager.ok()) Die(manager.status().ToString());
  collections_ = std::move(*manager);
  CollectionConfig config;
  config.size = 4;
  config.distance = VectorDistance::kCosine;
  config.sync_writes = false;  // no fsync per execution
  // A sparse vector with the idf modifier, so that sparse, hybrid and
  // fusion queries reach their code.
  config.sparse_vectors = {{"s", SparseModifier::kIdf}};
  if (auto s = collections_->Create("c", config); !s.ok()) Die(s.ToString());
  std::vector<PointData> points;
  for (uint64_t i = 1; i <= 6; ++i) {
    PointData p;
    p.id = ExternalId::Number(i);
    p.vector = {1.0f * i, 2.0f, -1.0f, 0.5f * i};
    p.payload = {{"city", i % 2 ? "Paris" : "Oslo"},
                 {"n", i},
                 {"tags", {"a", i % 3 ? "b" : "c"}},
                 {"nested", {{"x", {{"y", i}}}}}};
    if (i % 3 != 0) p.sparse["s"] = SparseVector{{0, uint32_t(10 + i), 100}, {0.5f, 1.0f * i, 2.0f}};
    points.push_back(std::move(p));
  }
  PointData named;
  named.id = *ExternalId::String("seven");
  named.vector = {0.0f, 1.0f, 0.0f, 0.0f};
  named.payload = {{"when", "2024-01-02T03:04:05Z"}, {"empty", nlohmann::json::array()}};
  points.push_back(std::move(named));
  if (auto s = collections_->Get("c")->Upsert(std::move(points)); !s.ok()) Die(s.ToString());
  api_ = std::make_unique<QdrantApi>(collections_.get(), ApiOptions(), &metrics_);
}

HttpResponse ApiFixture::Handle(const HttpRequest& request) {
  if (runs_++ % kRunsPerReset == 0) Reset();
  return api_->Handle(request);
}

HttpResponse ApiFixture::Call(std::string_view method, std::string_view target, std::string body) {
  // Through the real parser, so that the request is exactly what a
  // connection would hand on (segments, query, headers).
  std::string wire = std::string(method) + " " + std::string(target) +
                     " HTTP/1.1\r\nHost: fuzz\r\nContent-Type: application/json\r\n"
                     "Content-Length: " +
                     std::to_string(body.size()) + "\r\n\r\n" + body;
  absl::StatusOr<HttpRequest> request = ParseHttpRequest(wire, uint64_t{1} << 30);
  if (!request.ok()) Die("harness request rejected: " + request.status().ToString());
  return Handle(*request);
}

void ApiFixture::CheckResponse(const HttpResponse& response) {
  if (response.status == 500) Die("500 answered: " + response.body);
  if (response.content_type == "application/json" && !nlohmann::json::accept(response.body)) {
    Die("answer is not JSON: " + response.body);
  }
}

void CallJsonRoute(std::span<const JsonRoute> routes, const uint8_t* data, size_t size) {
  if (size == 0) return;
  const JsonRoute& route = routes[data[0] % routes.size()];
  ApiFixture& api = ApiFixture::Get();
  ApiFixture::CheckResponse(api.Call(route.method, route.target, std::string(Rest(data, size))));
}

}  // namespace cairn::fuzz
