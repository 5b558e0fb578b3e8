// DirLock: exclusive between lock objects and between processes, released
// when the holder goes away, kill -9 included.
#include "storage/file_lock.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace cairn {
namespace {

class DirLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cairn_lock_XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

TEST_F(DirLockTest, SecondHolderIsRefusedWithTheFirstNamed) {
  auto first = DirLock::Acquire(dir_, "cairn serve");
  ASSERT_TRUE(first.ok()) << first.status();
  auto second = DirLock::Acquire(dir_, "cairn build");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()),
              ::testing::HasSubstr(absl::StrCat("pid ", getpid(), ": cairn serve")));
  first->reset();
  EXPECT_TRUE(DirLock::Acquire(dir_, "cairn build").ok());
}

TEST_F(DirLockTest, AMissingDirectoryIsAnError) {
  auto lock = DirLock::Acquire(dir_ + "/nope", "x");
  ASSERT_FALSE(lock.ok());
  EXPECT_EQ(lock.status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DirLockTest, AnotherProcessIsRefusedUntilTheHolderIsKilled) {
  int ready[2];
  ASSERT_EQ(pipe(ready), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    auto lock = DirLock::Acquire(dir_, "child");
    (void)!write(ready[1], lock.ok() ? "y" : "n", 1);
    pause();  // holds the lock until killed
    _exit(0);
  }
  char c = 0;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  ASSERT_EQ(c, 'y');
  auto refused = DirLock::Acquire(dir_, "parent");
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(std::string(refused.status().message()),
              ::testing::HasSubstr(absl::StrCat("pid ", child, ": child")));
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_TRUE(DirLock::Acquire(dir_, "parent").ok());
}

}  // namespace
}  // namespace cairn
