#include "storage/block_reader.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "common/aligned_buffer.h"
#include "common/random.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::WriteBytes;
using ::testing::HasSubstr;

constexpr size_t kFileBytes = 8 << 20;
constexpr uint32_t kPage = kDirectIoAlignment;

using ::cairn::testing::DiskTempDir;

// Sets an environment variable for the scope, restoring the old value.
class ScopedEnvVar {
 public:
  ScopedEnvVar(const char* name, const char* value) : name_(name) {
    const char* old = getenv(name);
    if (old != nullptr) old_ = old;
    had_old_ = old != nullptr;
    setenv(name, value, 1);
  }
  ~ScopedEnvVar() {
    if (had_old_) {
      setenv(name_, old_.c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::string old_;
  bool had_old_ = false;
};

bool FileSystemAllowsDirect(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT);
  if (fd < 0) return false;
  ::close(fd);
  return true;
}

bool IoUringAvailable(const std::string& path) {
  BlockReaderOptions opts;
  opts.kind = BlockReaderOptions::kIoUring;
  return OpenBlockReader(path, opts).ok();
}

// Makes io_uring_setup fail with EPERM in this process from now on, as
// Docker's older default seccomp profile does. False if seccomp is refused.
bool BlockIoUringSetup() {
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {sizeof(filter) / sizeof(filter[0]), filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return false;
  return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

struct Extent {
  uint64_t offset;
  uint32_t length;
};

// 200 page-aligned extents of 1..16 pages anywhere in the file, overlapping
// each other at random.
std::vector<Extent> RandomExtents(uint64_t seed, size_t n) {
  Rng rng(seed);
  std::vector<Extent> extents;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t pages = 1 + static_cast<uint32_t>(rng.Below(16));
    const uint64_t max_page = kFileBytes / kPage - pages;
    extents.push_back({rng.Below(max_page + 1) * kPage, pages * kPage});
  }
  return extents;
}

class BlockReaderTest
    : public ::testing::TestWithParam<BlockReaderOptions::Kind> {
 protected:
  void SetUp() override {
    unsetenv("CAIRN_IO");
    ASSERT_TRUE(dir_.ok()) << "cannot create a directory under /var/tmp";
    path_ = dir_.File("data");
    Rng rng(42);
    contents_.resize(kFileBytes);
    for (size_t i = 0; i < kFileBytes; i += 8) {
      const uint64_t v = rng.Next();
      std::memcpy(&contents_[i], &v, 8);
    }
    WriteBytes(path_, contents_.data(), contents_.size());
    if (GetParam() == BlockReaderOptions::kIoUring &&
        !IoUringAvailable(path_)) {
      GTEST_SKIP() << "io_uring is not available here";
    }
  }

  std::unique_ptr<BlockReader> Open(unsigned queue_depth = 16,
                                    bool direct = true) {
    BlockReaderOptions opts;
    opts.kind = GetParam();
    opts.queue_depth = queue_depth;
    opts.direct = direct;
    auto reader = OpenBlockReader(path_, opts);
    EXPECT_TRUE(reader.ok()) << reader.status();
    return reader.ok() ? std::move(*reader) : nullptr;
  }

  DiskTempDir dir_;
  std::string path_;
  std::vector<uint8_t> contents_;
};

TEST_P(BlockReaderTest, RandomBatchMatchesFileBytes) {
  auto reader = Open(/*queue_depth=*/16);
  ASSERT_NE(reader, nullptr);
  EXPECT_STREQ(reader->kind(), GetParam() == BlockReaderOptions::kIoUring
                                   ? "io_uring"
                                   : "pread");
  EXPECT_EQ(reader->direct(), FileSystemAllowsDirect(path_));
  EXPECT_EQ(reader->path(), path_);

  const std::vector<Extent> extents = RandomExtents(7, 200);
  std::vector<AlignedBuffer> buffers;
  std::vector<ReadRequest> reqs(extents.size());
  uint64_t total = 0;
  for (size_t i = 0; i < extents.size(); ++i) {
    buffers.emplace_back(extents[i].length, kPage);
    reqs[i].offset = extents[i].offset;
    reqs[i].length = extents[i].length;
    reqs[i].buffer = buffers[i].data();
    reqs[i].user_data = i;
    total += extents[i].length;
  }
  ASSERT_TRUE(reader->Submit(reqs.data(), reqs.size()).ok());
  EXPECT_EQ(reader->InFlight(), reqs.size());

  std::vector<bool> seen(reqs.size(), false);
  for (size_t done = 0; done < reqs.size(); ++done) {
    auto r = reader->WaitNext();
    ASSERT_TRUE(r.ok()) << r.status();
    const size_t i = (*r)->user_data;
    ASSERT_LT(i, reqs.size());
    EXPECT_FALSE(seen[i]);
    seen[i] = true;
    EXPECT_EQ(*r, &reqs[i]);
    EXPECT_EQ((*r)->result, static_cast<int32_t>(extents[i].length));
    EXPECT_EQ(std::memcmp(buffers[i].data(), &contents_[extents[i].offset],
                          extents[i].length),
              0)
        << "extent " << i << " at offset " << extents[i].offset;
    if (GetParam() == BlockReaderOptions::kPread) {
      EXPECT_EQ(i, done);  // pread completes in submission order
    }
  }
  EXPECT_EQ(reader->InFlight(), 0u);
  EXPECT_EQ(reader->BytesRead(), total);
  EXPECT_EQ(reader->ReadsIssued(), reqs.size());
  EXPECT_EQ(reader->WaitNext().status().code(),
            absl::StatusCode::kFailedPrecondition);
}

// Submits in small batches while consuming completions, with a queue of 3,
// reusing buffers as they come back: the pattern of a search worker.
TEST_P(BlockReaderTest, InterleavedSubmitAndWait) {
  auto reader = Open(/*queue_depth=*/3);
  ASSERT_NE(reader, nullptr);
  const std::vector<Extent> extents = RandomExtents(11, 120);
  std::vector<AlignedBuffer> buffers;
  std::vector<ReadRequest> reqs(extents.size());
  for (size_t i = 0; i < extents.size(); ++i) {
    buffers.emplace_back(extents[i].length, kPage);
    reqs[i] = {extents[i].offset, extents[i].length, buffers[i].data(), 0, i};
  }
  size_t submitted = 0, completed = 0;
  while (completed < reqs.size()) {
    const size_t batch = std::min<size_t>(5, reqs.size() - submitted);
    if (batch > 0) {
      ASSERT_TRUE(reader->Submit(&reqs[submitted], batch).ok());
      submitted += batch;
    }
    auto r = reader->WaitNext();
    ASSERT_TRUE(r.ok()) << r.status();
    const size_t i = (*r)->user_data;
    EXPECT_EQ(std::memcmp(buffers[i].data(), &contents_[extents[i].offset],
                          extents[i].length),
              0);
    ++completed;
  }
  EXPECT_EQ(reader->InFlight(), 0u);
}

TEST_P(BlockReaderTest, ReadPastTheEndIsAnErrorNotACrash) {
  auto reader = Open();
  ASSERT_NE(reader, nullptr);
  AlignedBuffer a(2 * kPage, kPage), b(kPage, kPage), c(kPage, kPage);
  ReadRequest reqs[3] = {
      {kFileBytes - kPage, 2 * kPage, a.data(), 0, 0},   // straddles the end
      {kFileBytes + 10 * kPage, kPage, b.data(), 0, 1},  // wholly beyond
      {0, kPage, c.data(), 0, 2},                        // fine
  };
  ASSERT_TRUE(reader->Submit(reqs, 3).ok());
  int errors = 0, good = 0;
  while (reader->InFlight() > 0) {
    auto r = reader->WaitNext();
    if (r.ok()) {
      EXPECT_EQ((*r)->user_data, 2u);
      EXPECT_EQ(std::memcmp(c.data(), contents_.data(), kPage), 0);
      ++good;
    } else {
      ++errors;
      EXPECT_EQ(r.status().code(), absl::StatusCode::kOutOfRange);
      EXPECT_THAT(r.status().message(), HasSubstr(path_));
      EXPECT_THAT(r.status().message(), HasSubstr("offset"));
    }
  }
  EXPECT_EQ(errors, 2);
  EXPECT_EQ(good, 1);
  EXPECT_EQ(reqs[0].result, static_cast<int32_t>(kPage));  // bytes before EOF
  EXPECT_EQ(reqs[1].result, 0);
}

TEST_P(BlockReaderTest, MisalignedRequestsAreRejectedBeforeQueueing) {
  auto reader = Open();
  ASSERT_NE(reader, nullptr);
  AlignedBuffer buf(3 * kPage, kPage);
  ReadRequest good = {0, kPage, buf.data(), 0, 0};
  const ReadRequest bad[] = {
      {100, kPage, buf.data(), 0, 0},            // offset
      {0, 100, buf.data(), 0, 0},                // length
      {0, kPage, buf.data<char>() + 512, 0, 0},  // buffer
      {0, 0, buf.data(), 0, 0},                  // empty
      {0, kPage, nullptr, 0, 0},                 // no buffer
  };
  for (const ReadRequest& b : bad) {
    ReadRequest batch[2] = {good, b};
    absl::Status s = reader->Submit(batch, 2);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(s.message(), HasSubstr(path_));
    EXPECT_EQ(reader->InFlight(), 0u);  // all or nothing
  }
}

TEST_P(BlockReaderTest, BufferedReaderAcceptsUnalignedReads) {
  auto reader = Open(/*queue_depth=*/4, /*direct=*/false);
  ASSERT_NE(reader, nullptr);
  EXPECT_FALSE(reader->direct());
  std::vector<char> buf(1000);
  ReadRequest req = {12345, 1000, buf.data(), 0, 0};
  ASSERT_TRUE(reader->Submit(&req, 1).ok());
  auto r = reader->WaitNext();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(std::memcmp(buf.data(), &contents_[12345], 1000), 0);
}

TEST_P(BlockReaderTest, DestroyingWithReadsInFlightIsSafe) {
  auto reader = Open(/*queue_depth=*/8);
  ASSERT_NE(reader, nullptr);
  std::vector<AlignedBuffer> buffers;
  std::vector<ReadRequest> reqs(50);
  for (size_t i = 0; i < reqs.size(); ++i) {
    buffers.emplace_back(16 * kPage, kPage);
    reqs[i] = {i * 16 * kPage, 16 * kPage, buffers[i].data(), 0, i};
  }
  ASSERT_TRUE(reader->Submit(reqs.data(), reqs.size()).ok());
  ASSERT_TRUE(reader->WaitNext().ok());
  reader.reset();  // must wait for the kernel before the buffers go away
}

INSTANTIATE_TEST_SUITE_P(Kinds, BlockReaderTest,
                         ::testing::Values(BlockReaderOptions::kIoUring,
                                           BlockReaderOptions::kPread),
                         [](const auto& info) {
                           return info.param == BlockReaderOptions::kIoUring
                                      ? std::string("IoUring")
                                      : std::string("Pread");
                         });

class OpenBlockReaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    unsetenv("CAIRN_IO");
    ASSERT_TRUE(dir_.ok());
    path_ = dir_.File("small");
    std::vector<uint8_t> bytes(4 * kPage, 7);
    WriteBytes(path_, bytes.data(), bytes.size());
  }
  DiskTempDir dir_;
  std::string path_;
};

TEST_F(OpenBlockReaderTest, CairnIoPreadIsHonoured) {
  ScopedEnvVar env("CAIRN_IO", "pread");
  for (auto kind : {BlockReaderOptions::kAuto, BlockReaderOptions::kIoUring}) {
    BlockReaderOptions opts;
    opts.kind = kind;
    auto reader = OpenBlockReader(path_, opts);
    ASSERT_TRUE(reader.ok()) << reader.status();
    EXPECT_STREQ((*reader)->kind(), "pread");
  }
}

TEST_F(OpenBlockReaderTest, CairnIoIoUringIsHonouredOrFailsClearly) {
  ScopedEnvVar env("CAIRN_IO", "io_uring");
  BlockReaderOptions opts;
  opts.kind = BlockReaderOptions::kPread;
  auto reader = OpenBlockReader(path_, opts);
  if (reader.ok()) {
    EXPECT_STREQ((*reader)->kind(), "io_uring");
  } else {
    EXPECT_EQ(reader.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_THAT(reader.status().message(), HasSubstr("io_uring"));
  }
}

TEST_F(OpenBlockReaderTest, BadCairnIoValueIsRejected) {
  ScopedEnvVar env("CAIRN_IO", "mmap");
  auto reader = OpenBlockReader(path_, {});
  EXPECT_EQ(reader.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(reader.status().message(), HasSubstr("CAIRN_IO"));
}

TEST_F(OpenBlockReaderTest, AutoPicksIoUringWhenAvailable) {
  auto reader = OpenBlockReader(path_, {});
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_STREQ((*reader)->kind(),
               IoUringAvailable(path_) ? "io_uring" : "pread");
}

// The body of the next test, run in the child process: 0 if kAuto fell back
// to a working pread reader and kIoUring failed with Unavailable. Cleans up
// before returning because the child ends with _Exit.
int CheckFallbackWithIoUringRefused() {
  if (!BlockIoUringSetup()) {
    std::fprintf(stderr, "seccomp unavailable: test not run\n");
    return 0;
  }
  DiskTempDir dir;
  if (!dir.ok()) return 4;
  const std::string path = dir.File("f");
  std::vector<uint8_t> bytes(kPage, 7);
  WriteBytes(path, bytes.data(), bytes.size());
  auto reader = OpenBlockReader(path, {});
  if (!reader.ok() || std::strcmp((*reader)->kind(), "pread") != 0) return 1;
  AlignedBuffer buf(kPage, kPage);
  ReadRequest req = {0, kPage, buf.data(), 0, 0};
  if (!(*reader)->Submit(&req, 1).ok() || !(*reader)->WaitNext().ok() ||
      buf.data<uint8_t>()[0] != 7) {
    return 2;
  }
  BlockReaderOptions forced;
  forced.kind = BlockReaderOptions::kIoUring;
  if (OpenBlockReader(path, forced).status().code() !=
      absl::StatusCode::kUnavailable) {
    return 3;
  }
  return 0;
}

// A death test because the seccomp filter cannot be removed again.
TEST(OpenBlockReaderFallbackTest, AutoFallsBackToPreadWhenIoUringIsRefused) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  unsetenv("CAIRN_IO");
  EXPECT_EXIT(std::_Exit(CheckFallbackWithIoUringRefused()),
              ::testing::ExitedWithCode(0),
              "io_uring unavailable.*using pread|seccomp unavailable");
}

TEST_F(OpenBlockReaderTest, MissingFileAndBadOptions) {
  auto missing = OpenBlockReader(dir_.File("nope"), {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(), HasSubstr(dir_.File("nope")));
  BlockReaderOptions opts;
  opts.queue_depth = 0;
  EXPECT_EQ(OpenBlockReader(path_, opts).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// O_DIRECT on the real disk under /var/tmp is expected to work; on tmpfs
// (/dev/shm) the reader falls back to buffered I/O if the kernel refuses.
// Either way direct() must tell the truth and the bytes must be right.
TEST_F(OpenBlockReaderTest, DirectReportsWhatTheFileSystemGranted) {
  for (const std::string parent : {"/var/tmp", "/dev/shm", "/tmp"}) {
    if (!std::filesystem::is_directory(parent)) continue;
    DiskTempDir dir(parent);
    if (!dir.ok()) continue;
    const std::string path = dir.File("f");
    std::vector<uint8_t> bytes(2 * kPage);
    for (size_t i = 0; i < bytes.size(); ++i)
      bytes[i] = static_cast<uint8_t>(i * 31);
    WriteBytes(path, bytes.data(), bytes.size());
    for (auto kind : {BlockReaderOptions::kAuto, BlockReaderOptions::kPread}) {
      BlockReaderOptions opts;
      opts.kind = kind;
      auto reader = OpenBlockReader(path, opts);
      ASSERT_TRUE(reader.ok()) << reader.status();
      EXPECT_EQ((*reader)->direct(), FileSystemAllowsDirect(path)) << parent;
      std::cout << "[ info ] " << parent << ": " << (*reader)->kind()
                << ", direct=" << (*reader)->direct() << "\n";
      AlignedBuffer buf(kPage, kPage);
      ReadRequest req = {kPage, kPage, buf.data(), 0, 0};
      ASSERT_TRUE((*reader)->Submit(&req, 1).ok());
      auto r = (*reader)->WaitNext();
      ASSERT_TRUE(r.ok()) << r.status();
      EXPECT_EQ(std::memcmp(buf.data(), &bytes[kPage], kPage), 0);
    }
  }
}

}  // namespace
}  // namespace cairn
