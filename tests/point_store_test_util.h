// Shared by the point store tests: batches and expected contents, a reader
// of a whole store, and an encoder of the documented log format written
// independently of storage/point_log.cc.
#ifndef CAIRN_TESTS_POINT_STORE_TEST_UTIL_H_
#define CAIRN_TESTS_POINT_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "storage/checksum.h"
#include "storage/env.h"
#include "storage/point_store.h"
#include "tests/test_util.h"

namespace cairn {

// Readable failure messages (found by argument-dependent lookup).
inline void PrintTo(const PointRecord& r, std::ostream* os) {
  constexpr size_t kShown = 40;
  const auto shorten = [](const std::string& s) {
    std::string out = absl::CHexEscape(s.substr(0, kShown));
    if (s.size() > kShown) absl::StrAppend(&out, "...(", s.size(), " bytes)");
    return out;
  };
  *os << "{payload \"" << shorten(r.payload) << "\", vector \""
      << shorten(r.vector) << "\"}";
}

}  // namespace cairn

namespace cairn::testing {

using Contents = std::map<std::string, PointRecord>;
using Puts = std::vector<PointStore::Put>;
using Deletes = std::vector<std::string>;

struct Batch {
  Puts puts;
  Deletes deletes;
};

inline PointRecord Rec(std::string payload, std::string vector) {
  return PointRecord{std::move(payload), std::move(vector)};
}

inline void ApplyTo(const Batch& b, Contents* c) {
  for (const std::string& k : b.deletes) c->erase(k);
  for (const auto& [k, r] : b.puts) (*c)[k] = r;
}

inline PointStoreOptions NoAutoCompact() {
  PointStoreOptions o;
  o.auto_compact = false;
  return o;
}

inline std::unique_ptr<PointStore> OpenOrDie(Env* env, const std::string& dir,
                                             const PointStoreOptions& o = {}) {
  absl::StatusOr<std::unique_ptr<PointStore>> s = PointStore::Open(env, dir, o);
  EXPECT_TRUE(s.ok()) << s.status();
  return s.ok() ? *std::move(s) : nullptr;
}

// Every point, read back through Get.
inline Contents ReadAll(const PointStore& store) {
  Contents out;
  store.ForEachKey([&](const std::string& key) {
    absl::StatusOr<std::optional<PointRecord>> r = store.Get(key);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(r.ok() && r->has_value()) << key;
    if (r.ok() && r->has_value()) out[key] = **r;
    return true;
  });
  return out;
}

inline std::string LogPath(const std::string& dir, uint64_t generation) {
  return absl::StrCat(dir, "/points.", generation, ".log");
}

inline std::vector<std::string> DirEntries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string RandomBytes(size_t n, Rng& rng) {
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng.Next());
  return s;
}

// Three batches with overwrites and deletes, the base state of several tests.
inline std::vector<Batch> BaseBatches() {
  return {
      {{{"a", Rec("pa", "va")}, {"b", Rec("pb", "vb")}, {"c", Rec("pc", "")}},
       {}},
      {{{"b", Rec("pb2", "vb2")}, {"d", Rec("", "vd")}}, {"a"}},
      {{{"e", Rec(std::string(300, 'e'), std::string(64, 'E'))}}, {"c"}},
  };
}

inline void FlipByte(const std::string& path, uint64_t offset) {
  std::vector<uint8_t> bytes = ReadBytes(path);
  ASSERT_LT(offset, bytes.size());
  bytes[offset] ^= 0x40;
  WriteBytes(path, bytes.data(), bytes.size());
}

// The documented layout (docs/formats.md, "Point store"), encoded
// independently of point_log.cc.
inline std::vector<uint8_t> Header(uint64_t generation, uint32_t version = 1) {
  std::vector<uint8_t> out = {'C', 'A', 'I', 'R', 'N', 'P', 'T', 'S'};
  Put<uint32_t>(out, version);
  Put<uint32_t>(out, 0);
  Put<uint64_t>(out, generation);
  Put<uint64_t>(out, Checksum64(out.data(), out.size()));
  return out;
}

inline void PutRecord(std::vector<uint8_t>& out, uint8_t type,
                      uint64_t sequence, const std::string& key,
                      const std::string& payload, const std::string& vector) {
  const size_t start = out.size();
  Put<uint32_t>(out, static_cast<uint32_t>(8 + key.size() + payload.size() +
                                           vector.size()));
  Put<uint8_t>(out, type);
  out.insert(out.end(), 3, 0);
  Put<uint64_t>(out, sequence);
  Put<uint16_t>(out, static_cast<uint16_t>(key.size()));
  Put<uint16_t>(out, 0);
  Put<uint32_t>(out, static_cast<uint32_t>(payload.size()));
  for (const std::string* s : {&key, &payload, &vector}) {
    out.insert(out.end(), s->begin(), s->end());
  }
  Put<uint64_t>(out, Checksum64(out.data() + start, out.size() - start));
}

// Builds a log of `batches` and returns the file size after each batch
// (index 0: the empty log).
inline std::vector<uint64_t> BuildLog(const std::string& dir,
                                      const std::vector<Batch>& batches) {
  std::vector<uint64_t> sizes;
  auto store = OpenOrDie(Env::Default(), dir, NoAutoCompact());
  if (store == nullptr) return sizes;
  sizes.push_back(store->stats().file_bytes);
  for (const Batch& b : batches) {
    EXPECT_TRUE(store->Apply(b.puts, b.deletes).ok());
    sizes.push_back(store->stats().file_bytes);
  }
  return sizes;
}

inline Contents StateAfter(const std::vector<Batch>& batches, size_t n) {
  Contents c;
  for (size_t i = 0; i < n; ++i) ApplyTo(batches[i], &c);
  return c;
}

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_POINT_STORE_TEST_UTIL_H_
