// Read errors through the Env seam: every read that the posting file, the
// posting store, the point log, the point store and the head index loader
// make is failed in turn (FaultInjectionEnv::FailNthRead), and reads of one
// file are failed while it is open (FailReadsOf). Each failure must come back
// as an error Status naming the file, without a crash, and the same call must
// succeed once the fault is cleared: a read error changes nothing on disk.
// Also the check that those reads serve in the head index loader.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/aligned_buffer.h"
#include "common/status_macros.h"
#include "index/spann/head_index.h"
#include "storage/fault_injection_env.h"
#include "storage/point_log.h"
#include "storage/point_store.h"
#include "storage/posting_file.h"
#include "storage/posting_store.h"
#include "tests/point_store_test_util.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::BaseBatches;
using ::cairn::testing::Batch;
using ::cairn::testing::BuildLog;
using ::cairn::testing::Contents;
using ::cairn::testing::LogPath;
using ::cairn::testing::NoAutoCompact;
using ::cairn::testing::ReadAll;
using ::cairn::testing::StateAfter;
using ::cairn::testing::TempDir;
using ::testing::HasSubstr;

// An injected EIO: Internal (env.h's mapping), naming the file.
void ExpectReadError(const absl::Status& s, const std::string& path,
                     const std::string& what) {
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << what << ": " << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(path)) << what;
  EXPECT_THAT(std::string(s.message()), HasSubstr("injected fault")) << what;
}

// Runs `op` once without faults to count its reads, then once per read with
// that read failing (each must fail naming `path`), then once more without
// faults, which must succeed: the caller checks what that last run produced.
void FailEachReadInTurn(FaultInjectionEnv& env, const std::string& path,
                        const std::function<absl::Status()>& op) {
  env.ClearFaults();
  env.ResetCounter();
  ASSERT_TRUE(op().ok());
  const uint64_t reads = env.read_count();
  ASSERT_GT(reads, 0u) << "the operation does not read through the Env";
  for (uint64_t n = 1; n <= reads; ++n) {
    env.ResetCounter();
    env.FailNthRead(n);
    ExpectReadError(op(), path, "read " + std::to_string(n));
    env.ClearFaults();
  }
  env.ResetCounter();
  EXPECT_TRUE(op().ok());
}

std::vector<uint8_t> Payload(size_t n, uint8_t fill) {
  return std::vector<uint8_t>(n, fill);
}

// A posting file of three records (one longer than a page, so that
// ForEachRecord reads it in two pieces); their locations in *locations.
std::string MakePostingFile(const TempDir& dir,
                            std::vector<PostingLocation>* locations) {
  const std::string path = dir.File("postings.dat");
  auto w = PostingFileWriter::Create(Env::Default(), path, PostingUserHeader{});
  EXPECT_TRUE(w.ok()) << w.status();
  for (auto [bytes, fill] : {std::pair<size_t, uint8_t>{100, 1}, {9000, 2}, {0, 3}}) {
    const std::vector<uint8_t> p = Payload(bytes, fill);
    auto loc = (*w)->Append(p.data(), static_cast<uint32_t>(p.size()));
    EXPECT_TRUE(loc.ok()) << loc.status();
    if (loc.ok()) locations->push_back(*loc);
  }
  EXPECT_TRUE((*w)->Finish().ok());
  return path;
}

TEST(ReadFaultTest, PostingFileOpenAndForEachRecord) {
  TempDir dir;
  std::vector<PostingLocation> locations;
  const std::string path = MakePostingFile(dir, &locations);
  FaultInjectionEnv env(Env::Default());

  FailEachReadInTurn(env, path, [&] {
    return PostingFileReader::Open(path, false, &env).status();
  });

  auto reader = PostingFileReader::Open(path, false, &env);
  ASSERT_TRUE(reader.ok()) << reader.status();
  std::vector<PostingLocation> seen;
  FailEachReadInTurn(env, path, [&] {
    seen.clear();
    return (*reader)->ForEachRecord(
        [&](const PostingLocation& loc, std::span<const uint8_t>) {
          seen.push_back(loc);
          return absl::OkStatus();
        });
  });
  ASSERT_EQ(seen.size(), locations.size());
  EXPECT_EQ(seen[1].offset, locations[1].offset);
  EXPECT_EQ(seen[1].bytes, locations[1].bytes);
}

TEST(ReadFaultTest, PostingStoreOpenAndRead) {
  TempDir dir;
  std::vector<PostingLocation> locations;
  const std::string path = MakePostingFile(dir, &locations);
  const uint64_t committed = locations.back().offset + locations.back().bytes;
  FaultInjectionEnv env(Env::Default());

  FailEachReadInTurn(env, path, [&] {
    return PostingStore::Open(&env, path, committed, locations).status();
  });

  auto store = PostingStore::Open(&env, path, committed, locations);
  ASSERT_TRUE(store.ok()) << store.status();
  AlignedBuffer buffer(kDirectIoAlignment);
  // The store keeps its file open: the fault reaches a file opened before it
  // was armed.
  env.FailReadsOf(path);
  ExpectReadError((*store)->Read(locations[1], &buffer).status(), path,
                  "Read with reads of the file failing");
  env.ClearFaults();
  auto payload = (*store)->Read(locations[1], &buffer);
  ASSERT_TRUE(payload.ok()) << payload.status();
  ASSERT_EQ(payload->size(), 9000u);
  EXPECT_EQ((*payload)[8999], 2);
}

