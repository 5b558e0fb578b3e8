#include "index/routing/posting_budget.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "storage/coding.h"
#include "storage/record_file.h"
#include "storage/checksum.h"

namespace cairn {
namespace {

constexpr uint32_t kRatioRanks[PostingBudget::kNumFeatures] = {2, 4, 8, 16};

// Little-endian appenders and a bounds-checked reader for the body.
void PutU32(uint32_t v, std::string* out) {
  uint8_t b[4];
  EncodeFixed32(b, v);
  out->append(reinterpret_cast<const char*>(b), 4);
}
void PutU64(uint64_t v, std::string* out) {
  uint8_t b[8];
  EncodeFixed64(b, v);
  out->append(reinterpret_cast<const char*>(b), 8);
}
void PutF64(double v, std::string* out) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  PutU64(bits, out);
}

class BodyReader {
 public:
  explicit BodyReader(std::string_view body) : body_(body) {}
  bool U32(uint32_t* v) {
    if (body_.size() - at_ < 4) return false;
    *v = DecodeFixed32(reinterpret_cast<const uint8_t*>(body_.data()) + at_);
    at_ += 4;
    return true;
  }
  bool U64(uint64_t* v) {
    if (body_.size() - at_ < 8) return false;
    *v = DecodeFixed64(reinterpret_cast<const uint8_t*>(body_.data()) + at_);
    at_ += 8;
    return true;
  }
  bool F64(double* v) {
    uint64_t bits;
    if (!U64(&bits)) return false;
    std::memcpy(v, &bits, 8);
    return std::isfinite(*v);
  }
  bool F64s(size_t n, std::vector<double>* v) {
    v->resize(n);
    for (double& x : *v) {
      if (!F64(&x)) return false;
    }
    return true;
  }
  bool done() const { return at_ == body_.size(); }

 private:
  std::string_view body_;
  size_t at_ = 0;
};

// Corrupt-but-checksummed bodies (a writer bug, or a crafted file) must not
// reach the searcher: every count and order is checked.
absl::Status CheckShape(const PostingBudget& b, const std::string& where) {
  auto bad = [&](const char* what) {
    return absl::DataLossError(absl::StrCat(where, ": posting budget ", what));
  };
  if (b.k() == 0 || b.prefix() == 0 || b.tables().empty()) return bad("has no tables");
  double last = 0;
  for (const PostingBudget::Table& t : b.tables()) {
    if (!(t.target > last && t.target <= 1.0)) return bad("targets are not ascending in (0, 1]");
    last = t.target;
    if (t.counts.size() != b.buckets()) return bad("has a table of the wrong size");
    for (double n : t.counts) {
      if (!(n >= 1 && n <= b.prefix())) return bad("gives a count outside [1, prefix]");
    }
  }
  return absl::OkStatus();
}

// Standard error of the mean per-query recall under `rule`.
double RecallStandardError(const BudgetRule& rule, const std::vector<RouteObservation>& calib) {
  if (calib.size() < 2) return 0;
  double sum = 0, sum2 = 0;
  for (const RouteObservation& q : calib) {
    const double r = RecallAt(q, rule.Budget(q.features));
    sum += r;
    sum2 += r * r;
  }
  const double n = static_cast<double>(calib.size());
  const double var = std::max(0.0, (sum2 - sum * sum / n) / (n - 1));
  return std::sqrt(var / n);
}

}  // namespace

absl::Status PostingBudgetOptions::Validate() const {
  if (targets.empty()) return absl::InvalidArgumentError("no recall targets to calibrate");
  for (double t : targets) {
    if (!(t > 0 && t <= 1)) return absl::InvalidArgumentError("recall targets lie in (0, 1]");
  }
  if (buckets == 0 || buckets > 64) return absl::InvalidArgumentError("buckets in [1, 64]");
  if (prefix == 0 || k == 0) return absl::InvalidArgumentError("prefix and k must be positive");
  if (!(margin_z >= 0 && margin_z <= 10)) return absl::InvalidArgumentError("margin_z in [0, 10]");
  return absl::OkStatus();
}

void PostingBudget::Features(const float* distances, size_t n, double out[kNumFeatures]) {
  for (size_t f = 0; f < kNumFeatures; ++f) {
    if (n == 0) {
      out[f] = 1.0;
      continue;
    }
    const float dk = distances[std::min<size_t>(kRatioRanks[f] - 1, n - 1)];
    out[f] = dk > 0 ? distances[0] / dk : 1.0;
  }
}

