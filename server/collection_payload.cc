// Collection's payload indexes (collection.h, "Payload indexes"): keeping
// them in step with writes, building one on request, and the reads that
// use their candidates.
#include <algorithm>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "server/collection.h"
#include "server/filter_plan.h"
#include "server/point_id.h"

namespace cairn {

namespace {

nlohmann::json PayloadOf(const std::string& stored) {
  if (stored.empty()) return nlohmann::json::object();
  nlohmann::json j = nlohmann::json::parse(stored, nullptr, false);
  return j.is_discarded() ? nlohmann::json::object() : j;
}

}  // namespace

Filter Collection::BindFilter(const Filter& f) const {
  if (f.empty() || !payload_index_->has_fields()) return f;
  return BindTextIndexes(f, *payload_index_);
}

std::optional<PayloadIndex::Keys> Collection::Candidates(const Filter& f) const {
  if (f.empty()) return std::nullopt;
  return PlanCandidates(f, *payload_index_);
}

void Collection::IndexPayloads(const std::vector<PointStore::Put>& puts,
                               const std::vector<std::string>& deletes) const {
  if (!payload_index_->has_fields()) return;
  for (const auto& [key, rec] : puts) payload_index_->Update(key, PayloadOf(rec.payload));
  for (const std::string& key : deletes) payload_index_->Erase(key);
}

absl::Status Collection::LoadPayloadIndex() {
  CAIRN_ASSIGN_OR_RETURN(auto fields, ReadPayloadSchemaFile(env_, dir_));
  if (fields.empty()) return absl::OkStatus();
  for (const auto& [name, schema] : fields) {
    CAIRN_RETURN_IF_ERROR(payload_index_->AddField(name, schema));
  }
  absl::Status status;
  points_->ForEachKey([&](const std::string& key) {
    auto rec = points_->Get(key);
    if (!rec.ok()) {
      status = rec.status();
      return false;
    }
    if (rec->has_value()) payload_index_->Update(key, PayloadOf((*rec)->payload));
    return true;
  });
  for (const auto& [name, schema] : fields) payload_index_->PublishField(name);
  return status;
}

absl::Status Collection::CreateFieldIndex(const std::string& field,
                                          const PayloadFieldSchema& schema) {
  absl::MutexLock lock(&write_mu_);
  auto before = payload_index_->schema();
  if (auto it = before.find(field); it != before.end() && it->second == schema) {
    return absl::OkStatus();
  }
  CAIRN_RETURN_IF_ERROR(payload_index_->AddField(field, schema));
  // Writes wait (write_mu_), so every point is read once, in its state at
  // the end; searches go on without the field until it is published.
  absl::Status status;
  points_->ForEachKey([&](const std::string& key) {
    auto rec = points_->Get(key);
    if (!rec.ok()) {
      status = rec.status();
      return false;
    }
    if (rec->has_value()) payload_index_->FillField(field, key, PayloadOf((*rec)->payload));
    return true;
  });
  if (status.ok()) status = WritePayloadSchemaFile(env_, dir_, payload_index_->schema());
  if (!status.ok()) {
    payload_index_->DropField(field);
    return status;
  }
  payload_index_->PublishField(field);
  return absl::OkStatus();
}

absl::Status Collection::DeleteFieldIndex(const std::string& field) {
  absl::MutexLock lock(&write_mu_);
  auto fields = payload_index_->schema();
  if (fields.erase(field) == 0) return absl::OkStatus();
  CAIRN_RETURN_IF_ERROR(WritePayloadSchemaFile(env_, dir_, fields));
  payload_index_->DropField(field);
  return absl::OkStatus();
}

absl::Status Collection::ForEachCandidate(const PayloadIndex::Keys& keys, std::string_view start,
                                          const Filter& f,
                                          const std::function<bool(PointData&)>& fn) const {
  for (auto it = std::lower_bound(keys.begin(), keys.end(), start); it != keys.end(); ++it) {
    CAIRN_ASSIGN_OR_RETURN(std::optional<PointRecord> rec, points_->Get(*it));
    filter_points_read_.fetch_add(1, std::memory_order_relaxed);
    if (!rec.has_value()) continue;  // deleted since the lookup
    CAIRN_ASSIGN_OR_RETURN(ExternalId id, FromStoreKey(*it));
    CAIRN_ASSIGN_OR_RETURN(PointData p, DecodePointRecord(id, *rec, config_));
    if (!f.Matches(ToFilterId(id), p.payload)) continue;
    if (!fn(p)) break;
  }
  return absl::OkStatus();
}

absl::Status Collection::ScrollOrdered(const OrderBy& order, uint32_t limit, const Filter& unbound,
                                       std::vector<PointData>* out,
                                       std::vector<double>* values) const {
  out->clear();
  values->clear();
  if (limit == 0) return absl::OkStatus();
  const Filter filter = BindFilter(unbound);
  absl::flat_hash_set<std::string> seen;
  absl::Status status;
  CAIRN_RETURN_IF_ERROR(payload_index_->OrderedScan(
      order.key, order.descending, order.start_from, [&](double value, const std::string& key) {
        if (!seen.insert(key).second) return true;
        auto rec = points_->Get(key);
        auto id = FromStoreKey(key);
        if (!rec.ok() || !id.ok()) {
          status = !rec.ok() ? rec.status() : id.status();
          return false;
        }
        if (!rec->has_value()) return true;
        auto p = DecodePointRecord(*id, **rec, config_);
        if (!p.ok()) {
          status = p.status();
          return false;
        }
        if (!filter.empty() && !filter.Matches(ToFilterId(*id), p->payload)) return true;
        out->push_back(std::move(*p));
        values->push_back(value);
        return out->size() < limit;
      }));
  return status;
}

}  // namespace cairn
