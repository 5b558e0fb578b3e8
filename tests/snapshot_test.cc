// Snapshots: the archive format (round trip, truncation and damage
// refused), SHA-256 against FIPS 180-2's examples, and the HTTP routes:
// a snapshot taken while writes go on is a point in time, recovers into a
// new server with the same points and answers, and a damaged or truncated
// archive is refused with 400 leaving the existing collection as it was.
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include "storage/sha256.h"
#include "storage/snapshot_archive.h"
#include "tests/server_test_fixture.h"

namespace cairn::testing {
namespace {

std::string Sha(std::string_view s) {
  Sha256 h;
  h.Update(s);
  return h.HexDigest();
}

TEST(Sha256Test, KnownDigests) {
  EXPECT_EQ(Sha(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(Sha("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 pieces;  // the same bytes fed unevenly
  const std::string text(1000, 'a');
  for (size_t i = 0; i < text.size(); i += 7) pieces.Update(text.substr(i, 7));
  EXPECT_EQ(pieces.HexDigest(), Sha(text));
}

TEST(SnapshotArchiveTest, RoundTripsAndRefusesDamage) {
  DiskTempDir tmp;
  const std::string path = tmp.path() + "/a.snapshot";
  auto w = SnapshotArchiveWriter::Create(Env::Default(), path);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE((*w)->Add("collection.json", "config").ok());
  ASSERT_TRUE((*w)->Add("points/points.1.log", std::string(5000, 'x')).ok());
  EXPECT_FALSE((*w)->Add("../evil", "x").ok());
  std::string sha;
  ASSERT_TRUE((*w)->Finish(&sha).ok());
  std::vector<uint8_t> raw = ReadBytes(path);
  const std::string bytes(raw.begin(), raw.end());
  EXPECT_EQ(sha, Sha(bytes));
  auto entries = ReadSnapshotArchive(bytes);
  ASSERT_TRUE(entries.ok()) << entries.status();
  EXPECT_EQ(entries->size(), 2u);
  EXPECT_EQ(entries->at("collection.json"), "config");
  for (size_t cut : {size_t{0}, size_t{10}, bytes.size() / 2, bytes.size() - 1}) {
    EXPECT_EQ(ReadSnapshotArchive(bytes.substr(0, cut)).status().code(),
              absl::StatusCode::kInvalidArgument)
        << cut;
  }
  for (size_t at : {size_t{3}, size_t{40}, bytes.size() / 2, bytes.size() - 30}) {
    std::string bad = bytes;
    bad[at] ^= 0x01;
    EXPECT_EQ(ReadSnapshotArchive(bad).status().code(), absl::StatusCode::kInvalidArgument) << at;
  }
}

class SnapshotHttpTest : public ServerTest {
 protected:
  std::string SnapshotDir(const std::string& name) {
    return tmp_.path() + "/data/snapshots/" + name;
  }
  uint64_t Count(const std::string& name) {
    auto r = client_->Json("POST", "/collections/" + name + "/points/count", json::object());
    EXPECT_EQ(r.status, 200) << r.body;
    return r.json["result"]["count"].get<uint64_t>();
  }
  HttpResult Recover(const std::string& name, const std::string& path,
                     const std::string& checksum = "") {
    json body = {{"location", "file://" + path}};
    if (!checksum.empty()) body["checksum"] = checksum;
    return client_->Json("PUT", "/collections/" + name + "/snapshots/recover", body);
  }
};

TEST_F(SnapshotHttpTest, PointInTimeUnderWritesAndRecoveryInANewServer) {
  CreateCollection("c");
  Fill("c", 200);
  auto idx = client_->Json("PUT", "/collections/c/index",
                           {{"field_name", "group"}, {"field_schema", "integer"}});
  ASSERT_EQ(idx.status, 200) << idx.body;
  // A writer adds points 1000, 1001, ... in batches of 10 meanwhile.
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> written{0};
  std::thread writer([&] {
    HttpTestClient w(server_->port());
    for (uint64_t next = 1000; !stop.load(); next += 10) {
      json points = json::array();
      for (uint64_t i = next; i < next + 10; ++i) {
        points.push_back({{"id", i}, {"vector", Vec(i)}, {"payload", {{"group", i % 10}}}});
      }
      auto r = w.Json("PUT", "/collections/c/points?wait=true", {{"points", points}});
      if (r.status != 200) break;
      written += 10;
    }
  });
  while (written.load() < 50) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  auto snap = client_->Request("POST", "/collections/c/snapshots");
  while (written.load() < 150) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  stop = true;
  writer.join();
  ASSERT_EQ(snap.status, 200) << snap.body;
  const std::string name = snap.json["result"]["name"];
  auto list = client_->Request("GET", "/collections/c/snapshots");
  ASSERT_EQ(list.json["result"].size(), 1u) << list.body;
  EXPECT_EQ(list.json["result"][0]["name"], name);
  auto download = client_->Request("GET", "/collections/c/snapshots/" + name);
  ASSERT_EQ(download.status, 200);
  EXPECT_EQ(list.json["result"][0]["size"], download.body.size());
  EXPECT_EQ(list.json["result"][0]["checksum"], Sha(download.body));
  // A new server: only the snapshot file is carried over.
  Stop();
  const std::string carried = tmp_.path() + "/carried.snapshot";
  std::filesystem::copy_file(SnapshotDir("c") + "/" + name, carried);
  std::filesystem::remove_all(tmp_.path() + "/data");
  Start("", "");
  std::filesystem::create_directories(SnapshotDir("x"));
  const std::string local = SnapshotDir("x") + "/" + name;
  std::filesystem::copy_file(carried, local);
  auto rec = Recover("restored", local, Sha(download.body));
  ASSERT_EQ(rec.status, 200) << rec.body;
  // A point in time: the first 200, and whole batches of the writer, in order.
  const uint64_t n = Count("restored");
  ASSERT_GE(n, 250u);
  ASSERT_EQ(n % 10, 0u);
  auto scroll = client_->Json("POST", "/collections/restored/points/scroll",
                              {{"limit", 10000}, {"with_vector", true}});
  const json& pts = scroll.json["result"]["points"];
  ASSERT_EQ(pts.size(), n);
  for (size_t i = 0; i < n; ++i) {
    const uint64_t want = i < 200 ? i : 1000 + (i - 200);
    ASSERT_EQ(pts[i]["id"], want);
  }
  // The payload index came along; searches find every point.
  auto info = client_->Request("GET", "/collections/restored");
  EXPECT_EQ(info.json["result"]["payload_schema"]["group"]["data_type"], "integer");
  EXPECT_EQ(info.json["result"]["indexed_vectors_count"], n);
  for (uint64_t id : {0, 77, 199, 1000, 1049}) {
    auto r = client_->Json("POST", "/collections/restored/points/search",
                           {{"vector", Vec(id)}, {"limit", 1}});
    EXPECT_EQ(r.json["result"][0]["id"], id) << r.body;
  }
  // And the recovered collection survives a restart.
  Stop();
  Start("", "");
  EXPECT_EQ(Count("restored"), n);
}

TEST_F(SnapshotHttpTest, DamagedArchivesAreRefusedAndChangeNothing) {
  CreateCollection("c");
  Fill("c", 50);
  auto snap = client_->Request("POST", "/collections/c/snapshots");
  ASSERT_EQ(snap.status, 200) << snap.body;
  const std::string path = SnapshotDir("c") + "/" + snap.json["result"]["name"].get<std::string>();
  Fill("c", 80);  // the collection moves on
  std::vector<uint8_t> good = ReadBytes(path);
  const std::string truncated = SnapshotDir("c") + "/truncated.snapshot";
  WriteBytes(truncated, good.data(), good.size() - 100);
  const std::string flipped = SnapshotDir("c") + "/flipped.snapshot";
  std::vector<uint8_t> bad = good;
  bad[bad.size() / 2] ^= 0x10;
  WriteBytes(flipped, bad.data(), bad.size());
  for (const std::string& p : {truncated, flipped}) {
    ExpectError(Recover("c", p), 400);
    EXPECT_EQ(Count("c"), 80u);
  }
  ExpectError(Recover("c", path, std::string(64, '0')), 400);
  ExpectError(Recover("c", tmp_.path() + "/data/collections/c/collection.json"), 400);
  ExpectError(client_->Json("PUT", "/collections/c/snapshots/recover",
                            {{"location", "http://example.com/x.snapshot"}}),
              400);
  auto search =
      client_->Json("POST", "/collections/c/points/search", {{"vector", Vec(70)}, {"limit", 1}});
  EXPECT_EQ(search.json["result"][0]["id"], 70);
  // The good one replaces the collection: back to 50 points.
  auto rec = Recover("c", path);
  ASSERT_EQ(rec.status, 200) << rec.body;
  EXPECT_EQ(Count("c"), 50u);
  // The upload form recovers too (and checks the form).
  const std::string boundary = "XyZ123";
  const std::string form = "--" + boundary +
                           "\r\nContent-Disposition: form-data; name=\"snapshot\"; "
                           "filename=\"s.snapshot\"\r\nContent-Type: application/octet-stream"
                           "\r\n\r\n" +
                           std::string(good.begin(), good.end()) + "\r\n--" + boundary + "--\r\n";
  auto up = client_->Request("POST", "/collections/up/snapshots/upload", form,
                             {{"content-type", "multipart/form-data; boundary=" + boundary}});
  ASSERT_EQ(up.status, 200) << up.body;
  EXPECT_EQ(Count("up"), 50u);
  ExpectError(client_->Request("POST", "/collections/up/snapshots/upload", "junk",
                               {{"content-type", "multipart/form-data; boundary=" + boundary}}),
              400);
  // Delete.
  const std::string name = snap.json["result"]["name"];
  EXPECT_EQ(client_->Request("DELETE", "/collections/c/snapshots/" + name).status, 200);
  EXPECT_EQ(client_->Request("DELETE", "/collections/c/snapshots/" + name).status, 404);
  EXPECT_EQ(client_->Request("GET", "/collections/c/snapshots/" + name).status, 404);
  EXPECT_EQ(client_->Request("POST", "/collections/nope/snapshots").status, 404);
}

}  // namespace
}  // namespace cairn::testing
