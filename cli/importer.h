// `cairn import`: points from a file into a collection of a running server,
// in batches over parallel keep-alive connections, resumable.
//
// The input's lines are cut into batches of `batch` lines (batch k is lines
// k*batch+1 .. (k+1)*batch, bad lines included, so the cut is the same on
// every run). One reader thread reads batches in order and hands them to
// `parallel` sender threads, each an upsert request with wait=true; a batch
// the server acknowledged is marked in the state file (import_state.h),
// saved at most every 200 ms, at the end and on interruption. A rerun of
// the same command (same inputs unchanged, collection and batch size)
// passes over acknowledged batches; batches acknowledged in the last 200 ms
// before a kill are sent again, which upserts by id make harmless.
//
// Bad lines (import_source.h) are printed with their file and line number;
// with OnError::kSkip the batch goes on without them, with kStop the import
// stops before sending that batch. At the end the server's point count is
// compared with the count before the first run plus the points sent; when
// they agree the state file is removed.
//
// Thread-safety: RunImport is called from one thread; it runs its own.
#ifndef CAIRN_CLI_IMPORTER_H_
#define CAIRN_CLI_IMPORTER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "cli/import_source.h"
#include "client/cpp/client_types.h"

namespace cairn {

enum class OnError { kSkip, kStop };

struct ImportOptions {
  std::string url;
  std::string api_key;
  std::string collection;
  ImportInputs inputs;
  size_t batch = 256;   // lines per request
  int parallel = 4;     // concurrent requests
  bool create = false;  // create the collection if missing
  client::Distance distance = client::Distance::kCosine;
  OnError on_error = OnError::kStop;
  std::string state_path;                     // empty: ".cairn-import-<collection>.state"
  std::chrono::milliseconds timeout{120000};  // per request
  bool progress = true;
  absl::Status Validate() const;
  std::string StatePath() const;
};

struct ImportReport {
  uint64_t lines = 0;             // lines of the input
  uint64_t batches = 0;           // in the whole input
  uint64_t batches_before = 0;    // acknowledged in earlier runs, not sent
  uint64_t batches_sent = 0;      // acknowledged in this run
  uint64_t points_sent = 0;       // in this run
  uint64_t bad_lines = 0;         // found in this run
  uint64_t bad_lines_before = 0;  // in batches acknowledged earlier
  double seconds = 0;             // of sending, this run
  bool interrupted = false;
  bool complete = false;  // every batch acknowledged
  // Checked only when complete.
  uint64_t points_before = 0;  // in the collection before the first run
  uint64_t expected_count = 0;
  uint64_t server_count = 0;
  bool count_ok = false;
};

// Runs the import; progress and bad lines go to `log`. `stop` (may be null)
// is polled: once true, no new batch is sent, the ones in flight finish and
// the state is saved (report.interrupted). An error Status means the import
// could not go on (server refused a batch, connection lost after retries, a
// bad line with kStop, unreadable input); acknowledged batches are saved
// before it returns, so a rerun resumes.
absl::StatusOr<ImportReport> RunImport(const ImportOptions& options, std::ostream& log,
                                       const std::atomic<bool>* stop);

}  // namespace cairn

#endif  // CAIRN_CLI_IMPORTER_H_
