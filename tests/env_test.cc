#include "storage/env.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <string>

#include "absl/strings/str_join.h"
#include "storage/fault_injection_env.h"
#include "tests/test_util.h"

namespace cairn {
namespace {

using ::cairn::testing::TempDir;
using ::testing::AnyOf;
using ::testing::HasSubstr;

std::string MustRead(Env* env, const std::string& path) {
  auto contents = env->ReadFile(path);
  EXPECT_TRUE(contents.ok()) << contents.status();
  return contents.ok() ? *contents : std::string();
}

TEST(EnvTest, WritableFileAppendsWritesAtAndCloses) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("f");
  auto file = env->NewWritableFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  WritableFile& f = **file;
  EXPECT_EQ(f.path(), path);

  // Small appends (buffered), then one larger than the buffer.
  std::string expected;
  for (int i = 0; i < 1000; ++i) {
    std::string piece = "record-" + std::to_string(i) + ";";
    ASSERT_TRUE(f.Append(piece.data(), piece.size()).ok());
    expected += piece;
  }
  std::string big(200 * 1024, 'x');
  ASSERT_TRUE(f.Append(big.data(), big.size()).ok());
  expected += big;
  EXPECT_EQ(f.Size(), expected.size());

  ASSERT_TRUE(f.WriteAt(0, "HEAD", 4).ok());
  expected.replace(0, 4, "HEAD");
  EXPECT_EQ(f.WriteAt(expected.size() - 2, "abc", 3).code(),
            absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(f.Sync().ok());
  ASSERT_TRUE(f.Close().ok());
  EXPECT_TRUE(f.Close().ok());  // idempotent
  EXPECT_EQ(f.Append("z", 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(MustRead(env, path), expected);

  // NewWritableFile truncates.
  auto again = env->NewWritableFile(path);
  ASSERT_TRUE(again.ok());
  ASSERT_TRUE((*again)->Close().ok());
  EXPECT_EQ(*env->FileSize(path), 0u);
}

TEST(EnvTest, AppendableFileContinuesAtTheEnd) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("log");
  ASSERT_TRUE(WriteFileAtomically(env, path, "abc").ok());
  auto file = env->NewAppendableFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->Size(), 3u);
  ASSERT_TRUE((*file)->Append("def", 3).ok());
  ASSERT_TRUE((*file)->WriteAt(0, "A", 1).ok());
  ASSERT_TRUE((*file)->Close().ok());
  EXPECT_EQ(MustRead(env, path), "Abcdef");
}

TEST(EnvTest, FileOperations) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string sub = dir.File("a/b/c");
  ASSERT_TRUE(env->CreateDirs(sub).ok());
  ASSERT_TRUE(env->CreateDirs(sub).ok());  // exists: fine
  ASSERT_TRUE(WriteFileAtomically(env, sub + "/y", "yy").ok());
  ASSERT_TRUE(WriteFileAtomically(env, sub + "/x", "xxx").ok());
  EXPECT_TRUE(env->FileExists(sub + "/x"));
  EXPECT_FALSE(env->FileExists(sub + "/x.tmp"));
  EXPECT_EQ(*env->FileSize(sub + "/x"), 3u);
  auto names = env->ListDir(sub);
  ASSERT_TRUE(names.ok());
  EXPECT_EQ(*names, (std::vector<std::string>{"x", "y"}));

  ASSERT_TRUE(env->RenameFile(sub + "/x", sub + "/y").ok());
  EXPECT_EQ(MustRead(env, sub + "/y"), "xxx");
  ASSERT_TRUE(env->SyncDir(sub).ok());
  ASSERT_TRUE(env->TruncateFile(sub + "/y", 1).ok());
  EXPECT_EQ(MustRead(env, sub + "/y"), "x");
  ASSERT_TRUE(env->RemoveFile(sub + "/y").ok());
  EXPECT_FALSE(env->FileExists(sub + "/y"));

