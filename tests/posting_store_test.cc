// PostingStore: copy-on-write records, holes reused only after a checkpoint
// and once readers have left, a free tail cut off, and a damaged or
// truncated file reported as DataLoss naming it.
#include "storage/posting_store.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "storage/fault_injection_env.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;
using ::cairn::testing::DiskTempDir;

std::string MakeFile(const DiskTempDir& tmp) {
  const std::string path = tmp.File("postings.dat");
  auto w = PostingFileWriter::Create(Env::Default(), path, PostingUserHeader{});
  EXPECT_TRUE(w.ok());
  EXPECT_TRUE((*w)->Finish().ok());
  return path;
}

std::vector<uint8_t> Payload(size_t n, uint8_t fill) { return std::vector<uint8_t>(n, fill); }

auto Always = [](uint64_t) { return true; };
auto Never = [](uint64_t) { return false; };

TEST(PostingStoreTest, WritesReadBackAndHolesAreReusedOnlyAfterCommit) {
  DiskTempDir tmp;
  const std::string path = MakeFile(tmp);
  auto store = PostingStore::Open(Env::Default(), path, kPostingPageBytes, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto p1 = Payload(5000, 1), p2 = Payload(100, 2);
  auto a = (*store)->Write(p1.data(), p1.size(), Always);
  auto b = (*store)->Write(p2.data(), p2.size(), Always);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->offset, kPostingPageBytes);
  EXPECT_EQ(a->bytes, 2 * kPostingPageBytes);
  AlignedBuffer buf(kDirectIoAlignment);
  auto r = (*store)->Read(*a, &buf);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), p1.size());
  EXPECT_EQ((*r)[4999], 1);

  // A checkpoint now references a and b: once a is retired, its bytes must
  // survive until the next checkpoint is durable.
  ASSERT_TRUE((*store)->Sync().ok());
  ASSERT_TRUE((*store)->CommitRetired(1, Always).ok());
  (*store)->Retire(*a, 2);
  auto c = (*store)->Write(p2.data(), p2.size(), Always);
  ASSERT_TRUE(c.ok());
  EXPECT_GT(c->offset, b->offset) << "a checkpointed extent was reused before the next checkpoint";
  ASSERT_TRUE((*store)->Sync().ok());
  ASSERT_TRUE((*store)->CommitRetired(7, Never).ok());
  auto d = (*store)->Write(p2.data(), p2.size(), Never);
  ASSERT_TRUE(d.ok());
  EXPECT_NE(d->offset, a->offset) << "reused while a reader may still hold it";
  auto e = (*store)->Write(p2.data(), p2.size(), Always);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->offset, a->offset) << "a free, safe hole was not reused";
  EXPECT_GT((*store)->stats().reused_bytes, 0u);
}

TEST(PostingStoreTest, ExtentWrittenSinceTheCheckpointIsReusedAtOnce) {
  DiskTempDir tmp;
  const std::string path = MakeFile(tmp);
  auto store = PostingStore::Open(Env::Default(), path, kPostingPageBytes, {});
  ASSERT_TRUE(store.ok()) << store.status();
  auto p = Payload(5000, 4);
  auto a = (*store)->Write(p.data(), p.size(), Always);
  auto b = (*store)->Write(p.data(), p.size(), Always);
  ASSERT_TRUE(a.ok() && b.ok());
  // No durable directory ever referenced a: only readers can hold it.
  (*store)->Retire(*a, 9);
  EXPECT_EQ((*store)->stats().retired_bytes, 0u);
  EXPECT_EQ((*store)->stats().free_bytes, a->bytes);
  auto c = (*store)->Write(p.data(), p.size(), Never);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->offset, a->offset) << "reused while a reader may still hold it";
  auto d = (*store)->Write(p.data(), p.size(), Always);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->offset, a->offset) << "an uncommitted retired extent waited for a checkpoint";
  // d now sits where a was; after a checkpoint it is protected again.
  ASSERT_TRUE((*store)->Sync().ok());
  ASSERT_TRUE((*store)->CommitRetired(10, Always).ok());
  (*store)->Retire(*d, 11);
  EXPECT_EQ((*store)->stats().retired_bytes, d->bytes);
  auto e = (*store)->Write(p.data(), p.size(), Always);
  ASSERT_TRUE(e.ok());
  EXPECT_NE(e->offset, d->offset);
}

TEST(PostingStoreTest, FreeTailIsCutAndReopenDropsUncommittedBytes) {
  DiskTempDir tmp;
  const std::string path = MakeFile(tmp);
  uint64_t committed = 0;
  PostingLocation keep;
  {
    auto store = PostingStore::Open(Env::Default(), path, kPostingPageBytes, {});
    ASSERT_TRUE(store.ok());
    auto p = Payload(100, 3);
    keep = *(*store)->Write(p.data(), p.size(), Always);
    auto tail = *(*store)->Write(p.data(), p.size(), Always);
    (*store)->Retire(tail, 0);
    ASSERT_TRUE((*store)->Sync().ok());
    committed = (*store)->committed_candidate();
    ASSERT_TRUE((*store)->CommitRetired(1, Always).ok());
    EXPECT_EQ((*store)->stats().truncated_bytes, kPostingPageBytes);
    EXPECT_EQ(fs::file_size(path), 2 * kPostingPageBytes);
    (void)(*store)->Write(p.data(), p.size(), Always);  // never committed
  }
  auto store = PostingStore::Open(Env::Default(), path, committed, {keep});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_LE(fs::file_size(path), committed);
  AlignedBuffer buf(kDirectIoAlignment);
  EXPECT_TRUE((*store)->Read(keep, &buf).ok());
}

