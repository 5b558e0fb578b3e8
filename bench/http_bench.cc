#include "bench/http_bench.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/summary.h"
#include "datasets/vector_file.h"
#include "nlohmann/json.hpp"
#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/qdrant_api.h"

namespace cairn {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

// One measured run: latencies over all connections, requests per second.
struct RunSummary {
  LatencyMs latency;
  double qps = 0;
  uint64_t requests = 0, errors = 0;
};

RunSummary SummarizeRun(std::vector<double> ms, double seconds, uint64_t errors) {
  RunSummary s;
  s.requests = ms.size();
  s.errors = errors;
  if (ms.empty()) return s;
  s.qps = ms.size() / seconds;
  s.latency = Summarize(std::move(ms));
  return s;
}

// One keep-alive connection issuing searches back to back.
class Client {
 public:
  explicit Client(uint16_t port) : stream_(ioc_) {
    boost::asio::ip::tcp::resolver resolver(ioc_);
    stream_.connect(resolver.resolve("127.0.0.1", std::to_string(port)));
    stream_.socket().set_option(boost::asio::ip::tcp::no_delay(true));
  }
  // False on a transport error or a non-200 answer.
  bool Post(const std::string& target, const std::string& body) {
    namespace http = boost::beast::http;
    http::request<http::string_body> req(http::verb::post, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.set(http::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    boost::beast::error_code ec;
    http::write(stream_, req, ec);
    if (ec) return false;
    http::response<http::string_body> res;
    http::read(stream_, buffer_, res, ec);
    return !ec && res.result_int() == 200;
  }

 private:
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
};

// The collection "bench" under the work directory, imported from the index
// on the first run.
absl::StatusOr<std::unique_ptr<CollectionManager>> OpenCollection(const HttpBenchOptions& o,
                                                                  uint32_t dim) {
  std::error_code ec;
  std::filesystem::create_directories(o.work, ec);
  CAIRN_ASSIGN_OR_RETURN(auto manager, CollectionManager::Open(o.work + "/data"));
  if (manager->Get("bench") == nullptr) {
    std::fprintf(stderr, "importing %s as collection \"bench\"...\n", o.index.c_str());
    CAIRN_RETURN_IF_ERROR(manager->CreateFromIndex("bench", o.index, CollectionConfig()));
  }
  const uint32_t size = manager->Get("bench")->config().size;
  if (size != dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries have dimension ", dim, ", the index ", size));
  }
  return manager;
}

// The same queries through Collection::Search on one thread, twice: the
// first pass warms the head graph and contexts; the second is measured.
absl::StatusOr<RunSummary> MeasureInProcess(const HttpBenchOptions& o, const Collection& c,
                                            const FloatMatrix& queries, uint64_t nq) {
  std::vector<double> ms;
  SearchRequest req;
  req.limit = o.k;
  req.max_postings = o.max_postings;
  Clock::time_point t0;
  for (int pass = 0; pass < 2; ++pass) {
    ms.clear();
    t0 = Clock::now();
    for (uint64_t i = 0; i < nq; ++i) {
      req.vector.assign(queries.row(i), queries.row(i) + queries.dim);
      const auto s = Clock::now();
      SearchInfo info;
      CAIRN_ASSIGN_OR_RETURN(auto hits, c.Search(req, &info));
      (void)hits;
      ms.push_back(Nanos(s, Clock::now()) / 1e6);
    }
  }
  return SummarizeRun(std::move(ms), Nanos(t0, Clock::now()) / 1e9, 0);
}

// `connections` clients posting the bodies round robin for `seconds`.
RunSummary MeasureHttp(uint16_t port, const std::string& target,
                       const std::vector<std::string>& bodies, int connections, double seconds) {
  std::vector<std::vector<double>> lat(connections);
  std::atomic<uint64_t> errors{0};
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  const auto t0 = Clock::now();
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&, t] {
      try {
        Client client(port);
        for (uint64_t i = t; !stop; i += connections) {
          const auto s = Clock::now();
          if (!client.Post(target, bodies[i % bodies.size()])) {
            ++errors;
            continue;
          }
          lat[t].push_back(Nanos(s, Clock::now()) / 1e6);
        }
      } catch (const std::exception&) {
        ++errors;
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double secs = Nanos(t0, Clock::now()) / 1e9;
  std::vector<double> all;
  for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  return SummarizeRun(std::move(all), secs, errors);
}

json SummaryJson(const RunSummary& s) {
  return {{"qps", s.qps},
          {"mean_ms", s.latency.mean},
          {"p50_ms", s.latency.p50},
          {"p99_ms", s.latency.p99}};
}

}  // namespace

absl::Status HttpBenchOptions::Validate() const {
  if (index.empty() || queries.empty()) {
    return absl::InvalidArgumentError("--index and --queries are required");
  }
  if (k == 0 || max_postings == 0 || max_queries == 0) {
    return absl::InvalidArgumentError("--k, --max-postings and --max-queries must be positive");
  }
  if (connections.empty() ||
      std::any_of(connections.begin(), connections.end(), [](int c) { return c <= 0; })) {
    return absl::InvalidArgumentError("--connections must list positive counts");
  }
  if (!(seconds > 0)) return absl::InvalidArgumentError("--seconds must be positive");
  return absl::OkStatus();
}

absl::Status RunHttpBench(const HttpBenchOptions& o) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix queries, ReadFloatMatrix(o.queries));
  const uint64_t nq = std::min<uint64_t>(queries.rows, o.max_queries);
  if (nq == 0) return absl::InvalidArgumentError("no queries");
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<CollectionManager> manager,
                         OpenCollection(o, queries.dim));
  // Request bodies, made once: JSON encoding is the client's cost, not ours.
  std::vector<std::string> bodies(nq);
  for (uint64_t i = 0; i < nq; ++i) {
    bodies[i] = json{{"vector", std::vector<float>(queries.row(i), queries.row(i) + queries.dim)},
                     {"limit", o.k},
                     {"params", {{"cairn", {{"max_postings", o.max_postings}}}}}}
                    .dump();
  }
  CAIRN_ASSIGN_OR_RETURN(RunSummary in, MeasureInProcess(o, *manager->Get("bench"), queries, nq));
  std::printf("in process, 1 thread      qps %8.0f  mean %6.3f ms  p50 %6.3f  p99 %6.3f  (%llu "
              "queries)\n",
              in.qps, in.latency.mean, in.latency.p50, in.latency.p99,
              (unsigned long long)in.requests);

