// `cairn serve`: the Qdrant-compatible REST server over a data directory.
// SIGINT/SIGTERM stop it gracefully: no new connections, in-flight requests
// finish, every collection is checkpointed.
#include "cli/serve_command.h"

#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/summary.h"
#include "nlohmann/json.hpp"
#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/qdrant_api.h"

namespace cairn {

namespace {

int RunServe(const std::string& data, const std::string& host, int port,
             const std::string& api_key, const std::string& read_only_key, uint64_t body_limit,
             int workers, const std::string& demo_index, const std::string& demo_name,
             bool access_log) {
  // Block the stop signals before any thread starts, so that only sigwait
  // below sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto collections = CollectionManager::Open(data);
  if (!collections.ok()) {
    std::fprintf(stderr, "cairn serve: %s\n", collections.status().ToString().c_str());
    return 1;
  }
  if (!demo_index.empty() && (*collections)->Get(demo_name) == nullptr) {
    std::fprintf(stderr, "cairn serve: creating collection %s from %s\n", demo_name.c_str(),
                 demo_index.c_str());
    absl::Status s = (*collections)->CreateFromIndex(demo_name, demo_index, CollectionConfig());
    if (!s.ok()) {
      std::fprintf(stderr, "cairn serve: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  Metrics metrics;
  ApiOptions api;
  api.api_key = api_key;
  api.read_only_api_key = read_only_key;
  QdrantApi handler(collections->get(), api, &metrics);
  HttpServerOptions o;
  o.host = host;
  o.port = static_cast<uint16_t>(port);
  o.body_limit = body_limit;
  o.worker_threads = workers;
  o.is_write = &QdrantApi::IsWrite;
  o.error_response = [](int status, const std::string& message) {
    return QdrantApi::Error(status, message);
  };
  auto server = HttpServer::Start(o, [&](const HttpRequest& r) {
    if (!access_log) return handler.Handle(r);
    const auto t0 = std::chrono::steady_clock::now();
    HttpResponse res = handler.Handle(r);
    // One JSON object per line (structured log); the path without its query.
    nlohmann::json line = {
        {"event", "request"},
        {"method", r.method},
        {"path", r.target.substr(0, r.target.find('?'))},
        {"status", res.status},
        {"ms", Nanos(t0, std::chrono::steady_clock::now()) / 1e6},
        {"bytes_in", r.body.size()},
        {"bytes_out", res.body.size()}};
    const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(text.data(), 1, text.size(), stderr);
    return res;
  });
  if (!server.ok()) {
    std::fprintf(stderr, "cairn serve: %s\n", server.status().ToString().c_str());
    return 1;
  }
  std::fprintf(stderr, "{\"event\":\"listening\",\"host\":\"%s\",\"port\":%u,\"data\":\"%s\"}\n",
               host.c_str(), (*server)->port(), data.c_str());
  std::fflush(stderr);
  int sig = 0;
  sigwait(&signals, &sig);
  std::fprintf(stderr, "{\"event\":\"stopping\",\"signal\":%d}\n", sig);
  (*server)->Stop();
  absl::Status s = (*collections)->CheckpointAll();
  if (!s.ok()) {
    std::fprintf(stderr, "{\"event\":\"checkpoint_failed\",\"error\":\"%s\"}\n",
                 std::string(s.message()).c_str());
    return 1;
  }
  std::fprintf(stderr, "{\"event\":\"stopped\"}\n");
  return 0;
}

}  // namespace

void AddServeCommand(CLI::App& app, int* exit_code) {
  auto* cmd = app.add_subcommand("serve", "Serve collections over a Qdrant-compatible REST API");
  struct Args {
    std::string data = "cairn-data", host = "127.0.0.1", api_key, read_only_key, demo_index;
    std::string demo_name = "demo";
    int port = 6333, workers = 0;
    uint64_t body_limit = 32ull << 20;
    bool access_log = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("--data", args->data, "Data directory (collections live here)");
  cmd->add_option("--host", args->host, "Address to listen on")->capture_default_str();
  cmd->add_option("--port", args->port, "TCP port (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--api-key", args->api_key, "Key required in the api-key header");
  cmd->add_option("--read-only-api-key", args->read_only_key, "Key that may only read");
  cmd->add_option("--body-limit", args->body_limit, "Largest request body, bytes")
      ->capture_default_str();
  cmd->add_option("--workers", args->workers, "Worker threads for reads, and as many again for writes (0: one per core)");
  cmd->add_option("--demo-index", args->demo_index,
                  "Create a collection from this `cairn build` index if it is missing");
  cmd->add_option("--demo-name", args->demo_name, "Name of that collection")->capture_default_str();
  cmd->add_flag("--access-log", args->access_log, "Log every request as a JSON line on stderr");
  cmd->callback([args, exit_code] {
    std::string key = args->api_key;
    if (key.empty()) {
      if (const char* env = std::getenv("CAIRN_API_KEY")) key = env;
    }
    *exit_code = RunServe(args->data, args->host, args->port, key, args->read_only_key,
                          args->body_limit, args->workers, args->demo_index, args->demo_name,
                          args->access_log);
  });
}

}  // namespace cairn
