#include "bench/soak_worker.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/soak_check.h"
#include "common/status_macros.h"

namespace cairn {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// Share of each operation in the mix, in SoakOp order: mostly reads, with
// enough writes to keep the index splitting and merging.
constexpr std::array<uint32_t, kSoakOps> kWeights = {25, 30, 15, 10, 15, 5};
constexpr uint32_t kSearchLimit = 10;
constexpr uint32_t kScrollLimit = 64;
constexpr uint32_t kRetrieveIds = 8;
constexpr size_t kMaxNotedErrors = 20;
constexpr auto kTransportBackoff = std::chrono::milliseconds(50);

uint64_t PointSeed(uint64_t seed, uint64_t id, uint32_t version) {
  return Rng::Mix(Rng::Mix(seed, id), version);
}

}  // namespace

std::vector<float> SoakVector(uint64_t seed, uint64_t id, uint32_t version, uint32_t dim) {
  Rng rng(PointSeed(seed, id, version));
  std::vector<float> v(dim);
  for (float& x : v) x = static_cast<float>(rng.Gaussian());
  return v;
}

json SoakPayload(uint64_t seed, uint64_t id, uint32_t version) {
  Rng rng(
      PointSeed(seed ^ 0x5041594C4F4144ull, id, version));  // "PAYLOAD": not the vector's stream
  return json{{"kind", kSoakKinds[rng.Below(kSoakKinds.size())]},
              {"n", static_cast<int64_t>(rng.Below(kSoakMaxN))},
              {"v", version}};
}

void SoakShared::NoteError(std::string message) {
  absl::MutexLock lock(&mu);
  if (first_errors.size() < kMaxNotedErrors) first_errors.push_back(std::move(message));
}

SoakWorker::SoakWorker(const SoakOptions& options, int index,
                       std::unique_ptr<client::HttpConnection> conn, SoakShared* shared)
    : options_(options),
      index_(index),
      conn_(std::move(conn)),
      shared_(shared),
      rng_(Rng::Mix(options.seed, 1000 + index)),
      points_path_(absl::StrCat("/collections/", options.collection, "/points")),
      state_(options.ids_per_connection, PointState::kDead),
      version_(options.ids_per_connection, 0) {}

uint64_t SoakWorker::IdOf(uint32_t slot) const {
  return 1 + static_cast<uint64_t>(index_) * options_.ids_per_connection + slot;
}

void SoakWorker::Run(const std::atomic<bool>& stop) {
  while (!stop.load(std::memory_order_relaxed)) {
    switch (PickOp()) {
      case SoakOp::kUpsert:
        Upsert();
        break;
      case SoakOp::kSearch:
        Search(false);
        break;
      case SoakOp::kFilteredSearch:
        Search(true);
        break;
      case SoakOp::kScroll:
        Scroll();
        break;
      case SoakOp::kDelete:
        Delete();
        break;
      case SoakOp::kRetrieve:
        Retrieve();
        break;
    }
  }
}

SoakOp SoakWorker::PickOp() {
  uint32_t total = 0;
  for (uint32_t w : kWeights) total += w;
  uint32_t r = static_cast<uint32_t>(rng_.Below(total));
  for (int i = 0; i < kSoakOps; ++i) {
    if (r < kWeights[i]) return static_cast<SoakOp>(i);
    r -= kWeights[i];
  }
  return SoakOp::kSearch;
}

