#include "cli/importer.h"

#include <deque>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "cli/import_state.h"
#include "client/cpp/cairn_client.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "storage/env.h"

namespace cairn {

namespace {

using Clock = std::chrono::steady_clock;

constexpr auto kSaveEvery = std::chrono::milliseconds(200);

struct Job {
  uint64_t index = 0;
  SourceBatch batch;
};

// The reader-to-senders queue, the senders and the periodic state save.
class Pipeline {
 public:
  Pipeline(client::Client* client, const ImportOptions& options, ImportState* state,
           std::optional<std::string> vector_name, std::ostream& log, const std::atomic<bool>* stop)
      : client_(client),
        options_(options),
        state_(state),
        vector_name_(std::move(vector_name)),
        log_(log),
        stop_(stop) {}

  // Reads every batch of `source` and sends those not acknowledged yet.
  absl::Status Run(ImportSource* source, uint64_t lines_to_send, ImportReport* report);

 private:
  bool Stopping() const { return stop_ != nullptr && stop_->load(); }
  void Sender(Progress* progress);
  // Blocks while the queue is full; false once the import is failing or
  // interrupted.
  bool Push(Job job);
  std::optional<Job> Pop();
  void Fail(absl::Status s);
  absl::Status SaveState(bool force);
  absl::Status ReportBadLines(const SourceBatch& batch, ImportReport* report);

  client::Client* client_;
  const ImportOptions& options_;
  ImportState* state_;
  const std::optional<std::string> vector_name_;
  std::ostream& log_;
  const std::atomic<bool>* stop_;

  absl::Mutex mu_;
  std::deque<Job> queue_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  uint64_t batches_sent_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t points_sent_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex save_mu_;
  Clock::time_point last_save_ ABSL_GUARDED_BY(save_mu_) = Clock::now();
};

void Pipeline::Fail(absl::Status s) {
  absl::MutexLock lock(&mu_);
  if (error_.ok()) error_ = std::move(s);
}

bool Pipeline::Push(Job job) {
  const size_t limit = 2 * static_cast<size_t>(options_.parallel);
  auto room = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return queue_.size() < limit || !error_.ok() || Stopping();
  };
  absl::MutexLock lock(&mu_);
  // Polled, not only awaited: `stop` is set by a signal handler, which
  // cannot wake the mutex.
  while (!mu_.AwaitWithTimeout(absl::Condition(&room), absl::Milliseconds(100))) {
  }
  if (!error_.ok() || Stopping()) return false;
  queue_.push_back(std::move(job));
  return true;
}

std::optional<Job> Pipeline::Pop() {
  auto ready = [&]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || closed_ || !error_.ok() || Stopping();
  };
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&ready), absl::Milliseconds(100))) {
  }
  if (queue_.empty() || !error_.ok() || Stopping()) return std::nullopt;
  Job job = std::move(queue_.front());
  queue_.pop_front();
  return job;
}

absl::Status Pipeline::SaveState(bool force) {
  absl::MutexLock lock(&save_mu_);
  if (!force && Clock::now() - last_save_ < kSaveEvery) return absl::OkStatus();
  last_save_ = Clock::now();
  return state_->Save(options_.StatePath());
}

void Pipeline::Sender(Progress* progress) {
  std::string body;
  while (std::optional<Job> job = Pop()) {
    const SourceBatch& b = job->batch;
    if (!b.points.empty()) {
      body.clear();
      absl::Status s =
          client::AppendUpsertBody(b.points.data(), b.points.size(), vector_name_, &body);
      if (s.ok()) s = client_->UpsertBody(options_.collection, body);
      if (!s.ok()) {
        Fail(absl::Status(s.code(),
                          absl::StrCat("batch ", job->index, " (lines ", b.first_line, "..",
                                       b.first_line + b.lines - 1, "): ", s.message())));
        return;
      }
    }
    state_->Ack(job->index, b.points.size(), b.bad.size());
    progress->Add(b.lines);
    {
      absl::MutexLock lock(&mu_);
      ++batches_sent_;
      points_sent_ += b.points.size();
    }
    if (absl::Status s = SaveState(false); !s.ok()) {
      Fail(s);
      return;
    }
  }
}

