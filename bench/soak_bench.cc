#include "bench/soak_bench.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/process_sampler.h"
#include "bench/soak_check.h"
#include "bench/soak_worker.h"
#include "client/cpp/http_connection.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace cairn {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

const char* SoakOpName(SoakOp op) {
  switch (op) {
    case SoakOp::kUpsert:
      return "upsert";
    case SoakOp::kSearch:
      return "search";
    case SoakOp::kFilteredSearch:
      return "filtered_search";
    case SoakOp::kScroll:
      return "scroll";
    case SoakOp::kDelete:
      return "delete";
    case SoakOp::kRetrieve:
      return "retrieve";
  }
  return "?";
}

absl::Status SoakOptions::Validate() const {
  CAIRN_RETURN_IF_ERROR(client::ParseUrl(url).status());
  if (!(Seconds() > 0)) return absl::InvalidArgumentError("the duration must be positive");
  if (connections < 1 || connections > 1024) {
    return absl::InvalidArgumentError("connections must be in [1, 1024]");
  }
  if (dim < 1 || dim > 65536) return absl::InvalidArgumentError("dim must be in [1, 65536]");
  if (collection.empty() || !std::all_of(collection.begin(), collection.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '_' || c == '-';
      })) {
    // It goes into request paths unescaped.
    return absl::InvalidArgumentError("collection: letters, digits, _ and - only");
  }
  if (pid < 0) return absl::InvalidArgumentError("pid must be positive");
  if (!(sample_seconds > 0)) return absl::InvalidArgumentError("sample_seconds must be positive");
  if (upsert_batch < 1 || delete_batch < 1) {
    return absl::InvalidArgumentError("upsert_batch and delete_batch must be at least 1");
  }
  if (ids_per_connection < 4 * std::max(upsert_batch, delete_batch)) {
    return absl::InvalidArgumentError("ids_per_connection must be at least 4 batches");
  }
  if (prefill && prefill_batch < 1) {
    return absl::InvalidArgumentError("prefill_batch must be at least 1");
  }
  if (request_timeout.count() <= 0) {
    return absl::InvalidArgumentError("request_timeout must be positive");
  }
  return absl::OkStatus();
}