absl::StatusOr<PostingBudget> PostingBudget::Fit(const std::vector<RouteObservation>& calib,
                                                 const PostingBudgetOptions& o) {
  CAIRN_RETURN_IF_ERROR(o.Validate());
  if (calib.empty()) return absl::InvalidArgumentError("no calibration queries");
  std::vector<size_t> features;
  if (o.use_features) {
    for (size_t f = 0; f < kNumFeatures; ++f) features.push_back(f);
  }
  PostingBudget b;
  b.k_ = o.k;
  b.head_ef_ = o.head_ef;
  b.prefix_ = o.prefix;
  b.num_vectors_ = o.num_vectors;
  b.calib_queries_ = static_cast<uint32_t>(calib.size());
  std::vector<double> targets = o.targets;
  std::sort(targets.begin(), targets.end());
  targets.erase(std::unique(targets.begin(), targets.end()), targets.end());
  BudgetOptions fit;
  fit.buckets = o.buckets;
  fit.max_postings = o.prefix;
  for (double target : targets) {
    fit.target = target;
    absl::StatusOr<BudgetRule> rule = CalibrateBudget(calib, features, fit);
    if (!rule.ok()) break;  // this target and the ones above are out of reach
    // The calibration queries are a sample: aim above the target by z
    // standard errors of their mean recall, so that the recall of other
    // queries from the same distribution reaches it with ~97% confidence
    // (z = 2) rather than half the time.
    const double se = RecallStandardError(*rule, calib);
    if (o.margin_z > 0 && se > 0 && target < 1.0) {
      fit.target = std::min(1.0, target + o.margin_z * se);
      absl::StatusOr<BudgetRule> safer = CalibrateBudget(calib, features, fit);
      if (safer.ok()) rule = std::move(safer);
    }
    // The score and buckets do not depend on the target (they are fitted to
    // log(postings needed)), so every rule shares the first one's.
    if (b.tables_.empty()) {
      b.mean_ = rule->mean;
      b.scale_ = rule->scale;
      b.coef_ = features.empty() ? std::vector<double>{} : rule->coef;
      b.bounds_ = rule->bounds;
    }
    Table t;
    t.target = target;
    t.counts = rule->fractional.empty()
                   ? std::vector<double>(rule->budget.begin(), rule->budget.end())
                   : rule->fractional;
    b.tables_.push_back(std::move(t));
    b.SettleFraction(calib, *rule, fit.target, &b.tables_.back());
  }
  if (b.tables_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("recall ", targets.front(),
                                                   " is out of reach within ", o.prefix,
                                                   " postings on the calibration queries"));
  }
  return b;
}

double PostingBudget::Score(const double f[kNumFeatures]) const {
  if (coef_.empty()) return 0;
  double s = coef_[0];
  for (size_t i = 0; i < kNumFeatures; ++i) s += coef_[i + 1] * (f[i] - mean_[i]) / scale_[i];
  return s;
}

void PostingBudget::SettleFraction(const std::vector<RouteObservation>& calib,
                                   const BudgetRule& rule, double target, Table* t) const {
  // The partial raise is linear in the count, but recall is not linear over
  // a raise of several postings (the greedy jumps flat stretches), so the
  // fraction is found again by bisection between it and the whole raise,
  // which reaches the target.
  size_t g = t->counts.size();
  for (size_t i = 0; i < t->counts.size(); ++i) {
    if (t->counts[i] != rule.budget[i]) g = i;
  }
  if (g < t->counts.size()) {
    double lo = t->counts[g], hi = rule.budget[g];
    for (int it = 0; it < 30; ++it) {
      t->counts[g] = 0.5 * (lo + hi);
      Evaluate(calib, t);
      (t->calib_recall >= target - 1e-12 ? hi : lo) = t->counts[g];
    }
    t->counts[g] = hi;
  }
  Evaluate(calib, t);
}

void PostingBudget::Evaluate(const std::vector<RouteObservation>& calib, Table* t) const {
  double recall = 0, postings = 0;
  for (const RouteObservation& q : calib) {
    const double c = t->counts[Bucket(q.features.data())];
    const uint32_t lo = static_cast<uint32_t>(c);
    const double up = c - lo;  // the share of queries that read one more
    recall += (1 - up) * RecallAt(q, lo) + up * RecallAt(q, lo + 1);
    postings += c;
  }
  t->calib_recall = recall / calib.size();
  t->calib_postings = postings / calib.size();
}

size_t PostingBudget::Bucket(const double f[kNumFeatures]) const {
  const double s = Score(f);
  return std::lower_bound(bounds_.begin(), bounds_.end(), s) - bounds_.begin();
}

void PostingBudget::Bracket(double target, size_t* lo, size_t* hi, double* frac) const {
  const size_t up = std::lower_bound(tables_.begin(), tables_.end(), target,
                                     [](const Table& t, double v) { return t.target < v; }) -
                    tables_.begin();
  if (up == tables_.size()) {  // above the highest reachable target
    *lo = *hi = tables_.size() - 1;
    *frac = 0;
  } else if (up == 0 || tables_[up].target == target) {
    *lo = *hi = up;
    *frac = 0;
  } else {
    *lo = up - 1;
    *hi = up;
    *frac = (target - tables_[*lo].target) / (tables_[*hi].target - tables_[*lo].target);
  }
}

