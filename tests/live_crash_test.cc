// Kill -9 at random moments: a child process (live_ingest_child) ingests into
// a live index and reports each acknowledged write; the parent kills it,
// reopens the index and checks that every acknowledged upsert is present and
// searchable, every acknowledged delete is gone, and nothing is corrupt.
// Twenty rounds on one index, so later rounds recover from states that
// earlier kills left (mid-flush, mid-split, mid-checkpoint).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>
#include <thread>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/live_test_util.h"
#include "tests/test_util.h"

namespace cairn::testing {
namespace {

struct ChildOutput {
  std::set<uint64_t> acked, deleted;
  uint64_t max_id = 0;
  bool opened = false;
};

// Runs the child for `ms` milliseconds of ingest, then SIGKILLs it.
ChildOutput RunAndKill(const std::string& index, const std::string& base, uint64_t first,
                       uint64_t seed, int ms) {
  int pipefd[2];
  EXPECT_EQ(pipe(pipefd), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    const std::string f = std::to_string(first), s = std::to_string(seed);
    execl(LIVE_INGEST_CHILD, LIVE_INGEST_CHILD, index.c_str(), base.c_str(), f.c_str(), s.c_str(),
          nullptr);
    _exit(127);
  }
  close(pipefd[1]);
  FILE* in = fdopen(pipefd[0], "r");
  ChildOutput out;
  // Wait for OPEN (recovery time does not count), then let it ingest.
  char line[128];
  while (fgets(line, sizeof(line), in) != nullptr) {
    if (std::string(line) == "OPEN\n") {
      out.opened = true;
      break;
    }
  }
  if (out.opened) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
    kill(pid, SIGKILL);
  }
  while (fgets(line, sizeof(line), in) != nullptr) {
    char kind;
    unsigned long long id;
    if (std::sscanf(line, "%c %llu", &kind, &id) != 2) continue;  // a torn last line
    if (kind == 'A') {
      out.acked.insert(id);
      out.max_id = std::max<uint64_t>(out.max_id, id);
    } else if (kind == 'D') {
      out.deleted.insert(id);
    }
  }
  fclose(in);
  int status = 0;
  waitpid(pid, &status, 0);
  if (out.opened) {
    EXPECT_TRUE(WIFSIGNALED(status)) << "child exited on its own: " << status;
  }
  return out;
}

// 20 rounds of ingest killed at a random moment, about 20 s. A failure
// tells a lost write from a vector that is stored but out of reach of its
// own search (placement drift), with where its copies sit.
TEST(LiveCrashTest, EveryAcknowledgedWriteSurvivesKillNine) {
  DiskTempDir tmp;
  FloatMatrix base;
  auto index_dir = BuildSmallIndex(tmp.path(), 3000, &base);
  ASSERT_TRUE(index_dir.ok()) << index_dir.status();
  const std::string base_path = tmp.path() + "/data/base.fbin";
  std::set<uint64_t> present, absent;
  uint64_t next_id = 0;
  Rng rng(2026);
  for (int round = 0; round < 20; ++round) {
    const int ms = 10 + static_cast<int>(rng.Next() % 150);
    ChildOutput out = RunAndKill(*index_dir, base_path, next_id, round + 1, ms);
    ASSERT_TRUE(out.opened) << "round " << round << ": the child could not open the index";
    for (uint64_t id : out.acked) present.insert(id);
    for (uint64_t id : out.deleted) {
      present.erase(id);
      absent.insert(id);
    }
    if (!out.acked.empty()) next_id = out.max_id + 1;
    next_id += 100;  // unacknowledged ids of the killed batch are never reused

    LiveOptions o;
    o.background = false;
    auto t0 = std::chrono::steady_clock::now();
    auto index = LiveIndex::Open(*index_dir, o);
    std::fprintf(stderr, "round %d: %zu acked, reopen %.0f ms\n", round, out.acked.size(),
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    ASSERT_TRUE(index.ok()) << "round " << round << ": " << index.status();
    auto ctx = (*index)->NewContext();
    ASSERT_TRUE(ctx.ok());
    for (uint64_t id : present) {
      auto hits = TopHits(**index, ctx->get(), VectorFor(id, base));
      ASSERT_TRUE(hits.ok()) << hits.status();
      ASSERT_FALSE(hits->empty());
      if ((*hits)[0].id != LiveId(id)) {
        // Tell a routing miss (the vector is in postings its own nearest
        // heads do not reach) from a lost write.
        SpannSearchParams wide;
        wide.k = 1;
        wide.max_postings = 100000;
        std::vector<LiveResult> all;
        const std::vector<float> v = VectorFor(id, base);
        ASSERT_TRUE((*index)->Search(v.data(), wide, ctx->get(), &all, nullptr).ok());
        const bool somewhere = !all.empty() && all[0].id == LiveId(id);
        std::string where;
        if (auto pl = (*index)->Placement(LiveId(id), v.data()); pl.ok()) {
          where = absl::StrCat(" [", pl->live_heads, " live heads; buffered ", pl->buffered, ";");
          for (const HeadPlacement& p : pl->postings) {
            absl::StrAppend(&where, " head ", p.head, " exact rank ", p.exact_rank,
                            " graph rank ", p.graph_rank, " dist ", p.distance, ";");
          }
          absl::StrAppend(&where, "]");
        }
        FAIL() << "round " << round << ": acknowledged id " << id << where
               << (somewhere ? " is stored but not reached from its own nearest heads"
                             : " is lost")
               << " (" << out.acked.size() << " acked this round)";
      }
      ASSERT_EQ((*hits)[0].distance, 0.0f);
    }
    for (uint64_t id : absent) {
      auto hits = TopHits(**index, ctx->get(), VectorFor(id, base), 5);
      ASSERT_TRUE(hits.ok());
      for (const auto& h : *hits) ASSERT_NE(h.id, LiveId(id)) << "deleted id " << id << " is back";
    }
    // Writes logged but killed before they were reported are there too (at
    // most one batch of 8 upserts and one delete per round).
    const uint64_t live = (*index)->stats().live_vectors;
    EXPECT_GE(live + (round + 1), 3000 + present.size()) << "round " << round;
    EXPECT_LE(live, 3000 + present.size() + 8 * (round + 1)) << "round " << round;
  }
  EXPECT_GT(present.size(), 100u) << "the child acknowledged too few writes to test anything";
}

}  // namespace
}  // namespace cairn::testing