namespace {

constexpr uint32_t kPurgeChunk = 1000;

// Creates the collection, or reuses one of the right size after deleting
// every id the threads will use, so that each starts dead. Returns the
// number of other points (a baseline for the count check).
absl::StatusOr<uint64_t> PrepareCollection(client::HttpConnection& conn, const SoakOptions& o,
                                           std::ostream& progress) {
  const std::string path = "/collections/" + o.collection;
  CAIRN_ASSIGN_OR_RETURN(client::HttpResponse res, conn.Request("GET", path));
  if (res.status == 404) {
    json body = {{"vectors", {{"size", o.dim}, {"distance", "Cosine"}}}};
    CAIRN_RETURN_IF_ERROR(SoakCall(conn, "PUT", path, body.dump()).status());
    progress << "created collection " << o.collection << " (dim " << o.dim << ", Cosine)\n";
    return 0;
  }
  CAIRN_ASSIGN_OR_RETURN(json info, SoakCall(conn, "GET", path));
  const json size = info["config"]["params"]["vectors"]["size"];
  if (!size.is_number_unsigned() || size.get<uint64_t>() != o.dim) {
    return absl::FailedPreconditionError(absl::StrCat("collection ", o.collection,
                                                      " exists with vectors of size ", size.dump(),
                                                      ", not --dim ", o.dim));
  }
  const uint64_t ids = static_cast<uint64_t>(o.connections) * o.ids_per_connection;
  for (uint64_t first = 1; first <= ids; first += kPurgeChunk) {
    json list = json::array();
    for (uint64_t id = first; id < first + kPurgeChunk && id <= ids; ++id) list.push_back(id);
    CAIRN_RETURN_IF_ERROR(
        SoakCall(conn, "POST", path + "/points/delete?wait=true", json{{"points", list}}.dump())
            .status());
  }
  CAIRN_ASSIGN_OR_RETURN(uint64_t others, SoakPointsCount(conn, o.collection));
  progress << "reusing collection " << o.collection << ": ids 1.." << ids << " deleted, " << others
           << " other points\n";
  return others;
}

// The server process to watch; -1 with a note when there is none to read.
absl::StatusOr<int64_t> ResolvePid(const SoakOptions& o, std::string* note) {
  if (o.pid > 0) {
    CAIRN_RETURN_IF_ERROR(SampleProcess(o.pid).status());  // --pid must be readable
    return o.pid;
  }
  CAIRN_ASSIGN_OR_RETURN(client::Url url, client::ParseUrl(o.url));
  absl::StatusOr<int64_t> pid = FindListeningPid(url.port);
  if (!pid.ok()) {
    *note = std::string(pid.status().message());
    return -1;
  }
  return *pid;
}

SoakSample TakeSample(int64_t pid, double elapsed_s) {
  SoakSample s;
  s.elapsed_s = elapsed_s;
  if (pid > 0) {
    absl::StatusOr<ProcessSample> p = SampleProcess(pid);
    if (p.ok()) {
      s.rss_bytes = p->rss_bytes;
      s.open_fds = p->open_fds;
    }
  }
  return s;
}

std::string SampleLine(const SoakSample& s) {
  std::string line = absl::StrFormat("[%6.0fs]", s.elapsed_s);
  for (int i = 0; i < kSoakOps; ++i) {
    absl::StrAppendFormat(&line, " %s %.0f/s", SoakOpName(static_cast<SoakOp>(i)),
                          s.requests_per_s[i]);
  }
  if (s.rss_bytes >= 0) {
    absl::StrAppendFormat(&line, " | rss %.1f MiB, %d fds", s.rss_bytes / 1048576.0, s.open_fds);
  }
  return line;
}

// Runs the workers for the duration, sampling the server as it goes.
void RunWorkload(const SoakOptions& o, std::vector<std::unique_ptr<SoakWorker>>& workers,
                 SoakShared& shared, SoakReport* report, std::ostream& progress) {
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  report->samples.push_back(TakeSample(report->pid, 0));
  progress << SampleLine(report->samples.back()) << "\n" << std::flush;
  const auto t0 = Clock::now();
  for (auto& w : workers) threads.emplace_back([&w, &stop] { w->Run(stop); });
  const auto end =
      t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.Seconds()));
  const auto every =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.sample_seconds));
  std::array<uint64_t, kSoakOps> last{};
  auto last_time = t0;
  auto sample = [&](Clock::time_point now) {
    SoakSample s = TakeSample(report->pid, Nanos(t0, now) / 1e9);
    const double dt = std::max(1e-9, Nanos(last_time, now) / 1e9);
    for (int i = 0; i < kSoakOps; ++i) {
      const uint64_t n = shared.requests[i].load(std::memory_order_relaxed);
      s.requests_per_s[i] = (n - last[i]) / dt;
      last[i] = n;
    }
    last_time = now;
    progress << SampleLine(s) << "\n" << std::flush;
    report->samples.push_back(s);
  };
  for (auto next = t0 + every; next < end; next += every) {
    std::this_thread::sleep_until(next);
    sample(Clock::now());
  }
  std::this_thread::sleep_until(end);
  stop = true;
  for (auto& t : threads) t.join();
  const auto done = Clock::now();
  report->seconds = Nanos(t0, done) / 1e9;
  sample(done);
}

void Aggregate(std::vector<std::unique_ptr<SoakWorker>>& workers, SoakReport* report) {
  for (int i = 0; i < kSoakOps; ++i) {
    std::vector<double> all;
    SoakOpStats& s = report->ops[i];
    for (auto& w : workers) {
      const SoakOpStats& ws = w->stats()[i];
      s.requests += ws.requests;
      s.errors_4xx += ws.errors_4xx;
      s.errors_5xx += ws.errors_5xx;
      s.errors_transport += ws.errors_transport;
      std::vector<double>& l = w->latencies_ms()[i];
      all.insert(all.end(), l.begin(), l.end());
      std::vector<double>().swap(l);
    }
    s.latency_ms = Summarize(std::move(all));
  }
  for (auto& w : workers) report->consistency.retrieve_mismatches += w->retrieve_mismatches();
}