TEST(ReadFaultTest, PointLogScanAndReadRecord) {
  TempDir dir;
  const std::vector<Batch> batches = BaseBatches();
  const std::vector<uint64_t> sizes = BuildLog(dir.path(), batches);
  ASSERT_EQ(sizes.size(), batches.size() + 1);
  const std::string path = LogPath(dir.path(), 1);
  FaultInjectionEnv env(Env::Default());

  std::vector<PointLogOp> last_batch;
  PointLogScan scan;
  FailEachReadInTurn(env, path, [&]() -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                           env.NewRandomAccessFile(path));
    return ScanPointLog(
        *file, sizes.back(), 1,
        [&](const std::vector<PointLogOp>& batch) {
          last_batch = batch;
          return absl::OkStatus();
        },
        &scan);
  });
  EXPECT_EQ(scan.batches, batches.size());
  EXPECT_EQ(scan.valid_bytes, sizes.back());
  ASSERT_EQ(last_batch.size(), 2u);  // the delete of "c", the put of "e"
  const PointLocation put_e = last_batch[1].location;

  std::string buffer;
  std::optional<PointRecordView> record;
  FailEachReadInTurn(env, path, [&]() -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file,
                           env.NewRandomAccessFile(path));
    CAIRN_ASSIGN_OR_RETURN(record,
                           ReadPointRecord(*file, path, put_e, &buffer));
    return absl::OkStatus();
  });
  ASSERT_TRUE(record.has_value());
  EXPECT_EQ(record->key, "e");
  EXPECT_EQ(record->payload, std::string(300, 'e'));
}

TEST(ReadFaultTest, PointStoreOpenAndGet) {
  TempDir dir;
  const std::vector<Batch> batches = BaseBatches();
  BuildLog(dir.path(), batches);
  const std::string path = LogPath(dir.path(), 1);
  const Contents expected = StateAfter(batches, batches.size());
  FaultInjectionEnv env(Env::Default());

  // A failed recovery leaves the log as it was: the next Open sees it all.
  FailEachReadInTurn(env, path, [&] {
    return PointStore::Open(&env, dir.path(), NoAutoCompact()).status();
  });

  auto store = PointStore::Open(&env, dir.path(), NoAutoCompact());
  ASSERT_TRUE(store.ok()) << store.status();
  env.FailReadsOf(path);
  ExpectReadError((*store)->Get("e").status(), path,
                  "Get with reads of the log failing");
  env.ClearFaults();
  EXPECT_EQ(ReadAll(**store), expected);
}

TEST(ReadFaultTest, HeadIndexLoad) {
  TempDir dir;
  constexpr uint32_t kHeads = 40, kDim = 8;
  std::vector<float> heads(kHeads * kDim);
  for (size_t i = 0; i < heads.size(); ++i) {
    heads[i] = static_cast<float>((i * 7919) % 101) / 101.0f;
  }
  HeadIndexOptions options;
  options.threads = 1;
  options.progress = false;
  auto built = HeadIndex::Build(heads.data(), kHeads, kDim, Metric::kL2, options);
  ASSERT_TRUE(built.ok()) << built.status();
  const std::string path = dir.File("heads.hnsw");
  ASSERT_TRUE((*built)->Save(path).ok());
  FaultInjectionEnv env(Env::Default());

  std::unique_ptr<HeadIndex> loaded;
  FailEachReadInTurn(env, path, [&]() -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(loaded, HeadIndex::Load(path, kDim, Metric::kL2, &env));
    return absl::OkStatus();
  });
  ASSERT_NE(loaded, nullptr);
  EXPECT_EQ(loaded->size(), kHeads);
  EXPECT_EQ(std::memcmp(loaded->head(5), heads.data() + 5 * kDim, kDim * sizeof(float)), 0);
}

// What HeadIndex::Load reads through the Env is hnswlib's leading sizes,
// checked against the file before hnswlib allocates by them.
TEST(ReadFaultTest, HeadIndexLoadRejectsSizesTheFileCannotHold) {
  TempDir dir;
  constexpr uint32_t kHeads = 40, kDim = 8;
  std::vector<float> heads(kHeads * kDim, 0.5f);
  for (uint32_t i = 0; i < kHeads; ++i) heads[i * kDim] = static_cast<float>(i);
  HeadIndexOptions options;
  options.threads = 1;
  options.progress = false;
  auto built = HeadIndex::Build(heads.data(), kHeads, kDim, Metric::kL2, options);
  ASSERT_TRUE(built.ok()) << built.status();
  const std::string path = dir.File("heads.hnsw");
  ASSERT_TRUE((*built)->Save(path).ok());
  Env* env = Env::Default();
  ASSERT_TRUE(env->TruncateFile(path, *env->FileSize(path) / 2).ok());
  absl::Status s = HeadIndex::Load(path, kDim, Metric::kL2).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr(path));
  EXPECT_THAT(std::string(s.message()), HasSubstr("40 heads of"));

  ASSERT_TRUE(env->TruncateFile(path, 10).ok());
  s = HeadIndex::Load(path, kDim, Metric::kL2).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("shorter than its header"));
}

}  // namespace
}  // namespace cairn
