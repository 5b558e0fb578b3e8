// The commands that talk to a running server through the C++ client:
// `cairn import`, `cairn collections`, `cairn query`. The server's address
// and API key come from --url / --api-key or CAIRN_URL / CAIRN_API_KEY.
#include "cli/remote_command.h"

#include <csignal>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/importer.h"
#include "client/cpp/cairn_client.h"
#include "datasets/vector_file.h"

namespace cairn {

namespace {

using client::Json;

std::atomic<bool> g_interrupted{false};

extern "C" void OnStopSignal(int) { g_interrupted.store(true); }

void AddServerFlags(CLI::App* cmd, std::string* url, std::string* api_key) {
  cmd->add_option("--url", *url, "The server, http://HOST:PORT")->envname("CAIRN_URL")->required();
  cmd->add_option("--api-key", *api_key, "Sent as the api-key header")->envname("CAIRN_API_KEY");
}

int Fail(const char* command, const absl::Status& s) {
  std::fprintf(stderr, "cairn %s: %s\n", command, std::string(s.message()).c_str());
  return 1;
}

void PrintImportReport(const ImportOptions& o, const ImportReport& r) {
  const double rate = r.seconds > 0 ? r.points_sent / r.seconds : 0;
  std::printf("sent %llu points in %llu batches in %.2f s (%.0f points/s, %d parallel)",
              static_cast<unsigned long long>(r.points_sent),
              static_cast<unsigned long long>(r.batches_sent), r.seconds, rate, o.parallel);
  if (r.batches_before > 0) {
    std::printf("; %llu batches were acknowledged by an earlier run",
                static_cast<unsigned long long>(r.batches_before));
  }
  std::printf("\nlines read: %llu, bad lines: %llu", static_cast<unsigned long long>(r.lines),
              static_cast<unsigned long long>(r.bad_lines + r.bad_lines_before));
  if (r.bad_lines_before > 0) {
    std::printf(" (%llu in earlier runs)", static_cast<unsigned long long>(r.bad_lines_before));
  }
  std::printf("\n");
  if (r.interrupted) {
    std::printf(
        "interrupted: %llu of %llu batches acknowledged; run the same command again "
        "to resume (state in %s)\n",
        static_cast<unsigned long long>(r.batches_before + r.batches_sent),
        static_cast<unsigned long long>(r.batches), o.StatePath().c_str());
    return;
  }
  std::printf("server count: %llu, expected %llu (%llu before + %llu imported): %s\n",
              static_cast<unsigned long long>(r.server_count),
              static_cast<unsigned long long>(r.expected_count),
              static_cast<unsigned long long>(r.points_before),
              static_cast<unsigned long long>(r.expected_count - r.points_before),
              r.count_ok ? "ok" : "MISMATCH");
}

int RunImportCommand(const ImportOptions& o, const std::string& distance,
                     const std::string& on_error) {
  ImportOptions options = o;
  absl::StatusOr<client::Distance> d = client::ParseDistance(distance);
  if (!d.ok()) return Fail("import", d.status());
  options.distance = *d;
  options.on_error = on_error == "skip" ? OnError::kSkip : OnError::kStop;
  struct sigaction sa = {};
  sa.sa_handler = OnStopSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  absl::StatusOr<ImportReport> r = RunImport(options, std::cerr, &g_interrupted);
  if (!r.ok()) {
    Fail("import", r.status());
    std::fprintf(stderr,
                 "cairn import: acknowledged batches are recorded in %s; run the same "
                 "command again to resume\n",
                 options.StatePath().c_str());
    return 1;
  }
  PrintImportReport(options, *r);
  if (r->interrupted) return 130;
  if (!r->count_ok) {
    std::fprintf(stderr,
                 "cairn import: the server holds %llu points, expected %llu: duplicate ids in "
                 "the input, ids that were already in the collection, or another writer\n",
                 static_cast<unsigned long long>(r->server_count),
                 static_cast<unsigned long long>(r->expected_count));
    return 1;
  }
  return 0;
}

void AddImportCommand(CLI::App& app, int* exit_code) {
  auto o = std::make_shared<ImportOptions>();
  auto distance = std::make_shared<std::string>("Cosine");
  auto on_error = std::make_shared<std::string>("stop");
  CLI::App* cmd =
      app.add_subcommand("import",
                         "Upsert points from a vector file or JSON lines into a running server, in "
                         "parallel batches, resumable");
  AddServerFlags(cmd, &o->url, &o->api_key);
  cmd->add_option("--collection", o->collection, "Collection to import into")->required();
  cmd->add_option("--input", o->inputs.input,
                  "Vectors: .fvecs/.bvecs/.ivecs/.fbin/.u8bin/.i8bin, or JSON lines "
                  "(.jsonl/.ndjson/.json) of {\"id\", \"vector\", \"payload\"}")
      ->required();
  cmd->add_option("--payloads", o->inputs.payloads,
                  "JSON lines: line N is the payload of input line N (object or null)");
  cmd->add_option("--ids", o->inputs.ids,
                  "Text: line N is the id of input line N (default: row numbers from 0, or "
                  "the JSON lines' ids)");
  cmd->add_option("--batch", o->batch, "Lines per request")->capture_default_str();
  cmd->add_option("--parallel", o->parallel, "Concurrent requests")->capture_default_str();
  cmd->add_flag("--create", o->create, "Create the collection if it does not exist");
  cmd->add_option("--distance", *distance, "Distance of a collection made by --create")
      ->check(CLI::IsMember({"Cosine", "Euclid", "Dot", "Manhattan"}))
      ->capture_default_str();
  cmd->add_option("--on-error", *on_error,
                  "A bad line: skip it (reported) or stop the import before its batch")
      ->check(CLI::IsMember({"skip", "stop"}))
      ->capture_default_str();
  cmd->add_option("--state", o->state_path,
                  "Resume state file (default .cairn-import-COLLECTION.state here)");
  cmd->add_flag("!--no-progress", o->progress, "No progress line");
  cmd->callback([o, distance, on_error, exit_code] {
    try {
      *exit_code = RunImportCommand(*o, *distance, *on_error);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cairn import: %s\n", e.what());
      *exit_code = 1;
    }
  });
}

struct RemoteArgs {
  std::string url;
  std::string api_key;
};

absl::StatusOr<std::unique_ptr<client::Client>> Connect(const RemoteArgs& a) {
  return client::Client::Create({.url = a.url, .api_key = a.api_key});
}

int RunCollections(const RemoteArgs& a) {
  absl::StatusOr<std::unique_ptr<client::Client>> c = Connect(a);
  if (!c.ok()) return Fail("collections", c.status());
  absl::StatusOr<std::vector<std::string>> names = (*c)->ListCollections();
  if (!names.ok()) return Fail("collections", names.status());
  for (const std::string& name : *names) {
    absl::StatusOr<client::CollectionInfo> info = (*c)->GetCollection(name);
    if (!info.ok()) return Fail("collections", info.status());
    std::printf(
        "%s\tpoints=%llu\tdim=%u\tdistance=%s%s\n", name.c_str(),
        static_cast<unsigned long long>(info->points_count), info->dim,
        client::DistanceName(info->distance),
        info->vector_name.has_value() ? absl::StrCat("\tvector=", *info->vector_name).c_str() : "");
  }
  if (names->empty()) std::printf("(no collections)\n");
  return 0;
}

void AddCollectionsCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<RemoteArgs>();
  CLI::App* cmd = app.add_subcommand("collections", "List a server's collections with counts");
  AddServerFlags(cmd, &a->url, &a->api_key);
  cmd->callback([a, exit_code] { *exit_code = RunCollections(*a); });
}

struct QueryArgs {
  RemoteArgs remote;
  std::string collection;
  std::string vector_file;
  uint64_t row = 0;
  std::string id;
  std::string filter;
  std::string vector_name;
  uint32_t limit = 10;
  double target_recall = -1;
  bool exact = false;
  bool with_vector = false;
};

// A row of a vector file, or a file holding one JSON list of numbers.
absl::StatusOr<std::vector<float>> ReadQueryVector(const std::string& path, uint64_t row) {
  if (FormatFromPath(path).ok()) {
    absl::StatusOr<FloatMatrix> m = ReadFloatMatrix(path, row, 1);
    if (!m.ok()) return m.status();
    if (m->rows != 1) return absl::OutOfRangeError(absl::StrCat(path, " has no row ", row));
    return m->data;
  }
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  Json j = Json::parse(text.str(), nullptr, false);
  if (!j.is_array() || j.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": expected a vector file or a JSON list of numbers"));
  }
  std::vector<float> v;
  for (const Json& x : j) {
    if (!x.is_number()) return absl::InvalidArgumentError(absl::StrCat(path, ": not a number"));
    v.push_back(x.get<float>());
  }
  return v;
}

