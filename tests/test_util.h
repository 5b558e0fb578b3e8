// Helpers shared by tests: a temporary directory removed at scope exit and
// raw file writers for building malformed inputs byte by byte.
#ifndef CAIRN_TESTS_TEST_UTIL_H_
#define CAIRN_TESTS_TEST_UTIL_H_

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace cairn::testing {

class TempDir {
 public:
  // Under `parent`, or the system temporary directory when it is empty.
  explicit TempDir(const std::string& parent = "") {
    std::string root =
        parent.empty() ? std::filesystem::temp_directory_path().string() : parent;
    std::string tmpl = root + "/cairn-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) != nullptr) path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A temporary directory on a real disk: /tmp may be tmpfs, where O_DIRECT is
// refused (or, on newer kernels, quietly allowed), so tests of the direct IO
// path and of indexes live under /var/tmp, as they would on the SSD.
class DiskTempDir : public TempDir {
 public:
  explicit DiskTempDir(const std::string& parent = "/var/tmp") : TempDir(parent) {}
};

inline void WriteBytes(const std::string& path, const void* data, size_t n) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
}

inline std::vector<uint8_t> ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Appends POD values to a byte vector (little-endian, as on x86).
template <typename T>
void Put(std::vector<uint8_t>& out, T value) {
  const auto* p = reinterpret_cast<const uint8_t*>(&value);
  out.insert(out.end(), p, p + sizeof(T));
}

}  // namespace cairn::testing

#endif  // CAIRN_TESTS_TEST_UTIL_H_