double PostingBudget::Count(double target, size_t bucket) const {
  size_t lo, hi;
  double frac;
  Bracket(target, &lo, &hi, &frac);
  const double a = tables_[lo].counts[bucket], b = tables_[hi].counts[bucket];
  return a + (b - a) * frac;
}

uint64_t PostingBudget::QueryHash(const float* query, uint32_t dim) {
  return Checksum64(query, size_t{dim} * sizeof(float));
}

uint32_t PostingBudget::Postings(double target, const double features[kNumFeatures],
                                 uint64_t query_hash) const {
  const double c = Count(target, Bucket(features));
  const uint32_t lo = static_cast<uint32_t>(c);
  const double u = static_cast<double>(query_hash >> 11) * 0x1.0p-53;
  const uint32_t n = lo + (u < c - lo ? 1 : 0);
  return std::clamp<uint32_t>(n, 1, prefix_);
}

uint32_t PostingBudget::MaxPostings(double target) const {
  double most = 1;
  for (size_t bucket = 0; bucket < buckets(); ++bucket) most = std::max(most, Count(target, bucket));
  return std::min(static_cast<uint32_t>(std::ceil(most)), prefix_);
}

uint64_t PostingBudget::ram_bytes() const {
  uint64_t bytes = sizeof(*this) + sizeof(double) * (mean_.size() + scale_.size() + coef_.size() +
                                                     bounds_.size());
  for (const Table& t : tables_) bytes += sizeof(Table) + sizeof(double) * t.counts.size();
  return bytes;
}

std::string PostingBudget::Serialize() const {
  std::string out;
  PutU32(k_, &out);
  PutU32(head_ef_, &out);
  PutU32(prefix_, &out);
  PutU32(calib_queries_, &out);
  PutU64(num_vectors_, &out);
  PutU32(uses_features() ? kNumFeatures : 0, &out);
  PutU32(static_cast<uint32_t>(buckets()), &out);
  PutU32(static_cast<uint32_t>(tables_.size()), &out);
  for (const auto* v : {&mean_, &scale_, &coef_, &bounds_}) {
    for (double x : *v) PutF64(x, &out);
  }
  for (const Table& t : tables_) {
    PutF64(t.target, &out);
    PutF64(t.calib_recall, &out);
    PutF64(t.calib_postings, &out);
    for (double n : t.counts) PutF64(n, &out);
  }
  return out;
}

absl::StatusOr<PostingBudget> PostingBudget::Deserialize(std::string_view body,
                                                         const std::string& where) {
  PostingBudget b;
  BodyReader r(body);
  uint32_t features = 0, buckets = 0, tables = 0;
  const auto short_body = absl::DataLossError(absl::StrCat(where, ": posting budget is malformed"));
  if (!r.U32(&b.k_) || !r.U32(&b.head_ef_) || !r.U32(&b.prefix_) || !r.U32(&b.calib_queries_) ||
      !r.U64(&b.num_vectors_) || !r.U32(&features) || !r.U32(&buckets) || !r.U32(&tables)) {
    return short_body;
  }
  // The counts bound the reads below, so a huge count in a crafted file
  // cannot allocate more than the body holds.
  if ((features != 0 && features != kNumFeatures) || buckets == 0 || buckets > 64 || tables == 0 ||
      tables > 1024 || (features == 0 && buckets != 1)) {
    return short_body;
  }
  const size_t coef = features == 0 ? 0 : features + 1;
  if (!r.F64s(features, &b.mean_) || !r.F64s(features, &b.scale_) || !r.F64s(coef, &b.coef_) ||
      !r.F64s(buckets - 1, &b.bounds_)) {
    return short_body;
  }
  for (double s : b.scale_) {
    if (!(s > 0)) return short_body;
  }
  if (!std::is_sorted(b.bounds_.begin(), b.bounds_.end())) return short_body;
  b.tables_.resize(tables);
  for (Table& t : b.tables_) {
    if (!r.F64(&t.target) || !r.F64(&t.calib_recall) || !r.F64(&t.calib_postings)) {
      return short_body;
    }
    if (!r.F64s(buckets, &t.counts)) return short_body;
  }
  if (!r.done()) return short_body;
  CAIRN_RETURN_IF_ERROR(CheckShape(b, where));
  return b;
}

absl::Status WritePostingBudget(Env* env, const std::string& path, const PostingBudget& budget) {
  return WriteRecordFile(env, path, kPostingBudgetMagic, kPostingBudgetVersion,
                         budget.Serialize());
}

absl::StatusOr<PostingBudget> ReadPostingBudget(Env* env, const std::string& path) {
  uint32_t version = 0;
  CAIRN_ASSIGN_OR_RETURN(
      std::string body,
      ReadRecordFile(env, path, kPostingBudgetMagic, kPostingBudgetVersion, &version));
  return PostingBudget::Deserialize(body, path);
}

}  // namespace cairn
