// One client thread of `cairn bench soak` (bench/soak_bench.h): its own
// connection, its own partition of point ids, the state of each of its
// points as acknowledged by the server, and its measurements.
#ifndef CAIRN_BENCH_SOAK_WORKER_H_
#define CAIRN_BENCH_SOAK_WORKER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "bench/soak_bench.h"
#include "client/cpp/http_connection.h"
#include "common/random.h"
#include "nlohmann/json.hpp"

namespace cairn {

// The content of version `version` of point `id`: a function of the seed, so
// the check at the end regenerates a vector instead of keeping it.
std::vector<float> SoakVector(uint64_t seed, uint64_t id, uint32_t version, uint32_t dim);
nlohmann::json SoakPayload(uint64_t seed, uint64_t id, uint32_t version);
// The keyword values of the payload's "kind"; "n" is in [0, kSoakMaxN).
inline constexpr std::array<const char*, 4> kSoakKinds = {"red", "green", "blue", "amber"};
inline constexpr int64_t kSoakMaxN = 1000;

// What the workers share with the sampling thread. Thread-safe.
struct SoakShared {
  std::array<std::atomic<uint64_t>, kSoakOps> requests{};  // for requests/s lines
  absl::Mutex mu;
  std::vector<std::string> first_errors ABSL_GUARDED_BY(mu);
  void NoteError(std::string message);
};

class SoakWorker {
 public:
  enum class PointState : uint8_t { kDead, kLive, kUnknown };  // kUnknown: last write failed

  SoakWorker(const SoakOptions& options, int index, std::unique_ptr<client::HttpConnection> conn,
             SoakShared* shared);

  // Writes version 1 of every id of this worker, `batch` per request, outside
  // the measurements. Call before Run, from one thread.
  absl::Status Prefill(uint32_t batch);
  // Issues requests until *stop. Call from one thread, once.
  void Run(const std::atomic<bool>& stop);

  // Results, read after Run returned.
  const std::array<SoakOpStats, kSoakOps>& stats() const { return stats_; }
  std::array<std::vector<double>, kSoakOps>& latencies_ms() { return latencies_ms_; }
  uint64_t retrieve_mismatches() const { return retrieve_mismatches_; }
  uint32_t slots() const { return static_cast<uint32_t>(state_.size()); }
  PointState state(uint32_t slot) const { return state_[slot]; }
  uint32_t version(uint32_t slot) const { return version_[slot]; }
  uint64_t IdOf(uint32_t slot) const;

 private:
  enum class Outcome { kOk, k4xx, k5xx, kTransport };
  // Sends one request of kind `op`, timing and classifying it; the body of
  // a 2xx answer is parsed into *result when result is not null (a body
  // that does not parse counts as a transport error).
  Outcome Call(SoakOp op, const char* method, const std::string& target, const std::string& body,
               nlohmann::json* result);
  SoakOp PickOp();
  std::vector<uint32_t> PickSlots(uint32_t n, bool prefer_live);
  std::vector<float> RandomQuery();
  nlohmann::json PointsOf(const std::vector<uint32_t>& slots) const;
  void Upsert();
  void Delete();
  void Search(bool filtered);
  void Scroll();
  void Retrieve();

  const SoakOptions& options_;
  const int index_;
  std::unique_ptr<client::HttpConnection> conn_;
  SoakShared* shared_;
  Rng rng_;
  std::string points_path_;  // /collections/NAME/points
  std::vector<PointState> state_;
  std::vector<uint32_t> version_;                // the last version written to each slot
  std::optional<nlohmann::json> scroll_offset_;  // null: the next scroll starts over
  std::array<SoakOpStats, kSoakOps> stats_{};
  std::array<std::vector<double>, kSoakOps> latencies_ms_;
  uint64_t retrieve_mismatches_ = 0;
};

}  // namespace cairn

#endif  // CAIRN_BENCH_SOAK_WORKER_H_
