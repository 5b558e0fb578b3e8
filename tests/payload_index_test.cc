// PayloadIndex, the filter planner over it (filter_plan.h) and the text
// tokenizer: candidates are always a superset of the matching points, and
// as small as the index allows.
#include "server/payload_index.h"

#include <gtest/gtest.h>

#include "server/filter_plan.h"
#include "server/text_tokenizer.h"
#include "storage/env.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using nlohmann::json;

PayloadFieldSchema Schema(const json& j) {
  auto s = ParseFieldSchema(j);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.value_or(PayloadFieldSchema());
}

Filter F(const json& j) {
  auto f = Filter::Parse(j);
  EXPECT_TRUE(f.ok()) << f.status();
  return f.value_or(Filter());
}

json Must(const json& c) { return {{"must", {c}}}; }

class PayloadIndexTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(index_.AddField("doc_id", Schema("keyword")).ok());
    ASSERT_TRUE(index_.AddField("n", Schema("integer")).ok());
    ASSERT_TRUE(index_.AddField("x", Schema("float")).ok());
    ASSERT_TRUE(index_.AddField("ok", Schema("bool")).ok());
    ASSERT_TRUE(index_.AddField("when", Schema("datetime")).ok());
    ASSERT_TRUE(index_.AddField("meta.body", Schema({{"type", "text"}})).ok());
    for (const char* f : {"doc_id", "n", "x", "ok", "when", "meta.body"}) index_.PublishField(f);
    for (int i = 0; i < 100; ++i) {
      index_.Update(Key(i), Payload(i));
    }
  }
  static std::string Key(int i) { return "k" + std::to_string(1000 + i); }
  static json Payload(int i) {
    return {{"doc_id", "d" + std::to_string(i % 10)},
            {"n", i},
            {"x", i * 0.5},
            {"ok", i % 2 == 0},
            {"when", "2024-01-" + std::string(i % 28 < 9 ? "0" : "") + std::to_string(i % 28 + 1)},
            {"meta", {{"body", i % 3 == 0 ? "The Quick brown fox" : "lazy dogs sleep"}}}};
  }
  // Checks that the plan is a superset of the matches and returns its size.
  size_t Plan(const json& filter) {
    const Filter f = BindTextIndexes(F(filter), index_);
    auto keys = PlanCandidates(f, index_);
    EXPECT_TRUE(keys.has_value()) << filter.dump();
    if (!keys.has_value()) return 0;
    for (int i = 0; i < 100; ++i) {
      if (f.Matches(FilterPointId::Number(i), Payload(i))) {
        EXPECT_TRUE(std::binary_search(keys->begin(), keys->end(), Key(i)))
            << filter.dump() << " misses " << i;
      }
    }
    return keys->size();
  }
  PayloadIndex index_;
};

TEST_F(PayloadIndexTest, EachTypeAnswersItsConditions) {
  EXPECT_EQ(Plan(Must({{"key", "doc_id"}, {"match", {{"value", "d3"}}}})), 10u);
  EXPECT_EQ(Plan(Must({{"key", "doc_id"}, {"match", {{"any", {"d3", "d4"}}}}})), 20u);
  EXPECT_EQ(Plan(Must({{"key", "n"}, {"match", {{"value", 42}}}})), 1u);
  EXPECT_EQ(Plan(Must({{"key", "n"}, {"range", {{"gte", 10}, {"lt", 20}}}})), 10u);
  EXPECT_EQ(Plan(Must({{"key", "x"}, {"range", {{"gt", 10}, {"lte", 12}}}})), 4u);
  EXPECT_EQ(Plan(Must({{"key", "ok"}, {"match", {{"value", true}}}})), 50u);
  EXPECT_EQ(Plan(Must({{"key", "when"}, {"range", {{"gte", "2024-01-27"}}}})), 6u);
  EXPECT_EQ(Plan(Must({{"key", "meta.body"}, {"match", {{"text", "quick FOX"}}}})), 34u);
  EXPECT_EQ(Plan(Must({{"key", "meta.body"}, {"match", {{"text_any", "fox dogs"}}}})), 100u);
  // must intersects, should unites.
  EXPECT_EQ(Plan({{"must",
                   {{{"key", "doc_id"}, {"match", {{"value", "d3"}}}},
                    {{"key", "n"}, {"range", {{"lt", 50}}}}}}}),
            5u);
  EXPECT_EQ(Plan({{"should",
                   {{{"key", "doc_id"}, {"match", {{"value", "d3"}}}},
                    {{"key", "n"}, {"match", {{"value", 4}}}}}}}),
            11u);
  // has_id needs no index: the ids' store keys (not this test's keys).
  EXPECT_EQ(PlanCandidates(F(Must({{"has_id", json::parse("[5, 7]")}})), index_)->size(), 2u);
}

TEST_F(PayloadIndexTest, UnansweredConditionsGiveNoPlan) {
  for (const json& f : {Must({{"key", "other"}, {"match", {{"value", "a"}}}}),
                        Must({{"key", "x"}, {"match", {{"value", 3}}}}),  // float: no lookup
                        json{{"must_not", {{{"key", "doc_id"}, {"match", {{"value", "d1"}}}}}}},
                        json{{"should",
                              {{{"key", "doc_id"}, {"match", {{"value", "d3"}}}},
                               {{"key", "other"}, {"match", {{"value", 1}}}}}}}}) {
    EXPECT_FALSE(PlanCandidates(F(f), index_).has_value()) << f.dump();
  }
}