  absl::Status missing = env->RemoveFile(sub + "/y");
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.message(), HasSubstr(sub + "/y"));
  EXPECT_EQ(env->FileSize(sub + "/nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(env->ReadFile(sub + "/nope").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_FALSE(env->NewWritableFile(dir.File("no/such/dir/f")).ok());
}

TEST(EnvTest, RandomAccessFileReadsExactlyOrReportsTheEnd) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("r");
  ASSERT_TRUE(WriteFileAtomically(env, path, "0123456789").ok());
  auto file = env->NewRandomAccessFile(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->path(), path);
  char buf[8] = {};
  ASSERT_TRUE((*file)->Read(3, 4, buf).ok());
  EXPECT_EQ(std::string(buf, 4), "3456");
  ASSERT_TRUE((*file)->Read(10, 0, buf).ok());

  // The file ends at 10: a read past it is DataLoss naming the file and
  // where it ended.
  absl::Status short_read = (*file)->Read(7, 5, buf);
  EXPECT_EQ(short_read.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(short_read.message(), HasSubstr(path));
  EXPECT_THAT(short_read.message(), HasSubstr("end of file at offset 10"));

  // An open file stays readable after its name is gone.
  ASSERT_TRUE(env->RemoveFile(path).ok());
  ASSERT_TRUE((*file)->Read(0, 2, buf).ok());
  EXPECT_EQ(std::string(buf, 2), "01");
  EXPECT_EQ(env->NewRandomAccessFile(path).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(EnvTest, WriteFileAtomicallyStreams) {
  TempDir dir;
  Env* env = Env::Default();
  const std::string path = dir.File("s");
  ASSERT_TRUE(WriteFileAtomically(env, path, "old").ok());
  ASSERT_TRUE(WriteFileAtomically(env, path, [](WritableFile* f) {
                return f->Append("new", 3);
              }).ok());
  EXPECT_EQ(MustRead(env, path), "new");
  // A failing writer leaves the old file and no temporary.
  absl::Status s = WriteFileAtomically(env, path, [](WritableFile* f) {
    EXPECT_TRUE(f->Append("partial", 7).ok());
    return absl::InternalError("writer gave up");
  });
  EXPECT_EQ(s.message(), "writer gave up");
  EXPECT_EQ(MustRead(env, path), "new");
  EXPECT_FALSE(env->FileExists(TempPathFor(path)));
}

TEST(EnvTest, DirName) {
  EXPECT_EQ(DirName("/a/b/c"), "/a/b");
  EXPECT_EQ(DirName("c"), ".");
  EXPECT_EQ(DirName("/c"), "/");
}

TEST(EnvTest, DiskFullHasAClearMessage) {
  absl::Status s = IOError("/data/x.tmp: append", ENOSPC);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("disk full"));
  EXPECT_THAT(s.message(), HasSubstr("/data/x.tmp"));
  EXPECT_EQ(IOError("p", ENOENT).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(IOError("p", EACCES).code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(IOError("p", EIO).code(), absl::StatusCode::kInternal);
}

TEST(FaultInjectionEnvTest, CountsAndLogsOperations) {
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  ASSERT_TRUE(WriteFileAtomically(&env, dir.File("m"), "hello").ok());
  // create, append, sync, close, rename, sync-dir.
  EXPECT_EQ(env.operation_count(), 6u)
      << absl::StrJoin(env.operation_log(), "\n");
  EXPECT_EQ(env.failures_injected(), 0u);
  env.ResetCounter();
  EXPECT_EQ(env.operation_count(), 0u);
  EXPECT_TRUE(env.operation_log().empty());
}

TEST(FaultInjectionEnvTest, InjectedDiskFullSaysSo) {
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  env.FailNth(2, ENOSPC);  // the append
  absl::Status s = WriteFileAtomically(&env, dir.File("m"), "hello");
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(s.message(), HasSubstr("disk full"));
  EXPECT_THAT(s.message(), HasSubstr(dir.File("m.tmp")));
  EXPECT_EQ(env.failures_injected(), 1u);
  EXPECT_FALSE(env.FileExists(dir.File("m")));
  EXPECT_FALSE(env.FileExists(dir.File("m.tmp")));
}

// Fails operation k of WriteFileAtomically for every k, with one-shot and
// sticky faults, EIO and ENOSPC, and with partial appends: the file must hold
// the old contents or the new ones, never a mixture or a truncation.
TEST(FaultInjectionEnvTest, AtomicWriteLeavesOldOrNewForEveryFailurePoint) {
  const std::string old_contents = "old contents, version 1";
  const std::string new_contents(100000, 'N');
  FaultInjectionEnv probe(Env::Default());
  {
    TempDir dir;
    ASSERT_TRUE(WriteFileAtomically(&probe, dir.File("f"), new_contents).ok());
  }
  const uint64_t ops = probe.operation_count();
  ASSERT_EQ(ops, 6u);
  constexpr uint64_t kRenameOp = 5;

  for (bool had_old : {true, false}) {
    for (bool sticky : {false, true}) {
      for (int err : {EIO, ENOSPC}) {
        for (bool partial : {false, true}) {
          for (uint64_t k = 1; k <= ops + 1; ++k) {
            SCOPED_TRACE(::testing::Message()
                         << "had_old=" << had_old << " sticky=" << sticky
                         << " errno=" << err << " partial=" << partial
                         << " k=" << k);
            TempDir dir;
            const std::string path = dir.File("f");
            if (had_old) {
              ASSERT_TRUE(
                  WriteFileAtomically(Env::Default(), path, old_contents).ok());
            }
            FaultInjectionEnv env(Env::Default());
            env.set_partial_appends(partial);
            if (sticky) {
              env.FailFrom(k, err);
            } else {
              env.FailNth(k, err);
            }
            absl::Status s = WriteFileAtomically(&env, path, new_contents);
            if (k > ops) {
              EXPECT_TRUE(s.ok()) << s;
            } else {
              EXPECT_FALSE(s.ok());
              if (err == ENOSPC) {
                EXPECT_THAT(s.message(), HasSubstr("disk full"));
              }
            }
            ASSERT_TRUE(env.DropUnsyncedData().ok());
            if (k < kRenameOp && had_old) {
              EXPECT_EQ(MustRead(Env::Default(), path), old_contents);
            } else if (k < kRenameOp) {
              EXPECT_FALSE(Env::Default()->FileExists(path));
            } else if (k == kRenameOp) {
              if (had_old) {
                EXPECT_EQ(MustRead(Env::Default(), path), old_contents);
              } else {
                EXPECT_FALSE(Env::Default()->FileExists(path));
              }
            } else {
              EXPECT_EQ(MustRead(Env::Default(), path), new_contents);
            }
            if (Env::Default()->FileExists(path)) {
              EXPECT_THAT(MustRead(Env::Default(), path),
                          AnyOf(old_contents, new_contents));
            }
            // A one-shot fault lets the cleanup remove the temporary file.
            if (!sticky) {
              EXPECT_FALSE(Env::Default()->FileExists(path + ".tmp"));
            }
          }
        }
      }
    }
  }
}

TEST(FaultInjectionEnvTest, DropUnsyncedDataKeepsOnlySyncedBytes) {
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  const std::string path = dir.File("wal");
  {
    auto file = env.NewWritableFile(path);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append("abc", 3).ok());
    ASSERT_TRUE((*file)->Sync().ok());
    ASSERT_TRUE((*file)->Append("def", 3).ok());
    ASSERT_TRUE((*file)->Close().ok());
  }
  EXPECT_EQ(MustRead(&env, path), "abcdef");
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(MustRead(&env, path), "abc");

  // Appendable files: what was there at open counts as durable.
  {
    auto file = env.NewAppendableFile(path);
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append("ghi", 3).ok());
  }
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(MustRead(&env, path), "abc");

  // A created file never synced disappears into emptiness.
  {
    auto file = env.NewWritableFile(dir.File("new"));
    ASSERT_TRUE(file.ok());
    ASSERT_TRUE((*file)->Append("xyz", 3).ok());
  }
  ASSERT_TRUE(env.DropUnsyncedData().ok());
  EXPECT_EQ(MustRead(&env, dir.File("new")), "");
}

TEST(FaultInjectionEnvTest, FailsEveryKindOfMutation) {
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  ASSERT_TRUE(WriteFileAtomically(&env, dir.File("a"), "a").ok());
  env.FailFrom(1);
  EXPECT_FALSE(env.NewWritableFile(dir.File("b")).ok());
  EXPECT_FALSE(env.NewAppendableFile(dir.File("a")).ok());
  EXPECT_FALSE(env.RenameFile(dir.File("a"), dir.File("c")).ok());
  EXPECT_FALSE(env.SyncDir(dir.path()).ok());
  EXPECT_FALSE(env.RemoveFile(dir.File("a")).ok());
  EXPECT_FALSE(env.TruncateFile(dir.File("a"), 0).ok());
  EXPECT_FALSE(env.CreateDirs(dir.File("d")).ok());
  EXPECT_EQ(env.failures_injected(), 7u);
  // Reads are never failed, and nothing changed underneath.
  EXPECT_EQ(MustRead(&env, dir.File("a")), "a");
  EXPECT_FALSE(env.FileExists(dir.File("b")));
  EXPECT_FALSE(env.FileExists(dir.File("d")));
  env.ClearFaults();
  EXPECT_TRUE(env.RemoveFile(dir.File("a")).ok());
  EXPECT_THAT(absl::StrJoin(env.operation_log(), "\n"), HasSubstr("FAILED"));
}

TEST(FaultInjectionEnvTest, FailsReadsOnACounterOfTheirOwn) {
  TempDir dir;
  FaultInjectionEnv env(Env::Default());
  const std::string a = dir.File("a"), b = dir.File("b");
  ASSERT_TRUE(WriteFileAtomically(&env, a, "aaaa").ok());
  ASSERT_TRUE(WriteFileAtomically(&env, b, "bbbb").ok());
  const uint64_t writes_per_replace = env.operation_count() / 2;
  env.ResetCounter();
  char buf[4];

  // Reads 1 (open) and 2 (read) succeed; read 3 fails once.
  env.FailNthRead(3);
  auto file = env.NewRandomAccessFile(a);
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_TRUE((*file)->Read(0, 4, buf).ok());
  absl::Status s = (*file)->Read(0, 4, buf);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr(a));
  EXPECT_THAT(s.message(), HasSubstr("injected fault at read 3"));
  EXPECT_TRUE((*file)->Read(0, 4, buf).ok());
  EXPECT_EQ(env.read_count(), 4u);
  EXPECT_EQ(env.operation_count(), 0u) << "reads were counted as writes";

  // Reads of one file fail, on handles opened before and after, until
  // ClearFaults; other files and writes are unaffected.
  env.FailReadsOf(a, ENOENT);
  EXPECT_EQ((*file)->Read(0, 4, buf).code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(env.NewRandomAccessFile(a).ok());
  EXPECT_FALSE(env.ReadFile(a).ok());
  EXPECT_EQ(MustRead(&env, b), "bbbb");
  EXPECT_TRUE(WriteFileAtomically(&env, b, "BBBB").ok());
  EXPECT_EQ(env.failures_injected(), 4u);
  env.ClearFaults();
  EXPECT_TRUE((*file)->Read(0, 4, buf).ok());
  EXPECT_EQ(MustRead(&env, a), "aaaa");
  EXPECT_EQ(env.operation_count(), writes_per_replace);
}

}  // namespace
}  // namespace cairn