absl::Status Pipeline::ReportBadLines(const SourceBatch& batch, ImportReport* report) {
  for (const BadLine& note : batch.replaced) {
    log_ << "cairn import: " << note.file << ":" << note.line << ": " << note.message << "\n";
  }
  for (const BadLine& bad : batch.bad) {
    ++report->bad_lines;
    log_ << "cairn import: " << bad.file << ":" << bad.line << ": " << bad.message
         << (options_.on_error == OnError::kSkip ? " (line skipped)" : "") << "\n";
    if (options_.on_error == OnError::kStop) {
      return absl::InvalidArgumentError(
          absl::StrCat("stopped at the bad line ", bad.file, ":", bad.line,
                       " (--on-error stop); fix it, or rerun with --on-error skip: batches already "
                       "acknowledged are not sent again"));
    }
  }
  log_.flush();
  return absl::OkStatus();
}

absl::Status Pipeline::Run(ImportSource* source, uint64_t lines_to_send, ImportReport* report) {
  Progress progress("import", lines_to_send, "lines", options_.progress);
  std::vector<std::thread> senders;
  for (int i = 0; i < options_.parallel; ++i) {
    senders.emplace_back([this, &progress] { Sender(&progress); });
  }
  const Clock::time_point start = Clock::now();
  // An input error stops the reading, but the batches before it are still
  // sent: a rerun then starts at the bad line.
  absl::Status reader_status;
  for (uint64_t k = 0;; ++k) {
    if (Stopping()) {
      report->interrupted = true;
      break;
    }
    const bool acked = state_->Acked(k);
    Job job{k, {}};
    absl::StatusOr<bool> more = source->Next(options_.batch, !acked, &job.batch);
    if (!more.ok()) {
      reader_status = more.status();
      break;
    }
    if (!*more) break;
    if (acked) continue;
    if (absl::Status s = ReportBadLines(job.batch, report); !s.ok()) {
      reader_status = s;
      break;
    }
    if (!Push(std::move(job))) {
      report->interrupted = Stopping();
      break;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    closed_ = true;
  }
  for (std::thread& t : senders) t.join();
  progress.Finish();
  report->seconds = std::chrono::duration<double>(Clock::now() - start).count();
  report->interrupted = report->interrupted || Stopping();
  absl::Status saved = SaveState(true);
  absl::MutexLock lock(&mu_);
  report->batches_sent = batches_sent_;
  report->points_sent = points_sent_;
  if (!error_.ok()) return error_;
  if (!reader_status.ok()) return reader_status;
  return saved;
}

// The collection's vector name (set for a named vector); creates the
// collection with --create when it is missing.
absl::StatusOr<std::optional<std::string>> PrepareCollection(client::Client* client,
                                                             const ImportOptions& o,
                                                             ImportSource* source,
                                                             std::ostream& log) {
  CAIRN_ASSIGN_OR_RETURN(bool exists, client->CollectionExists(o.collection));
  if (!exists) {
    if (!o.create) {
      return absl::NotFoundError(
          absl::StrCat("collection ", o.collection, " does not exist (--create makes it)"));
    }
    if (source->first_dim() == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          o.inputs.input, ": no readable record to take the collection's dimension from"));
    }
    absl::Status created = client->CreateCollection(
        o.collection, {.dim = source->first_dim(), .distance = o.distance});
    if (!created.ok() && !absl::IsAlreadyExists(created)) return created;
    log << "cairn import: created collection " << o.collection << " (" << source->first_dim()
        << " dims, " << client::DistanceName(o.distance) << ")\n";
  }
  CAIRN_ASSIGN_OR_RETURN(client::CollectionInfo info, client->GetCollection(o.collection));
  source->set_collection(info.dim, info.distance == client::Distance::kCosine);
  if (source->first_dim() != 0 && source->first_dim() != info.dim) {
    return absl::InvalidArgumentError(absl::StrCat(o.inputs.input, " has vectors of ",
                                                   source->first_dim(), " numbers, collection ",
                                                   o.collection, " takes ", info.dim));
  }
  return info.vector_name;
}