TEST_F(PayloadIndexTest, UpdatesAndErasesReplaceEntries) {
  auto size = [&](const std::string& doc) {
    return PlanCandidates(F(Must({{"key", "doc_id"}, {"match", {{"value", doc}}}})), index_)
        ->size();
  };
  index_.Update(Key(3), {{"doc_id", "moved"}});
  EXPECT_EQ(size("d3"), 9u);
  EXPECT_EQ(size("moved"), 1u);
  index_.Erase(Key(3));
  EXPECT_EQ(size("moved"), 0u);
  EXPECT_EQ(index_.SchemaJson()["doc_id"]["points"], 99);
  EXPECT_EQ(index_.SchemaJson()["doc_id"]["data_type"], "keyword");
}

TEST_F(PayloadIndexTest, TextMatchIsTokenisedOnlyWithATextIndex) {
  const json quick = Must({{"key", "meta.body"}, {"match", {{"text", "QUICK"}}}});
  const json payload = {{"meta", {{"body", "The Quick brown fox"}}}};
  EXPECT_FALSE(F(quick).Matches(FilterPointId::Number(0), payload));  // substring, case-sensitive
  EXPECT_TRUE(BindTextIndexes(F(quick), index_).Matches(FilterPointId::Number(0), payload));
  const json phrase = Must({{"key", "meta.body"}, {"match", {{"phrase", "brown quick"}}}});
  EXPECT_FALSE(BindTextIndexes(F(phrase), index_).Matches(FilterPointId::Number(0), payload));
  const json in_order = Must({{"key", "meta.body"}, {"match", {{"phrase", "quick brown"}}}});
  EXPECT_TRUE(BindTextIndexes(F(in_order), index_).Matches(FilterPointId::Number(0), payload));
  // "qui" is a substring but not a token.
  const json part = Must({{"key", "meta.body"}, {"match", {{"text", "qui"}}}});
  EXPECT_FALSE(BindTextIndexes(F(part), index_).Matches(FilterPointId::Number(0), payload));
}

TEST_F(PayloadIndexTest, UnpublishedFieldsAreNotUsed) {
  ASSERT_TRUE(index_.AddField("late", Schema("keyword")).ok());
  index_.FillField("late", Key(1), {{"late", "v"}});
  const json f = Must({{"key", "late"}, {"match", {{"value", "v"}}}});
  EXPECT_FALSE(PlanCandidates(F(f), index_).has_value());
  index_.PublishField("late");
  EXPECT_EQ(PlanCandidates(F(f), index_)->size(), 1u);
}

TEST_F(PayloadIndexTest, OrderedScanNeedsARangeIndex) {
  std::vector<double> seen;
  ASSERT_TRUE(index_
                  .OrderedScan("n", true, 10.5,
                               [&](double v, const std::string&) {
                                 seen.push_back(v);
                                 return seen.size() < 3;
                               })
                  .ok());
  EXPECT_EQ(seen, (std::vector<double>{10, 9, 8}));
  seen.clear();
  ASSERT_TRUE(index_
                  .OrderedScan("x", false, 3.0,
                               [&](double v, const std::string&) {
                                 seen.push_back(v);
                                 return seen.size() < 2;
                               })
                  .ok());
  EXPECT_EQ(seen, (std::vector<double>{3.0, 3.5}));
  auto none = [](double, const std::string&) { return true; };
  EXPECT_EQ(index_.OrderedScan("doc_id", false, std::nullopt, none).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(FieldSchemaTest, ParsesQdrantSchemasAndRefusesTheRest) {
  EXPECT_EQ(Schema("uuid").type, PayloadFieldType::kUuid);
  EXPECT_EQ(Schema({{"type", "keyword"}, {"is_tenant", true}}).type, PayloadFieldType::kKeyword);
  EXPECT_FALSE(Schema({{"type", "integer"}, {"range", false}}).range);
  for (const json& bad :
       {json("geo"), json("nope"), json{{"type", "text"}, {"tokenizer", "prefix"}},
        json{{"type", "text"}, {"tokenizer", "multilingual"}},
        json{{"type", "text"}, {"stopwords", "english"}}, json{{"type", "keyword"}, {"foo", 1}},
        json{{"type", "integer"}, {"lookup", false}, {"range", false}}}) {
    EXPECT_FALSE(ParseFieldSchema(bad).ok()) << bad.dump();
  }
}

TEST(FieldSchemaTest, SchemaFileRoundTripsAndRejectsDamage) {
  testing::DiskTempDir tmp;
  Env* env = Env::Default();
  std::map<std::string, PayloadFieldSchema> fields = {
      {"a", Schema("keyword")},
      {"b.c", Schema({{"type", "text"}, {"tokenizer", "whitespace"}, {"min_token_len", 2}})}};
  ASSERT_TRUE(WritePayloadSchemaFile(env, tmp.path(), fields).ok());
  auto back = ReadPayloadSchemaFile(env, tmp.path());
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, fields);
  std::string bytes = *env->ReadFile(tmp.path() + "/payload_index.json");
  bytes[bytes.size() - 2] ^= 1;
  testing::WriteBytes(tmp.path() + "/payload_index.json", bytes.data(), bytes.size());
  EXPECT_EQ(ReadPayloadSchemaFile(env, tmp.path()).status().code(), absl::StatusCode::kDataLoss);
}

TEST(TokenizerTest, WordAndWhitespace) {
  TextIndexParams word;
  EXPECT_EQ(Tokenize("Hello, World! x_y café", word),
            (std::vector<std::string>{"hello", "world", "x", "y", "café"}));
  TextIndexParams ws;
  ws.tokenizer = TextIndexParams::Tokenizer::kWhitespace;
  ws.lowercase = false;
  ws.min_token_len = 2;
  EXPECT_EQ(Tokenize("Hello, a World!", ws), (std::vector<std::string>{"Hello,", "World!"}));
}

}  // namespace
}  // namespace cairn
