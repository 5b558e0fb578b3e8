// Aliases: AliasStore (atomic batches, persistence, damage detected) and
// the HTTP routes (create / delete / rename, listing, every collection
// route through an alias, an atomic switch, drop and restart).
#include <gtest/gtest.h>

#include "server/alias_store.h"
#include "storage/env.h"
#include "tests/server_test_fixture.h"

namespace cairn::testing {
namespace {

AliasAction Create(const std::string& alias, const std::string& target) {
  return {AliasAction::Kind::kCreate, alias, target};
}
AliasAction Delete(const std::string& alias) { return {AliasAction::Kind::kDelete, alias, ""}; }
AliasAction Rename(const std::string& from, const std::string& to) {
  return {AliasAction::Kind::kRename, from, to};
}

TEST(AliasStoreTest, BatchesAreAllOrNothingAndPersist) {
  DiskTempDir tmp;
  const std::string path = tmp.path() + "/aliases.json";
  auto exists = [](const std::string& n) { return n == "c1" || n == "c2"; };
  {
    auto s = AliasStore::Open(Env::Default(), path);
    ASSERT_TRUE(s.ok()) << s.status();
    ASSERT_TRUE((*s)->Apply({Create("a", "c1"), Create("b", "c1")}, exists).ok());
    // The second action fails: the first must not take effect.
    EXPECT_EQ((*s)->Apply({Delete("a"), Delete("zzz")}, exists).code(),
              absl::StatusCode::kNotFound);
    EXPECT_EQ((*s)->Resolve("a"), "c1");
    EXPECT_EQ((*s)->Apply({Create("x", "nope")}, exists).code(), absl::StatusCode::kNotFound);
    EXPECT_EQ((*s)->Apply({Create("c2", "c1")}, exists).code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ((*s)->Apply({Rename("a", "b")}, exists).code(), absl::StatusCode::kAlreadyExists);
    ASSERT_TRUE((*s)->Apply({Rename("a", "z"), Create("b", "c2")}, exists).ok());
    ASSERT_TRUE((*s)->RemoveCollection("c1").ok());
  }
  auto s = AliasStore::Open(Env::Default(), path);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ((*s)->All(), (std::map<std::string, std::string>{{"b", "c2"}}));
  std::vector<uint8_t> bytes = ReadBytes(path);
  bytes.back() ^= 0x20;
  WriteBytes(path, bytes.data(), bytes.size());
  EXPECT_EQ(AliasStore::Open(Env::Default(), path).status().code(), absl::StatusCode::kDataLoss);
}

class AliasHttpTest : public ServerTest {
 protected:
  HttpResult Actions(const json& actions) {
    return client_->Json("POST", "/collections/aliases", {{"actions", actions}});
  }
};

TEST_F(AliasHttpTest, RoutesResolveAliasesAndSwitchAtomically) {
  CreateCollection("v1");
  CreateCollection("v2");
  Fill("v1", 20);
  Fill("v2", 5);
  auto r = Actions({{{"create_alias", {{"collection_name", "v1"}, {"alias_name", "live"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json["result"], true);
  auto count = client_->Json("POST", "/collections/live/points/count", json::object());
  EXPECT_EQ(count.json["result"]["count"], 20) << count.body;
  EXPECT_EQ(client_->Request("GET", "/collections/live").json["result"]["points_count"], 20);
  auto search =
      client_->Json("POST", "/collections/live/points/search", {{"vector", Vec(3)}, {"limit", 1}});
  EXPECT_EQ(search.json["result"][0]["id"], 3) << search.body;
  // Switch: delete and create in one request.
  r = Actions({{{"delete_alias", {{"alias_name", "live"}}}},
               {{"create_alias", {{"collection_name", "v2"}, {"alias_name", "live"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  count = client_->Json("POST", "/collections/live/points/count", json::object());
  EXPECT_EQ(count.json["result"]["count"], 5);
  r = Actions({{{"rename_alias", {{"old_alias_name", "live"}, {"new_alias_name", "prod"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  auto all = client_->Request("GET", "/aliases");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.json["result"]["aliases"],
            json::parse(R"([{"alias_name":"prod","collection_name":"v2"}])"));
  EXPECT_EQ(client_->Request("GET", "/collections/v2/aliases").json["result"]["aliases"].size(),
            1u);
  EXPECT_EQ(client_->Request("GET", "/collections/v1/aliases").json["result"]["aliases"].size(),
            0u);
  EXPECT_EQ(client_->Request("GET", "/collections/live/points/1").status, 404);
  // Errors: 404 for a missing alias or collection, 400 for a bad body or a
  // collection's name, and a failed batch changes nothing.
  ExpectError(Actions({{{"delete_alias", {{"alias_name", "prod"}}}},
                       {{"delete_alias", {{"alias_name", "nope"}}}}}),
              404);
  EXPECT_EQ(client_->Request("GET", "/aliases").json["result"]["aliases"].size(), 1u);
  ExpectError(Actions({{{"create_alias", {{"collection_name", "zz"}, {"alias_name", "a"}}}}}), 404);
  ExpectError(Actions({{{"create_alias", {{"collection_name", "v1"}, {"alias_name", "v2"}}}}}),
              400);
  ExpectError(Actions({{{"explode", json::object()}}}), 400);
  ExpectError(client_->Json("PUT", "/collections/prod",
                            {{"vectors", {{"size", kDim}, {"distance", "Dot"}}}}),
              409);
  // Aliases survive a restart; dropping the collection removes its aliases.
  Stop();
  Start("", "");
  EXPECT_EQ(client_->Json("POST", "/collections/prod/points/count", json::object())
                .json["result"]["count"],
            5);
  ASSERT_EQ(client_->Request("DELETE", "/collections/v2").status, 200);
  EXPECT_EQ(client_->Request("GET", "/aliases").json["result"]["aliases"].size(), 0u);
  EXPECT_EQ(client_->Request("GET", "/collections/prod").status, 404);
}

TEST_F(AliasHttpTest, ReadOnlyKeyCannotChangeAliases) {
  Stop();
  Start("secret", "reader");
  const std::map<std::string, std::string> reader = {{"api-key", "reader"}};
  ExpectError(client_->Json("POST", "/collections/aliases", {{"actions", json::array()}}, reader),
              403);
  EXPECT_EQ(client_->Request("GET", "/aliases", "", reader).status, 200);
  EXPECT_EQ(client_->Request("GET", "/aliases").status, 401);
}

}  // namespace
}  // namespace cairn::testing
