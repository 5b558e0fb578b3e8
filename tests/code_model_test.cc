// The code models' contract (index/code_model.h) apart from estimation
// quality (code_estimator_test.cc): serialisation round-trips to identical
// outputs, corrupt or truncated bodies are DataLoss naming the file, entry
// sizes follow the documented layout, bad parameters are InvalidArgument,
// and the degenerate entries (x == head, q == x) come out right.
#include "index/codes/code_model.h"

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "common/random.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

struct ModelSetup {
  std::string name;
  CodeParams params;
  Metric metric;
};

std::vector<ModelSetup> AllSetups() {
  std::vector<ModelSetup> out;
  for (Metric metric : {Metric::kL2, Metric::kInnerProduct}) {
    const std::string m = MetricName(metric);
    CodeParams p;
    p.family = CodeFamily::kLsh;
    out.push_back({"lsh/" + m, p, metric});
    p.bits_per_dim = 2;
    out.push_back({"lsh2/" + m, p, metric});
    p = CodeParams();
    p.family = CodeFamily::kItq;
    p.itq_iterations = 5;
    out.push_back({"itq/" + m, p, metric});
    p.itq_bits = 40;
    out.push_back({"itq40/" + m, p, metric});
    p = CodeParams();
    p.family = CodeFamily::kRabitq;
    out.push_back({"rabitq/" + m, p, metric});
    p.rotation = RotationKind::kLearned;
    p.itq_iterations = 5;
    out.push_back({"rabitq-learned/" + m, p, metric});
    p = CodeParams();
    p.family = CodeFamily::kSq8;
    out.push_back({"sq8/" + m, p, metric});
  }
  return out;
}

std::vector<float> Gaussian(size_t n, uint64_t seed, double offset = 0, double scale = 1) {
  Rng rng(seed);
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(offset + scale * rng.Gaussian());
  return v;
}

constexpr uint32_t kDim = 100;

std::unique_ptr<CodeModel> TrainOrDie(const ModelSetup& s, uint32_t dim = kDim, size_t n = 400) {
  const auto residuals = Gaussian(n * dim, 1, 0, 0.5);
  auto m = CodeModel::Train(s.params, s.metric, dim, residuals.data(), n);
  EXPECT_TRUE(m.ok()) << s.name << ": " << m.status();
  return m.ok() ? std::move(*m) : nullptr;
}

// Encodes `entries` vectors under one head and estimates them for a few
// queries; everything a posting scan would produce.
struct Outputs {
  std::vector<uint8_t> codes;
  std::vector<float> est, err;
};