// The state of an earlier run of this job, or a new one (saved at once:
// it records the collection's count before anything is sent).
absl::StatusOr<ImportState> LoadOrStartState(client::Client* client, const ImportOptions& o,
                                             uint64_t batches, std::ostream& log) {
  std::vector<std::string> inputs = {o.inputs.input};
  for (const std::string* side : {&o.inputs.payloads, &o.inputs.ids}) {
    if (!side->empty()) inputs.push_back(*side);
  }
  CAIRN_ASSIGN_OR_RETURN(uint64_t fingerprint, ImportJobFingerprint(inputs, o.collection, o.batch));
  const std::string path = o.StatePath();
  absl::StatusOr<ImportState> old = ImportState::Load(path);
  if (old.ok() && old->Matches(fingerprint, o.batch, batches)) {
    log << "cairn import: resuming from " << path << ": " << old->Totals().acked_batches << " of "
        << batches << " batches were acknowledged before\n";
    return old;
  }
  if (old.ok()) {
    log << "cairn import: " << path << " is the state of another import (other inputs, "
        << "collection or batch size); starting over\n";
  } else if (!absl::IsNotFound(old.status())) {
    log << "cairn import: " << old.status().message() << "; starting over\n";
  }
  CAIRN_ASSIGN_OR_RETURN(uint64_t before, client->Count(o.collection));
  ImportState state(fingerprint, o.batch, batches, before);
  CAIRN_RETURN_IF_ERROR(state.Save(path));
  return state;
}

}  // namespace

absl::Status ImportOptions::Validate() const {
  if (collection.empty()) return absl::InvalidArgumentError("--collection is required");
  if (inputs.input.empty()) return absl::InvalidArgumentError("--input is required");
  if (batch == 0 || batch > 100000) return absl::InvalidArgumentError("--batch must be 1..100000");
  if (parallel < 1 || parallel > 64) return absl::InvalidArgumentError("--parallel must be 1..64");
  if (timeout.count() <= 0) return absl::InvalidArgumentError("the timeout must be positive");
  return absl::OkStatus();
}

std::string ImportOptions::StatePath() const {
  return state_path.empty() ? absl::StrCat(".cairn-import-", collection, ".state") : state_path;
}

absl::StatusOr<ImportReport> RunImport(const ImportOptions& o, std::ostream& log,
                                       const std::atomic<bool>* stop) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  CAIRN_ASSIGN_OR_RETURN(
      std::unique_ptr<client::Client> client,
      client::Client::Create({.url = o.url,
                              .api_key = o.api_key,
                              .timeout = o.timeout,
                              .max_idle_connections = static_cast<size_t>(o.parallel)}));
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<ImportSource> source, ImportSource::Open(o.inputs));
  CAIRN_ASSIGN_OR_RETURN(std::optional<std::string> vector_name,
                         PrepareCollection(client.get(), o, source.get(), log));
  ImportReport report;
  report.lines = source->lines();
  report.batches = (report.lines + o.batch - 1) / o.batch;
  CAIRN_ASSIGN_OR_RETURN(ImportState state, LoadOrStartState(client.get(), o, report.batches, log));
  const ImportProgressTotals before = state.Totals();
  report.batches_before = before.acked_batches;
  report.bad_lines_before = before.acked_bad_lines;
  uint64_t lines_to_send = 0;
  for (uint64_t k = 0; k < report.batches; ++k) {
    if (!state.Acked(k)) lines_to_send += std::min<uint64_t>(o.batch, report.lines - k * o.batch);
  }
  Pipeline pipeline(client.get(), o, &state, vector_name, log, stop);
  CAIRN_RETURN_IF_ERROR(pipeline.Run(source.get(), lines_to_send, &report));
  const ImportProgressTotals totals = state.Totals();
  report.complete = totals.acked_batches == report.batches;
  if (report.interrupted || !report.complete) return report;
  report.points_before = state.points_before();
  report.expected_count = state.points_before() + totals.acked_points;
  CAIRN_ASSIGN_OR_RETURN(report.server_count, client->Count(o.collection));
  report.count_ok = report.server_count == report.expected_count;
  if (report.count_ok) {
    // Done and verified: a later run of the same command starts afresh.
    CAIRN_RETURN_IF_ERROR(Env::Default()->RemoveFile(o.StatePath()));
  }
  return report;
}

}  // namespace cairn