// RSS at start, after warm-up (the first sample at or after min(1 minute,
// 10% of the run)) and at the end.
void SummarizeRss(SoakReport* report) {
  const auto& samples = report->samples;
  report->rss_start = samples.front().rss_bytes;
  report->rss_end = samples.back().rss_bytes;
  const double warm_after = std::min(60.0, 0.1 * report->options.Seconds());
  const SoakSample* warm = &samples.back();
  for (const SoakSample& s : samples) {
    if (s.elapsed_s >= warm_after) {
      warm = &s;
      break;
    }
  }
  report->rss_warm = warm->rss_bytes;
  report->warm_elapsed_s = warm->elapsed_s;
  if (report->rss_warm > 0 && report->rss_end >= 0) {
    report->rss_growth_pct = 100.0 * (report->rss_end - report->rss_warm) / report->rss_warm;
  }
}

// Every worker writes its ids once, in parallel, before the clock starts.
absl::Status PrefillAll(const SoakOptions& o, std::vector<std::unique_ptr<SoakWorker>>& workers,
                        SoakReport* report, std::ostream& progress) {
  progress << "prefilling " << uint64_t{o.ids_per_connection} * workers.size() << " points...\n"
           << std::flush;
  const auto t0 = Clock::now();
  // A few streams keep the writer busy; more only queue at the server.
  constexpr size_t kPrefillStreams = 4;
  std::vector<absl::Status> status(workers.size());
  std::atomic<size_t> next{0};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(kPrefillStreams, workers.size()); ++t) {
    threads.emplace_back([&] {
      for (size_t i; (i = next++) < workers.size();) status[i] = workers[i]->Prefill(o.prefill_batch);
    });
  }
  for (auto& t : threads) t.join();
  for (const absl::Status& s : status) {
    if (!s.ok()) return absl::Status(s.code(), absl::StrCat("prefill: ", s.message()));
  }
  report->prefill_seconds = Nanos(t0, Clock::now()) / 1e9;
  progress << "prefilled in " << absl::StrFormat("%.1f", report->prefill_seconds) << " s\n";
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<SoakReport> RunSoakBench(const SoakOptions& options, std::ostream& progress) {
  CAIRN_RETURN_IF_ERROR(options.Validate());
  client::HttpConnectionOptions co;
  co.api_key = options.api_key;
  co.default_timeout = options.request_timeout;
  CAIRN_ASSIGN_OR_RETURN(auto control, client::HttpConnection::Create(options.url, co));
  SoakReport report;
  report.options = options;
  CAIRN_ASSIGN_OR_RETURN(const uint64_t baseline, PrepareCollection(*control, options, progress));
  CAIRN_ASSIGN_OR_RETURN(report.pid, ResolvePid(options, &report.pid_note));
  if (report.pid > 0) {
    progress << "sampling server process " << report.pid << "\n";
  } else {
    progress << "not sampling the server: " << report.pid_note << "\n";
  }
  SoakShared shared;
  std::vector<std::unique_ptr<SoakWorker>> workers;
  for (int t = 0; t < options.connections; ++t) {
    CAIRN_ASSIGN_OR_RETURN(auto conn, client::HttpConnection::Create(options.url, co));
    workers.push_back(std::make_unique<SoakWorker>(options, t, std::move(conn), &shared));
  }
  if (options.prefill) CAIRN_RETURN_IF_ERROR(PrefillAll(options, workers, &report, progress));
  progress << "running " << options.connections << " connections for " << options.Seconds()
           << " s against " << options.url << "\n"
           << std::flush;
  RunWorkload(options, workers, shared, &report, progress);
  Aggregate(workers, &report);
  SummarizeRss(&report);
  progress << "checking consistency...\n" << std::flush;
  absl::Status check =
      CheckSoakConsistency(*control, options, workers, baseline, &report.consistency);
  if (!check.ok()) {
    report.failures.push_back(absl::StrCat("consistency check failed: ", check.message()));
  }
  {
    absl::MutexLock lock(&shared.mu);
    report.first_errors = shared.first_errors;
  }
  JudgeSoak(&report);
  return report;
}

}  // namespace cairn
