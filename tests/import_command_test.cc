// `cairn import`, `cairn collections` and `cairn query`: the real binary
// against a real `cairn serve` on loopback, with Fashion-MNIST images as
// the vectors. The importer is killed with SIGKILL and interrupted with
// SIGINT mid-import and resumed; bad JSON lines are skipped or stop it.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <thread>

#include "cli/import_state.h"
#include "client/cpp/cairn_client.h"
#include "datasets/vector_file.h"
#include "tests/fashion_sample.h"
#include "tests/serve_process.h"
#include "tests/test_util.h"

extern char** environ;

namespace cairn {
namespace {

using ::cairn::testing::ServeProcess;
using ::cairn::testing::TempDir;
using ::testing::HasSubstr;
using ::testing::Not;

struct Result {
  int exit_code;
  std::string output;  // stdout and stderr
};

Result RunCairn(const std::string& args) {
  std::string cmd = std::string(CAIRN_BINARY_PATH) + " " + args + " 2>&1";
  Result r{-1, ""};
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The importer as a child process, its output in `log`.
pid_t SpawnCairn(const std::vector<std::string>& args, const std::string& log) {
  std::vector<std::string> all = {CAIRN_BINARY_PATH};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  if (posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ) != 0) pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  return pid;
}

// Waits until the state file shows at least `batches` acknowledged batches
// (false if the child exited first or after 60 s).
bool AwaitAcked(pid_t pid, const std::string& state, uint64_t batches, uint64_t* acked) {
  for (int i = 0; i < 6000; ++i) {
    absl::StatusOr<ImportState> s = ImportState::Load(state);
    if (s.ok() && s->Totals().acked_batches >= batches) {
      *acked = s->Totals().acked_batches;
      return true;
    }
    int status;
    if (waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class ImportCommandTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<ServeProcess>(dir_.File("data"));
    ASSERT_TRUE(server_->ok()) << server_->Log();
    client_ = std::move(*client::Client::Create({.url = server_->url()}));
  }
  // The first `rows` Fashion-MNIST images as an .fbin, and a payloads file
  // with each row's number.
  void WriteFashion(uint64_t rows) {
    absl::StatusOr<FloatMatrix> m = cairn::testing::FashionMnistSample(rows);
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_EQ(m->rows, rows);
    ASSERT_TRUE(WriteFloatMatrix(dir_.File("fashion.fbin"), *m).ok());
    std::ofstream p(dir_.File("payloads.jsonl"));
    for (uint64_t i = 0; i < rows; ++i)
      p << "{\"row\": " << i << ", \"tag\": \"t" << i % 7 << "\"}\n";
    fashion_ = std::move(*m);
  }
  std::string Flags(const std::string& collection) const {
    return "--url " + server_->url() + " --collection " + collection + " --state " +
           dir_.File(collection + ".state") + " --no-progress";
  }
  TempDir dir_;
  std::unique_ptr<ServeProcess> server_;
  std::unique_ptr<client::Client> client_;
  FloatMatrix fashion_;
};

TEST_F(ImportCommandTest, ImportsVectorsWithPayloadsAndChecksTheCount) {
  WriteFashion(3000);
  Result r = RunCairn("import " + Flags("f") + " --input " + dir_.File("fashion.fbin") +
                      " --payloads " + dir_.File("payloads.jsonl") +
                      " --create --distance Euclid --batch 100 --parallel 4");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("created collection f (784 dims, Euclid)"));
  EXPECT_THAT(r.output, HasSubstr("sent 3000 points in 30 batches"));
  EXPECT_THAT(r.output,
              HasSubstr("server count: 3000, expected 3000 (0 before + 3000 imported): ok"));
  EXPECT_FALSE(std::filesystem::exists(dir_.File("f.state")));  // verified: removed
  std::vector<client::PointId> ids = {client::PointId(uint64_t{1234})};
  auto got = client_->Retrieve("f", ids, true, true);
  ASSERT_TRUE(got.ok() && got->size() == 1) << got.status();
  EXPECT_EQ((*got)[0].payload, client::Json({{"row", 1234}, {"tag", "t2"}}));
  EXPECT_EQ(*(*got)[0].vector, std::vector<float>(fashion_.row(1234), fashion_.row(1235)));

  Result c = RunCairn("collections --url " + server_->url());
  EXPECT_EQ(c.exit_code, 0) << c.output;
  EXPECT_THAT(c.output, HasSubstr("f\tpoints=3000\tdim=784\tdistance=Euclid"));
  Result q = RunCairn("query --url " + server_->url() + " --collection f --vector-file " +
                      dir_.File("fashion.fbin") + " --row 42 --limit 3 --exact");
  EXPECT_EQ(q.exit_code, 0) << q.output;
  EXPECT_THAT(q.output,
              HasSubstr("{\"id\":42,\"payload\":{\"row\":42,\"tag\":\"t0\"},\"score\":0.0}"));
  Result by_id = RunCairn("query --url " + server_->url() + " --collection f --id 42 --limit 5 " +
                          "--filter '{\"must\":[{\"key\":\"tag\",\"match\":{\"value\":\"t3\"}}]}'");
  EXPECT_EQ(by_id.exit_code, 0) << by_id.output;
  EXPECT_EQ(std::count(by_id.output.begin(), by_id.output.end(), '\n'), 5) << by_id.output;
  EXPECT_THAT(by_id.output, Not(HasSubstr("\"t0\"")));
  Result missing = RunCairn("query --url " + server_->url() + " --collection nope --id 1");
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("HTTP 404: Not found"));
}

TEST_F(ImportCommandTest, KilledAndInterruptedImportResumesToTheExactCount) {
  const uint64_t rows = 20000;
  WriteFashion(rows);
  const std::string state = dir_.File("k.state");
  std::vector<std::string> args = {"import",
                                   "--url",
                                   server_->url(),
                                   "--collection",
                                   "k",
                                   "--input",
                                   dir_.File("fashion.fbin"),
                                   "--state",
                                   state,
                                   "--create",
                                   "--batch",
                                   "16",
                                   "--parallel",
                                   "1"};
  const uint64_t batches = rows / 16;
  // kill -9 once some batches are acknowledged and saved.
  pid_t pid = SpawnCairn(args, dir_.File("run1.log"));
  ASSERT_GT(pid, 0);
  uint64_t acked = 0;
  ASSERT_TRUE(AwaitAcked(pid, state, 20, &acked)) << ReadText(dir_.File("run1.log"));
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  int status;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the importer finished before the kill";
  ASSERT_LT(acked, batches);
  // SIGINT in the second run: it stops cleanly and says how to resume.
  pid = SpawnCairn(args, dir_.File("run2.log"));
  ASSERT_TRUE(AwaitAcked(pid, state, acked + 20, &acked)) << ReadText(dir_.File("run2.log"));
  ASSERT_EQ(kill(pid, SIGINT), 0);
  waitpid(pid, &status, 0);
  const std::string run2 = ReadText(dir_.File("run2.log"));
  ASSERT_TRUE(WIFEXITED(status)) << run2;
  EXPECT_EQ(WEXITSTATUS(status), 130) << run2;
  EXPECT_THAT(run2, HasSubstr("resuming from " + state));
  EXPECT_THAT(run2, HasSubstr("interrupted: "));
  absl::StatusOr<ImportState> saved = ImportState::Load(state);
  ASSERT_TRUE(saved.ok()) << saved.status();
  const uint64_t done = saved->Totals().acked_batches;
  ASSERT_LT(done, batches);
  // The third run sends only the rest and ends with the exact count.
  Result r = RunCairn("import --url " + server_->url() +
                      " --collection k --create --batch 16 --parallel 4 --no-progress --input " +
                      dir_.File("fashion.fbin") + " --state " + state);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_THAT(r.output,
              HasSubstr(absl::StrCat(done, " batches were acknowledged by an earlier run")));
  EXPECT_THAT(r.output, HasSubstr(absl::StrCat("sent ", rows - done * 16, " points in ",
                                               batches - done, " batches")));
  EXPECT_THAT(r.output, HasSubstr("server count: 20000, expected 20000"));
  EXPECT_EQ(*client_->Count("k"), rows);
}

TEST_F(ImportCommandTest, BadJsonLineStopsOrIsSkipped) {
  const std::string input = dir_.File("points.jsonl");
  {
    std::ofstream out(input);
    for (int i = 0; i < 300; ++i) {
      if (i == 136) {
        out << "{\"id\": 136, \"vector\": [1, 2, 3,\n";  // line 137: cut short
        continue;
      }
      if (i == 250) {
        out << "{\"id\": 250, \"vector\": [1, 2]}\n";  // line 251: wrong length
        continue;
      }
      out << "{\"id\": " << i << ", \"vector\": [" << i << ", 1, " << i % 5
          << ", 2], \"payload\": {\"i\": " << i << "}}\n";
    }
  }
  const std::string flags = Flags("j") + " --input " + input + " --create --batch 25 --parallel 2";
  Result stop = RunCairn("import " + flags);
  EXPECT_EQ(stop.exit_code, 1) << stop.output;
  EXPECT_THAT(stop.output, HasSubstr(input + ":137: not JSON"));
  EXPECT_THAT(stop.output, HasSubstr("stopped at the bad line " + input + ":137"));
  // Every batch before the bad line's (lines 1..125) was sent; none after.
  EXPECT_EQ(*client_->Count("j"), 125u);

  Result skip = RunCairn("import " + flags + " --on-error skip");
  EXPECT_EQ(skip.exit_code, 0) << skip.output;
  EXPECT_THAT(skip.output, HasSubstr(input + ":137: not JSON"));
  EXPECT_THAT(skip.output,
              HasSubstr(input + ":251: \"vector\" has 2 numbers, the collection 4 (line skipped)"));
  EXPECT_THAT(skip.output, HasSubstr("5 batches were acknowledged by an earlier run"));
  EXPECT_THAT(skip.output, HasSubstr("lines read: 300, bad lines: 2"));
  EXPECT_THAT(skip.output, HasSubstr("server count: 298, expected 298"));
  EXPECT_EQ(*client_->Count("j"), 298u);
}

TEST_F(ImportCommandTest, ClearErrors) {
  WriteFashion(10);
  const std::string base =
      "--url " + server_->url() + " --no-progress --state " + dir_.File("s.state") + " --input ";
  Result missing = RunCairn("import --collection nope " + base + dir_.File("fashion.fbin"));
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.output, HasSubstr("collection nope does not exist (--create makes it)"));
  ASSERT_TRUE(client_->CreateCollection("small", {.dim = 4}).ok());
  Result dim = RunCairn("import --collection small " + base + dir_.File("fashion.fbin"));
  EXPECT_EQ(dim.exit_code, 1);
  EXPECT_THAT(dim.output, HasSubstr("has vectors of 784 numbers, collection small takes 4"));
  Result format = RunCairn("import --collection small " + base + dir_.File("payloads.jsonx"));
  EXPECT_EQ(format.exit_code, 1);
  EXPECT_THAT(format.output, HasSubstr("unknown input format"));
  Result down = RunCairn("collections --url http://127.0.0.1:1");
  EXPECT_EQ(down.exit_code, 1);
  EXPECT_THAT(down.output, HasSubstr("Connection refused"));
  Result no_url = RunCairn("collections");
  EXPECT_NE(no_url.exit_code, 0);
  setenv("CAIRN_URL", server_->url().c_str(), 1);
  Result env_url = RunCairn("collections");
  unsetenv("CAIRN_URL");
  EXPECT_EQ(env_url.exit_code, 0) << env_url.output;
  EXPECT_THAT(env_url.output, HasSubstr("small\tpoints=0\tdim=4"));
}

TEST(ImportAuthTest, ApiKeyFromTheEnvironment) {
  TempDir dir;
  ServeProcess server(dir.File("data"), {"--api-key", "sesame"});
  ASSERT_TRUE(server.ok()) << server.Log();
  std::ofstream(dir.File("p.jsonl")) << "{\"id\": 1, \"vector\": [1, 2]}\n"
                                     << "{\"id\": 2, \"vector\": [3, 4]}\n";
  const std::string args = "import --collection a --create --no-progress --state " +
                           dir.File("a.state") + " --input " + dir.File("p.jsonl");
  setenv("CAIRN_URL", server.url().c_str(), 1);
  Result denied = RunCairn(args);
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.output, HasSubstr("HTTP 401: Must provide an API key"));
  setenv("CAIRN_API_KEY", "sesame", 1);
  Result ok = RunCairn(args);
  Result listed = RunCairn("collections");
  unsetenv("CAIRN_URL");
  unsetenv("CAIRN_API_KEY");
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_THAT(ok.output, HasSubstr("server count: 2, expected 2"));
  EXPECT_THAT(listed.output, HasSubstr("a\tpoints=2\tdim=2\tdistance=Cosine"));
}

}  // namespace
}  // namespace cairn