TEST(PostingStoreTest, DamageIsDataLossNamingTheFile) {
  DiskTempDir tmp;
  const std::string path = MakeFile(tmp);
  PostingLocation loc;
  {
    auto store = PostingStore::Open(Env::Default(), path, kPostingPageBytes, {});
    auto p = Payload(100, 4);
    loc = *(*store)->Write(p.data(), p.size(), Always);
    ASSERT_TRUE((*store)->Sync().ok());
  }
  // An extent past the end of the file (truncation).
  auto bad = PostingStore::Open(Env::Default(), path, 3 * kPostingPageBytes,
                                {PostingLocation{2 * kPostingPageBytes, kPostingPageBytes}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(bad.status().message().find(path), std::string::npos);
  // A flipped payload byte fails the record checksum on read.
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(loc.offset + 40));
    f.put('\x7f');
  }
  auto store = PostingStore::Open(Env::Default(), path, 2 * kPostingPageBytes, {loc});
  ASSERT_TRUE(store.ok());
  AlignedBuffer buf(kDirectIoAlignment);
  auto r = (*store)->Read(loc, &buf);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
}

TEST(PostingStoreTest, FailedWritePoisonsTheStore) {
  DiskTempDir tmp;
  const std::string path = MakeFile(tmp);
  FaultInjectionEnv env(Env::Default());
  auto store = PostingStore::Open(&env, path, kPostingPageBytes, {});
  ASSERT_TRUE(store.ok());
  env.FailFrom(1, EIO);
  auto p = Payload(100, 5);
  auto w = (*store)->Write(p.data(), p.size(), Always);
  ASSERT_FALSE(w.ok());
  env.ClearFaults();
  EXPECT_FALSE((*store)->Write(p.data(), p.size(), Always).ok());
  EXPECT_FALSE((*store)->Sync().ok());
}

TEST(PostingStoreTest, DiskFullWriteChangesNothingAndLaterWritesSucceed) {
  DiskTempDir tmp;
  const std::string path = MakeFile(tmp);
  FaultInjectionEnv env(Env::Default());
  env.set_partial_appends(true);
  auto store = PostingStore::Open(&env, path, kPostingPageBytes, {});
  ASSERT_TRUE(store.ok());
  auto p = Payload(100, 5);
  auto first = (*store)->Write(p.data(), p.size(), Always);
  ASSERT_TRUE(first.ok()) << first.status();
  // A hole to reuse: the first extent, retired since the last checkpoint.
  auto second = (*store)->Write(p.data(), p.size(), Always);
  ASSERT_TRUE(second.ok());
  (*store)->Retire(*first, 0);
  const PostingStoreStats before = (*store)->stats();
  for (uint64_t skip : {0, 1}) {  // the write itself, then (tail) its flush
    for (bool tail : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "skip " << skip << " tail " << tail);
      // A payload too large for the hole goes to the tail.
      auto big = Payload(tail ? 9000 : 100, 6);
      env.FailNth(env.operation_count() + 1 + skip, ENOSPC);
      auto w = (*store)->Write(big.data(), big.size(), Always);
      if (w.ok()) {
        // skip 1 on a reused hole: the one operation succeeded.
        ASSERT_FALSE(tail);
        (*store)->Retire(*w, 0);
        env.ClearFaults();
        continue;
      }
      EXPECT_TRUE(IsOutOfSpace(w.status())) << w.status();
      env.ClearFaults();
      const PostingStoreStats after = (*store)->stats();
      EXPECT_EQ(after.file_bytes, before.file_bytes);
      EXPECT_EQ(after.live_bytes, before.live_bytes);
      EXPECT_EQ(after.free_bytes, before.free_bytes);
      EXPECT_EQ(*env.FileSize(path), before.file_bytes);
    }
  }
  auto again = (*store)->Write(p.data(), p.size(), Always);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->offset, first->offset);  // the hole was kept free
  auto tail = (*store)->Write(Payload(9000, 7).data(), 9000, Always);
  ASSERT_TRUE(tail.ok()) << tail.status();
  EXPECT_EQ(tail->offset, before.file_bytes);
  AlignedBuffer buf(kDirectIoAlignment);
  auto r = (*store)->Read(*tail, &buf);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 9000u);
  EXPECT_EQ((*r)[0], 7);
  EXPECT_TRUE((*store)->Sync().ok());
}

}  // namespace
}  // namespace cairn