SoakWorker::Outcome SoakWorker::Call(SoakOp op, const char* method, const std::string& target,
                                     const std::string& body, json* result) {
  const int i = static_cast<int>(op);
  const auto t0 = Clock::now();
  absl::StatusOr<client::HttpResponse> res =
      conn_->Request(method, target, body, {}, options_.request_timeout);
  latencies_ms_[i].push_back(Nanos(t0, Clock::now()) / 1e6);
  ++stats_[i].requests;
  shared_->requests[i].fetch_add(1, std::memory_order_relaxed);
  if (!res.ok()) {
    ++stats_[i].errors_transport;
    shared_->NoteError(absl::StrCat(SoakOpName(op), ": ", res.status().ToString()));
    // A server that went away refuses connections at once: do not spin.
    std::this_thread::sleep_for(kTransportBackoff);
    return Outcome::kTransport;
  }
  // Anything but 2xx and 4xx (a 3xx, a 1xx) is a server fault too: nothing
  // in this workload should be redirected.
  if (res->status >= 500 || res->status < 200 || (res->status >= 300 && res->status < 400)) {
    ++stats_[i].errors_5xx;
    shared_->NoteError(
        absl::StrCat(SoakOpName(op), ": HTTP ", res->status, " ", res->body.substr(0, 300)));
    return Outcome::k5xx;
  }
  if (res->status >= 400) {
    ++stats_[i].errors_4xx;
    shared_->NoteError(
        absl::StrCat(SoakOpName(op), ": HTTP ", res->status, " ", res->body.substr(0, 300)));
    return Outcome::k4xx;
  }
  if (result != nullptr) {
    json parsed = json::parse(res->body, nullptr, /*allow_exceptions=*/false);
    if (!parsed.is_object() || !parsed.contains("result")) {
      ++stats_[i].errors_transport;
      shared_->NoteError(
          absl::StrCat(SoakOpName(op), ": unreadable answer ", res->body.substr(0, 300)));
      return Outcome::kTransport;
    }
    *result = std::move(parsed["result"]);
  }
  return Outcome::kOk;
}

std::vector<uint32_t> SoakWorker::PickSlots(uint32_t n, bool prefer_live) {
  std::vector<uint32_t> slots;
  for (uint32_t tries = 0; slots.size() < n && tries < 4 * n; ++tries) {
    const uint32_t s = static_cast<uint32_t>(rng_.Below(state_.size()));
    if (std::find(slots.begin(), slots.end(), s) != slots.end()) continue;
    // Deletes look for live points first, so that most of them remove one.
    if (prefer_live && state_[s] == PointState::kDead && tries < 3 * n) continue;
    slots.push_back(s);
  }
  return slots;
}

std::vector<float> SoakWorker::RandomQuery() {
  std::vector<float> q(options_.dim);
  for (float& x : q) x = static_cast<float>(rng_.Gaussian());
  return q;
}

// The next version of each slot's point, as an upsert's "points".
json SoakWorker::PointsOf(const std::vector<uint32_t>& slots) const {
  json points = json::array();
  for (uint32_t s : slots) {
    const uint32_t v = version_[s] + 1;
    points.push_back({{"id", IdOf(s)},
                      {"vector", SoakVector(options_.seed, IdOf(s), v, options_.dim)},
                      {"payload", SoakPayload(options_.seed, IdOf(s), v)}});
  }
  return points;
}

absl::Status SoakWorker::Prefill(uint32_t batch) {
  for (uint32_t first = 0; first < state_.size(); first += batch) {
    std::vector<uint32_t> slots;
    for (uint32_t s = first; s < std::min<size_t>(state_.size(), first + batch); ++s) {
      slots.push_back(s);
    }
    // A failed prefill leaves the states unknown; the run is abandoned.
    // Bulk writes wait while the index splits its first postings: the
    // server's pace, not a failure.
    CAIRN_RETURN_IF_ERROR(SoakCall(*conn_, "PUT", points_path_ + "?wait=true",
                                   json{{"points", PointsOf(slots)}}.dump(), std::chrono::minutes(10))
                              .status());
    for (uint32_t s : slots) {
      ++version_[s];
      state_[s] = PointState::kLive;
    }
  }
  return absl::OkStatus();
}

void SoakWorker::Upsert() {
  const std::vector<uint32_t> slots = PickSlots(options_.upsert_batch, false);
  const Outcome o = Call(SoakOp::kUpsert, "PUT", points_path_ + "?wait=true",
                         json{{"points", PointsOf(slots)}}.dump(), nullptr);
  if (o == Outcome::k4xx) return;  // refused: nothing was written
  for (uint32_t s : slots) {
    ++version_[s];
    state_[s] = o == Outcome::kOk ? PointState::kLive : PointState::kUnknown;
  }
}

