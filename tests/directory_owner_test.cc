// One owner per directory, end to end: the server's data directory, a live
// index's directory and a bulk build's output directory each refuse a second
// owner with a message naming the first, and leave the first's files alone.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "index/live/live_index.h"
#include "index/spann/spann_builder.h"
#include "server/collection_manager.h"
#include "tests/live_test_util.h"
#include "tests/test_util.h"

namespace cairn::testing {
namespace {

using ::testing::HasSubstr;

TEST(DirectoryOwnerTest, SecondLiveIndexAndBuildIntoItAreRefused) {
  DiskTempDir tmp;
  FloatMatrix base;
  auto dir = BuildSmallIndex(tmp.path(), 1000, &base);
  ASSERT_TRUE(dir.ok()) << dir.status();
  LiveOptions o;
  o.background = false;
  auto first = LiveIndex::Open(*dir, o);
  ASSERT_TRUE(first.ok()) << first.status();

  auto second = LiveIndex::Open(*dir, o);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("a live index"));

  const auto manifest_time = std::filesystem::last_write_time(*dir + "/manifest");
  SpannBuildOptions bo;
  bo.progress = false;
  bo.threads = 1;
  auto build = BuildSpannIndex(tmp.path() + "/data/base.fbin", *dir, bo);
  ASSERT_FALSE(build.ok());
  EXPECT_EQ(build.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(build.status().message()), HasSubstr("in use"));
  EXPECT_EQ(std::filesystem::last_write_time(*dir + "/manifest"), manifest_time);

  // The first index still answers; once it is closed the directory is free.
  {
    auto ctx = (*first)->NewContext();  // must not outlive the index
    ASSERT_TRUE(ctx.ok());
    auto hits =
        TopHits(**first, ctx->get(), std::vector<float>(base.row(5), base.row(5) + base.dim));
    ASSERT_TRUE(hits.ok());
    ASSERT_FALSE(hits->empty());
    EXPECT_EQ((*hits)[0].distance, 0.0f);
  }
  first->reset();
  EXPECT_TRUE(LiveIndex::Open(*dir, o).ok());
}

TEST(DirectoryOwnerTest, SecondServerOnADataDirectoryIsRefused) {
  DiskTempDir tmp;
  const std::string data = tmp.path() + "/data";
  auto first = CollectionManager::Open(data);
  ASSERT_TRUE(first.ok()) << first.status();
  CollectionConfig config;
  config.size = 8;
  ASSERT_TRUE((*first)->Create("c", config).ok());

  auto second = CollectionManager::Open(data);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(second.status().message()), HasSubstr("cairn serve"));

  first->reset();
  auto again = CollectionManager::Open(data);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_NE((*again)->Get("c"), nullptr);
}

}  // namespace
}  // namespace cairn::testing