absl::StatusOr<client::QueryRequest> MakeQuery(const QueryArgs& a) {
  client::QueryRequest q;
  if (a.vector_file.empty() == a.id.empty()) {
    return absl::InvalidArgumentError("give one of --vector-file and --id");
  }
  if (!a.vector_file.empty()) {
    absl::StatusOr<std::vector<float>> v = ReadQueryVector(a.vector_file, a.row);
    if (!v.ok()) return v.status();
    q.vector = std::move(*v);
  } else {
    absl::StatusOr<client::PointId> id = client::ParsePointIdText(a.id);
    if (!id.ok()) return id.status();
    q.id = std::move(*id);
  }
  if (!a.filter.empty()) {
    q.filter = Json::parse(a.filter, nullptr, false);
    if (!q.filter.is_object()) return absl::InvalidArgumentError("--filter must be a JSON object");
  }
  q.vector_name = a.vector_name;
  q.limit = a.limit;
  q.with_vector = a.with_vector;
  q.exact = a.exact;
  if (a.target_recall >= 0) q.target_recall = a.target_recall;
  return q;
}

int RunQuery(const QueryArgs& a) {
  absl::StatusOr<client::QueryRequest> q = MakeQuery(a);
  if (!q.ok()) return Fail("query", q.status());
  absl::StatusOr<std::unique_ptr<client::Client>> c = Connect(a.remote);
  if (!c.ok()) return Fail("query", c.status());
  absl::StatusOr<std::vector<client::ScoredPoint>> hits = (*c)->Query(a.collection, *q);
  if (!hits.ok()) return Fail("query", hits.status());
  for (const client::ScoredPoint& p : *hits) {
    Json line = {{"id", client::PointIdToJson(p.id)}, {"score", p.score}, {"payload", p.payload}};
    if (p.vector.has_value()) line["vector"] = *p.vector;
    std::printf("%s\n", line.dump(-1, ' ', false, Json::error_handler_t::replace).c_str());
  }
  return 0;
}

void AddQueryCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<QueryArgs>();
  CLI::App* cmd = app.add_subcommand(
      "query", "Nearest points of a running server's collection, one JSON line per hit");
  AddServerFlags(cmd, &a->remote.url, &a->remote.api_key);
  cmd->add_option("--collection", a->collection, "Collection to search")->required();
  cmd->add_option("--vector-file", a->vector_file,
                  "The query: a vector file (row --row) or a file with a JSON list of numbers");
  cmd->add_option("--row", a->row, "Row of --vector-file")->capture_default_str();
  cmd->add_option("--id", a->id, "The query: the vector of this point (left out of the hits)");
  cmd->add_option("--filter", a->filter, "A Qdrant filter, JSON");
  cmd->add_option("--limit", a->limit, "Hits")
      ->check(CLI::Range(1u, 100000u))
      ->capture_default_str();
  cmd->add_option("--using", a->vector_name, "The collection's vector name, if named");
  cmd->add_option("--target-recall", a->target_recall, "params.target_recall, 0..1")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_flag("--exact", a->exact, "Score every point (exact search)");
  cmd->add_flag("--with-vector", a->with_vector, "Print the hits' vectors too");
  cmd->callback([a, exit_code] { *exit_code = RunQuery(*a); });
}

}  // namespace

void AddRemoteCommands(CLI::App& app, int* exit_code) {
  AddImportCommand(app, exit_code);
  AddCollectionsCommand(app, exit_code);
  AddQueryCommand(app, exit_code);
}

}  // namespace cairn