  Metrics metrics;
  QdrantApi api(manager.get(), ApiOptions(), &metrics);
  HttpServerOptions so;
  so.port = 0;
  so.worker_threads = o.workers;
  so.error_response = [](int status, const std::string& m) { return QdrantApi::Error(status, m); };
  CAIRN_ASSIGN_OR_RETURN(
      auto server, HttpServer::Start(so, [&](const HttpRequest& r) { return api.Handle(r); }));
  json in_json = SummaryJson(in);
  in_json["qps"] = 1000.0 / in.latency.mean;  // per thread, from the mean
  json report = {{"index", o.index},
                 {"queries", nq},
                 {"k", o.k},
                 {"max_postings", o.max_postings},
                 {"in_process", in_json},
                 {"http", json::array()}};
  for (int conns : o.connections) {
    const RunSummary s =
        MeasureHttp(server->port(), "/collections/bench/points/search", bodies, conns, o.seconds);
    std::printf("http, %2d connection%s   qps %8.0f  mean %6.3f ms  p50 %6.3f  p99 %6.3f  "
                "(%llu requests, %llu errors)\n",
                conns, conns == 1 ? " " : "s", s.qps, s.latency.mean, s.latency.p50,
                s.latency.p99, (unsigned long long)s.requests, (unsigned long long)s.errors);
    std::fflush(stdout);
    json run = SummaryJson(s);
    run["connections"] = conns;
    run["requests"] = s.requests;
    run["errors"] = s.errors;
    report["http"].push_back(std::move(run));
    if (conns == 1) {
      std::printf("HTTP + JSON overhead per query at 1 connection: %.3f ms (p50), %.3f ms (mean)\n",
                  s.latency.p50 - in.latency.p50, s.latency.mean - in.latency.mean);
    }
  }
  server->Stop();
  if (!o.json.empty()) {
    std::ofstream out(o.json);
    out << report.dump(2) << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", o.json));
  }
  return absl::OkStatus();
}

}  // namespace cairn