void SoakWorker::Delete() {
  const std::vector<uint32_t> slots = PickSlots(options_.delete_batch, true);
  json ids = json::array();
  for (uint32_t s : slots) ids.push_back(IdOf(s));
  const Outcome o = Call(SoakOp::kDelete, "POST", points_path_ + "/delete?wait=true",
                         json{{"points", std::move(ids)}}.dump(), nullptr);
  if (o == Outcome::k4xx) return;
  for (uint32_t s : slots) {
    if (o == Outcome::kOk) {
      state_[s] = PointState::kDead;
    } else if (state_[s] != PointState::kDead) {
      state_[s] = PointState::kUnknown;
    }
  }
}

void SoakWorker::Search(bool filtered) {
  json body = {{"vector", RandomQuery()}, {"limit", kSearchLimit}};
  if (filtered) {
    const int64_t lo = static_cast<int64_t>(rng_.Below(kSoakMaxN));
    body["filter"] = {
        {"must",
         {{{"key", "kind"}, {"match", {{"value", kSoakKinds[rng_.Below(kSoakKinds.size())]}}}},
          {{"key", "n"}, {"range", {{"gte", lo}, {"lt", lo + kSoakMaxN / 4}}}}}}};
  }
  (void)Call(filtered ? SoakOp::kFilteredSearch : SoakOp::kSearch, "POST", points_path_ + "/search",
             body.dump(), nullptr);
}

void SoakWorker::Scroll() {
  json body = {{"limit", kScrollLimit}, {"with_payload", true}, {"with_vector", false}};
  if (scroll_offset_.has_value()) body["offset"] = *scroll_offset_;
  json result;
  if (Call(SoakOp::kScroll, "POST", points_path_ + "/scroll", body.dump(), &result) !=
      Outcome::kOk) {
    scroll_offset_.reset();
    return;
  }
  const json* next = result.is_object() && result.contains("next_page_offset")
                         ? &result["next_page_offset"]
                         : nullptr;
  if (next == nullptr || next->is_null()) {
    scroll_offset_.reset();  // the last page: start over
  } else {
    scroll_offset_ = *next;
  }
}

void SoakWorker::Retrieve() {
  const std::vector<uint32_t> slots = PickSlots(kRetrieveIds, false);
  json ids = json::array();
  for (uint32_t s : slots) ids.push_back(IdOf(s));
  json result;
  if (Call(SoakOp::kRetrieve, "POST", points_path_,
           json{{"ids", std::move(ids)}, {"with_payload", true}}.dump(), &result) != Outcome::kOk) {
    return;
  }
  // Only this thread writes these ids and every write it made was
  // acknowledged before this request: the answer must show exactly them.
  std::vector<std::pair<uint64_t, int64_t>> got;  // id, payload version (-1: none)
  if (result.is_array()) {
    for (const json& p : result) {
      if (!p.is_object() || !p.contains("id") || !p["id"].is_number_unsigned()) continue;
      const json* v = p.contains("payload") && p["payload"].is_object() &&
                              p["payload"].contains("v") && p["payload"]["v"].is_number_integer()
                          ? &p["payload"]["v"]
                          : nullptr;
      got.emplace_back(p["id"].get<uint64_t>(), v != nullptr ? v->get<int64_t>() : -1);
    }
  }
  bool mismatch = false;
  for (uint32_t s : slots) {
    if (state_[s] == PointState::kUnknown) continue;
    auto it =
        std::find_if(got.begin(), got.end(), [&](const auto& g) { return g.first == IdOf(s); });
    const bool live = state_[s] == PointState::kLive;
    if (live != (it != got.end()) || (live && it->second != version_[s])) mismatch = true;
  }
  if (mismatch) {
    ++retrieve_mismatches_;
    shared_->NoteError(absl::StrCat("retrieve: answer disagrees with acknowledged writes: ",
                                    result.dump().substr(0, 300)));
  }
}

}  // namespace cairn