Outputs RunModel(const CodeModel& m) {
  const uint32_t n = 50;
  const auto head = Gaussian(kDim, 2, 2);
  const auto base = Gaussian(n * kDim, 3, 2);
  const auto queries = Gaussian(5 * kDim, 4, 2);
  Outputs o;
  o.codes.resize(n * m.entry_bytes());
  for (uint32_t i = 0; i < n; ++i)
    m.Encode(&base[i * kDim], head.data(), &o.codes[i * m.entry_bytes()]);
  CodeQuery cq;
  for (int q = 0; q < 5; ++q) {
    m.PrepareQuery(&queries[q * kDim], &cq);
    double l2 = 0, dot = 0;
    for (uint32_t d = 0; d < kDim; ++d) {
      l2 += std::pow(queries[q * kDim + d] - head[d], 2);
      dot += queries[q * kDim + d] * head[d];
    }
    std::vector<float> est(n), err(n);
    m.EstimatePosting(cq, {static_cast<float>(l2), static_cast<float>(dot)}, o.codes.data(), n,
                      est.data(), err.data());
    o.est.insert(o.est.end(), est.begin(), est.end());
    o.err.insert(o.err.end(), err.begin(), err.end());
  }
  return o;
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

TEST(CodeModelTest, RoundTripGivesIdenticalOutputs) {
  for (const ModelSetup& s : AllSetups()) {
    auto m = TrainOrDie(s);
    ASSERT_NE(m, nullptr);
    std::string body;
    m->Serialize(&body);
    auto back = CodeModel::Deserialize(Bytes(body), "model.codes");
    ASSERT_TRUE(back.ok()) << s.name << ": " << back.status();
    EXPECT_EQ((*back)->family(), m->family()) << s.name;
    EXPECT_EQ((*back)->metric(), m->metric()) << s.name;
    EXPECT_EQ((*back)->dim(), m->dim()) << s.name;
    EXPECT_EQ((*back)->code_bits(), m->code_bits()) << s.name;
    EXPECT_EQ((*back)->entry_bytes(), m->entry_bytes()) << s.name;
    EXPECT_EQ((*back)->Describe(), m->Describe()) << s.name;
    EXPECT_EQ((*back)->ram_bytes(), m->ram_bytes()) << s.name;
    std::string again;
    (*back)->Serialize(&again);
    EXPECT_EQ(again, body) << s.name;
    const Outputs a = RunModel(*m), b = RunModel(**back);
    EXPECT_EQ(a.codes, b.codes) << s.name;
    EXPECT_EQ(a.est, b.est) << s.name;  // bitwise: same matrices, same rounding seed
    EXPECT_EQ(a.err, b.err) << s.name;
  }
}

void ExpectDataLoss(const absl::StatusOr<std::unique_ptr<CodeModel>>& r, const std::string& what) {
  ASSERT_FALSE(r.ok()) << what;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << what << ": " << r.status();
  EXPECT_NE(r.status().message().find("model.codes"), std::string::npos) << r.status();
}

TEST(CodeModelTest, TruncatedAndCorruptBodiesAreDataLoss) {
  for (const ModelSetup& s : AllSetups()) {
    if (s.metric != Metric::kL2) continue;
    auto m = TrainOrDie(s);
    ASSERT_NE(m, nullptr);
    std::string body;
    m->Serialize(&body);
    Rng rng(9);
    std::vector<size_t> cuts;
    for (size_t len = 0; len < std::min<size_t>(body.size(), 200); ++len) cuts.push_back(len);
    for (int i = 0; i < 40; ++i) cuts.push_back(rng.Below(body.size()));
    cuts.push_back(body.size() - 1);
    for (size_t len : cuts) {
      ExpectDataLoss(CodeModel::Deserialize(Bytes(body.substr(0, len)), "model.codes"),
                     s.name + " cut at " + std::to_string(len));
    }
    ExpectDataLoss(CodeModel::Deserialize(Bytes(body + '\0'), "model.codes"), s.name + " +1 byte");
    std::string bad = body;
    bad[0] ^= 1;
    ExpectDataLoss(CodeModel::Deserialize(Bytes(bad), "model.codes"), s.name + " magic");
    // A NaN in the last float (a matrix value, or lsh/itq/rabitq's last field).
    // (sq8's last field is its rotation's round count.)
    if ((s.params.family != CodeFamily::kRabitq && s.params.family != CodeFamily::kSq8) ||
        s.params.rotation == RotationKind::kLearned) {
      bad = body;
      const float nan = std::nanf("");
      std::memcpy(&bad[bad.size() - 4], &nan, 4);
      ExpectDataLoss(CodeModel::Deserialize(Bytes(bad), "model.codes"), s.name + " NaN");
    }
    // Random bit flips anywhere: a valid model (a flipped seed is one) or
    // DataLoss, never a crash; a model that loads must also run.
    for (int i = 0; i < 300; ++i) {
      bad = body;
      const size_t at = i < 64 ? i % body.size() : rng.Below(body.size());
      bad[at] ^= static_cast<char>(1u << rng.Below(8));
      auto r = CodeModel::Deserialize(Bytes(bad), "model.codes");
      if (r.ok()) {
        if ((*r)->dim() == kDim) RunModel(**r);
      } else {
        EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
      }
    }
  }
}

TEST(CodeModelTest, EntryBytesFollowTheLayout) {
  auto expect_layout = [](const CodeModel& m, uint32_t bits, const std::string& what) {
    EXPECT_EQ(m.code_bits(), bits) << what;
    EXPECT_EQ(m.entry_bytes(), 8 * ((bits + 63) / 64) + 16) << what;
    EXPECT_EQ(m.entry_bytes() % 8, 0u) << what;
    std::printf("%-22s bits %5u entry_bytes %4u ram %llu\n", what.c_str(), bits, m.entry_bytes(),
                static_cast<unsigned long long>(m.ram_bytes()));
  };
  for (uint32_t dim : {784u, 128u, 384u}) {
    const std::string d = " dim " + std::to_string(dim);
    ModelSetup s{"", CodeParams(), Metric::kL2};
    s.params.itq_iterations = 1;
    s.params.family = CodeFamily::kLsh;
    expect_layout(*TrainOrDie(s, dim, 50), dim, "lsh" + d);
    s.params.bits_per_dim = 2;
    expect_layout(*TrainOrDie(s, dim, 50), 2 * dim, "lsh 2 bits" + d);
    s.params.bits_per_dim = 1;
    s.params.family = CodeFamily::kItq;
    expect_layout(*TrainOrDie(s, dim, 50), dim, "itq" + d);
    s.params.family = CodeFamily::kRabitq;
    expect_layout(*TrainOrDie(s, dim, 50), (dim + 63) / 64 * 64, "rabitq" + d);
    s.params.rotation = RotationKind::kLearned;
    expect_layout(*TrainOrDie(s, dim, 50), dim, "rabitq learned" + d);
    // sq8: one byte per padded coordinate and four floats.
    s.params = CodeParams();
    s.params.family = CodeFamily::kSq8;
    auto sq = TrainOrDie(s, dim, 50);
    const uint32_t padded = (dim + 63) / 64 * 64;
    EXPECT_EQ(sq->code_bits(), 8 * padded) << "sq8" << d;
    EXPECT_EQ(sq->entry_bytes(), padded + 16) << "sq8" << d;
  }
}

TEST(CodeModelTest, BadParametersAreInvalidArgument) {
  const auto residuals = Gaussian(20 * 8, 1);
  auto train = [&](CodeParams p, uint32_t dim = 8, size_t n = 20, const float* data = nullptr) {
    return CodeModel::Train(p, Metric::kL2, dim, data ? data : residuals.data(), n).status().code();
  };
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  CodeParams p;
  EXPECT_EQ(train(p), kInvalid);  // family none
  p.family = CodeFamily::kRabitq;
  EXPECT_EQ(train(p, 0), kInvalid);
  p.eps0 = 0;
  EXPECT_EQ(train(p), kInvalid);
  p.eps0 = 1.9;
  p.bits_per_dim = 2;
  EXPECT_EQ(train(p), kInvalid);  // extended rabitq is not implemented
  p.family = CodeFamily::kItq;
  EXPECT_EQ(train(p), kInvalid);
  p.bits_per_dim = 1;
  p.itq_bits = 9;
  EXPECT_EQ(train(p), kInvalid);  // more bits than dim
  p.itq_bits = 0;
  EXPECT_EQ(train(p, 8, 1), kInvalid);  // one residual
  p.family = CodeFamily::kLsh;
  p.bits_per_dim = 0;
  EXPECT_EQ(train(p), kInvalid);
  p.bits_per_dim = 1;
  CodeParams sq;
  sq.family = CodeFamily::kSq8;
  EXPECT_EQ(train(sq), absl::StatusCode::kOk);
  sq.bits_per_dim = 8;
  EXPECT_EQ(train(sq), absl::StatusCode::kOk);
  sq.bits_per_dim = 4;
  EXPECT_EQ(train(sq), kInvalid);  // 8 bits only
  sq.bits_per_dim = 8;
  sq.rotation = RotationKind::kLearned;
  EXPECT_EQ(train(sq), kInvalid);
  sq.rotation = RotationKind::kHadamard;
  const auto wide = Gaussian(8200, 3);
  EXPECT_EQ(train(sq, 8200, 1, wide.data()), kInvalid);  // 8 x padded dim > 65536 code bits
  auto nan = residuals;
  nan[17] = std::nanf("");
  EXPECT_EQ(train(p, 8, 20, nan.data()), kInvalid);
  EXPECT_EQ(train(p), absl::StatusCode::kOk);
}

TEST(CodeModelTest, Names) {
  for (CodeFamily f : {CodeFamily::kNone, CodeFamily::kLsh, CodeFamily::kItq, CodeFamily::kRabitq,
                       CodeFamily::kSq8}) {
    auto parsed = ParseCodeFamily(CodeFamilyName(f));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_EQ(ParseCodeFamily("pq").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_STREQ(RotationKindName(RotationKind::kHadamard), "hadamard");
  EXPECT_STREQ(RotationKindName(RotationKind::kLearned), "learned");
}

// x == head: the residual is zero, so the estimate is exactly ||q - c||^2
// with no error; q == x: the estimate of 0 must be within its bound.
TEST(CodeModelTest, DegenerateEntries) {
  for (const ModelSetup& s : AllSetups()) {
    if (s.metric != Metric::kL2) continue;
    auto m = TrainOrDie(s);
    ASSERT_NE(m, nullptr);
    const auto head = Gaussian(kDim, 5, 1), x = Gaussian(kDim, 6, 1, 0.7);
    std::vector<uint8_t> at_head(m->entry_bytes()), entry(m->entry_bytes());
    m->Encode(head.data(), head.data(), at_head.data());
    m->Encode(x.data(), head.data(), entry.data());
    CodeQuery cq;
    m->PrepareQuery(x.data(), &cq);
    double l2 = 0, dot = 0;
    for (uint32_t d = 0; d < kDim; ++d) {
      l2 += std::pow(x[d] - head[d], 2);
      dot += x[d] * head[d];
    }
    float est = -1, err = -1;
    m->EstimatePosting(cq, {static_cast<float>(l2), static_cast<float>(dot)}, at_head.data(), 1,
                       &est, &err);
    EXPECT_FLOAT_EQ(est, static_cast<float>(l2)) << s.name;
    EXPECT_EQ(err, 0.0f) << s.name;
    m->EstimatePosting(cq, {static_cast<float>(l2), static_cast<float>(dot)}, entry.data(), 1, &est,
                       &err);
    EXPECT_LE(std::fabs(est), err) << s.name << " (distance of x to itself)";
    EXPECT_LT(err, l2) << s.name;
  }
}

}  // namespace
}  // namespace cairn
