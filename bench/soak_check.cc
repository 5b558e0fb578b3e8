#include "bench/soak_check.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status_macros.h"

namespace cairn {

using nlohmann::json;

namespace {

constexpr auto kSettlePoll = std::chrono::milliseconds(500);
constexpr auto kSettleLimit = std::chrono::seconds(30);
constexpr size_t kMaxNotTop = 20;

}  // namespace

absl::StatusOr<json> SoakCall(client::HttpConnection& conn, const char* method,
                              const std::string& target, const std::string& body,
                              std::chrono::milliseconds timeout) {
  CAIRN_ASSIGN_OR_RETURN(client::HttpResponse res, conn.Request(method, target, body, {}, timeout));
  if (res.status < 200 || res.status >= 300) {
    return absl::FailedPreconditionError(
        absl::StrCat(method, " ", target, ": HTTP ", res.status, " ", res.body.substr(0, 300)));
  }
  json j = json::parse(res.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("result")) {
    return absl::DataLossError(
        absl::StrCat(method, " ", target, ": unreadable answer ", res.body.substr(0, 300)));
  }
  return std::move(j["result"]);
}

absl::StatusOr<uint64_t> SoakPointsCount(client::HttpConnection& conn, const std::string& name) {
  CAIRN_ASSIGN_OR_RETURN(json info, SoakCall(conn, "GET", "/collections/" + name));
  if (!info.is_object() || !info.contains("points_count") ||
      !info["points_count"].is_number_unsigned()) {
    return absl::DataLossError("collection info without points_count: " + info.dump());
  }
  return info["points_count"].get<uint64_t>();
}

absl::Status CheckSoakConsistency(client::HttpConnection& conn, const SoakOptions& o,
                                  const std::vector<std::unique_ptr<SoakWorker>>& workers,
                                  uint64_t baseline, SoakConsistency* c) {
  uint64_t live = 0, unknown = 0;
  std::vector<std::pair<const SoakWorker*, uint32_t>> live_points;
  for (const auto& w : workers) {
    for (uint32_t s = 0; s < w->slots(); ++s) {
      if (w->state(s) == SoakWorker::PointState::kLive) {
        ++live;
        live_points.emplace_back(w.get(), s);
      } else if (w->state(s) == SoakWorker::PointState::kUnknown) {
        ++unknown;
      }
    }
  }
  c->expected_min = baseline + live;
  c->expected_max = c->expected_min + unknown;

  // Every write was acknowledged with wait=true, but a server may apply
  // some asynchronously: poll until the count is in range or stops moving.
  const auto give_up = std::chrono::steady_clock::now() + kSettleLimit;
  int64_t previous = -1;
  while (true) {
    CAIRN_ASSIGN_OR_RETURN(uint64_t n, SoakPointsCount(conn, o.collection));
    c->points_count = static_cast<int64_t>(n);
    c->count_ok = n >= c->expected_min && n <= c->expected_max;
    if (c->count_ok || c->points_count == previous || std::chrono::steady_clock::now() > give_up) {
      break;
    }
    previous = c->points_count;
    std::this_thread::sleep_for(kSettlePoll);
  }

  // A partial Fisher-Yates shuffle picks the sample without repeats.
  Rng rng(Rng::Mix(o.seed, 0x636865636bull));
  const size_t k = std::min<size_t>(o.verify_sample, live_points.size());
  for (size_t i = 0; i < k; ++i) {
    std::swap(live_points[i], live_points[i + rng.Below(live_points.size() - i)]);
  }
  const std::string target = absl::StrCat("/collections/", o.collection, "/points/search");
  for (size_t i = 0; i < k; ++i) {
    const auto [w, slot] = live_points[i];
    const uint64_t id = w->IdOf(slot);
    json body = {{"vector", SoakVector(o.seed, id, w->version(slot), o.dim)}, {"limit", 10}};
    CAIRN_ASSIGN_OR_RETURN(json hits, SoakCall(conn, "POST", target, body.dump()));
    ++c->sampled;
    if (hits.is_array() && !hits.empty() && hits[0].is_object() &&
        hits[0].value("id", json()) == json(id)) {
      ++c->top_hits;
    } else if (c->not_top.size() < kMaxNotTop) {
      c->not_top.push_back(id);
    }
  }
  return absl::OkStatus();
}

void JudgeSoak(SoakReport* report) {
  uint64_t e5xx = 0, transport = 0;
  for (const SoakOpStats& s : report->ops) {
    e5xx += s.errors_5xx;
    transport += s.errors_transport;
  }
  auto& f = report->failures;
  if (e5xx > 0) f.push_back(absl::StrCat(e5xx, " requests answered with a server error"));
  if (transport > 0) f.push_back(absl::StrCat(transport, " requests got no usable answer"));
  const SoakConsistency& c = report->consistency;
  if (!c.count_ok) {
    f.push_back(absl::StrCat("points_count is ", c.points_count, ", expected ",
                             c.expected_min == c.expected_max
                                 ? absl::StrCat(c.expected_min)
                                 : absl::StrCat(c.expected_min, "..", c.expected_max)));
  }
  if (c.top_hits < c.sampled) {
    f.push_back(absl::StrCat(c.sampled - c.top_hits, " of ", c.sampled,
                             " sampled live points were not the top hit of a search with their "
                             "own vector"));
  }
  if (c.sampled == 0 && report->options.verify_sample > 0) {
    f.push_back("no live point to sample: no upsert was acknowledged");
  }
  if (c.retrieve_mismatches > 0) {
    f.push_back(
        absl::StrCat(c.retrieve_mismatches, " retrieves disagreed with acknowledged writes"));
  }
}

}  // namespace cairn
