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
#include "datasets/vector_file.h"
#include "nlohmann/json.hpp"
#include "server/collection_manager.h"
#include "server/http_server.h"
#include "server/qdrant_api.h"

namespace cairn {

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Summary {
  double qps = 0, mean_ms = 0, p50_ms = 0, p99_ms = 0;
  uint64_t requests = 0, errors = 0;
};

Summary Summarise(std::vector<double> ms, double seconds, uint64_t errors) {
  Summary s;
  s.requests = ms.size();
  s.errors = errors;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  double sum = 0;
  for (double x : ms) sum += x;
  s.mean_ms = sum / ms.size();
  s.p50_ms = ms[ms.size() / 2];
  s.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  s.qps = ms.size() / seconds;
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

}  // namespace

absl::Status RunHttpBench(const HttpBenchArgs& a) {
  CAIRN_ASSIGN_OR_RETURN(FloatMatrix queries, ReadFloatMatrix(a.queries));
  const uint64_t nq = std::min<uint64_t>(queries.rows, a.max_queries);
  if (nq == 0) return absl::InvalidArgumentError("no queries");
  std::error_code ec;
  std::filesystem::create_directories(a.work, ec);
  CAIRN_ASSIGN_OR_RETURN(auto manager, CollectionManager::Open(a.work + "/data"));
  if (manager->Get("bench") == nullptr) {
    std::fprintf(stderr, "importing %s as collection \"bench\"...\n", a.index.c_str());
    CAIRN_RETURN_IF_ERROR(manager->CreateFromIndex("bench", a.index, CollectionConfig()));
  }
  std::shared_ptr<Collection> c = manager->Get("bench");
  if (c->config().size != queries.dim) {
    return absl::InvalidArgumentError(absl::StrCat("queries have dimension ", queries.dim,
                                                   ", the index ", c->config().size));
  }
  // Request bodies, made once: JSON encoding is the client's cost, not ours.
  std::vector<std::string> bodies(nq);
  for (uint64_t i = 0; i < nq; ++i) {
    bodies[i] = json{{"vector", std::vector<float>(queries.row(i), queries.row(i) + queries.dim)},
                     {"limit", a.k},
                     {"params", {{"cairn", {{"max_postings", a.max_postings}}}}}}
                    .dump();
  }

  // In process, one thread: the same queries through Collection::Search.
  std::vector<double> inproc;
  SearchRequest req;
  req.limit = a.k;
  req.max_postings = a.max_postings;
  for (int pass = 0; pass < 2; ++pass) {  // the first pass warms the head graph and contexts
    inproc.clear();
    const auto t0 = Clock::now();
    for (uint64_t i = 0; i < nq; ++i) {
      req.vector.assign(queries.row(i), queries.row(i) + queries.dim);
      const auto s = Clock::now();
      SearchInfo info;
      CAIRN_ASSIGN_OR_RETURN(auto hits, c->Search(req, &info));
      (void)hits;
      inproc.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
    }
    if (pass == 1) {
      const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      Summary s = Summarise(inproc, secs, 0);
      std::printf("in process, 1 thread      qps %8.0f  mean %6.3f ms  p50 %6.3f  p99 %6.3f  (%llu queries)\n",
                  s.qps, s.mean_ms, s.p50_ms, s.p99_ms, (unsigned long long)s.requests);
    }
  }
  const Summary in_summary = Summarise(inproc, 1, 0);

  Metrics metrics;
  QdrantApi api(manager.get(), ApiOptions(), &metrics);
  HttpServerOptions o;
  o.port = 0;
  o.worker_threads = a.workers;
  o.error_response = [](int status, const std::string& m) { return QdrantApi::Error(status, m); };
  CAIRN_ASSIGN_OR_RETURN(auto server,
                         HttpServer::Start(o, [&](const HttpRequest& r) { return api.Handle(r); }));
  const std::string target = "/collections/bench/points/search";
  json report = {{"index", a.index},
                 {"queries", nq},
                 {"k", a.k},
                 {"max_postings", a.max_postings},
                 {"in_process", {{"qps", 1000.0 / in_summary.mean_ms},
                                 {"mean_ms", in_summary.mean_ms},
                                 {"p50_ms", in_summary.p50_ms},
                                 {"p99_ms", in_summary.p99_ms}}},
                 {"http", json::array()}};
  for (int conns : a.connections) {
    std::vector<std::vector<double>> lat(conns);
    std::atomic<uint64_t> errors{0};
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const auto t0 = Clock::now();
    for (int t = 0; t < conns; ++t) {
      threads.emplace_back([&, t] {
        try {
          Client client(server->port());
          for (uint64_t i = t; !stop; i += conns) {
            const auto s = Clock::now();
            if (!client.Post(target, bodies[i % nq])) {
              ++errors;
              continue;
            }
            lat[t].push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
          }
        } catch (const std::exception&) {
          ++errors;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
    stop = true;
    for (auto& th : threads) th.join();
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    std::vector<double> all;
    for (auto& l : lat) all.insert(all.end(), l.begin(), l.end());
    Summary s = Summarise(all, secs, errors);
    std::printf("http, %2d connection%s   qps %8.0f  mean %6.3f ms  p50 %6.3f  p99 %6.3f  "
                "(%llu requests, %llu errors)\n",
                conns, conns == 1 ? " " : "s", s.qps, s.mean_ms, s.p50_ms, s.p99_ms,
                (unsigned long long)s.requests, (unsigned long long)s.errors);
    std::fflush(stdout);
    report["http"].push_back({{"connections", conns},
                              {"qps", s.qps},
                              {"mean_ms", s.mean_ms},
                              {"p50_ms", s.p50_ms},
                              {"p99_ms", s.p99_ms},
                              {"requests", s.requests},
                              {"errors", s.errors}});
    if (conns == 1) {
      std::printf("HTTP + JSON overhead per query at 1 connection: %.3f ms (p50), %.3f ms (mean)\n",
                  s.p50_ms - in_summary.p50_ms, s.mean_ms - in_summary.mean_ms);
    }
  }
  server->Stop();
  if (!a.json.empty()) {
    std::ofstream out(a.json);
    out << report.dump(2) << "\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", a.json));
  }
  return absl::OkStatus();
}

}  // namespace cairn
