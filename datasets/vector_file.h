// Reading and writing vector files, streamed in chunks so files larger than
// RAM work.
//
// Formats (chosen by extension, or explicitly):
//   fvecs / ivecs / bvecs: per record an int32 dim, then dim float32 / int32 /
//                          uint8 values (the TEXMEX format).
//   fbin / u8bin / i8bin:  int32 n, int32 dim, then n*dim float32 / uint8 /
//                          int8 values (big-ann-benchmarks).
//   ibin ground truth: see datasets/ground_truth.h.
// Every malformed input (empty, short header, dims that disagree between
// records, a size that does not match the header, truncated last record,
// NaN or Inf) is an error that names the file, the record and what is wrong.
// Readers are not thread-safe; use one per thread.
#ifndef CAIRN_DATASETS_VECTOR_FILE_H_
#define CAIRN_DATASETS_VECTOR_FILE_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "storage/env.h"

namespace cairn {

enum class VectorFormat { kFvecs, kIvecs, kBvecs, kFbin, kU8bin, kI8bin };
enum class ElementType { kFloat32, kInt32, kUInt8, kInt8 };

absl::StatusOr<VectorFormat> FormatFromPath(std::string_view path);
const char* FormatName(VectorFormat format);
ElementType ElementTypeOf(VectorFormat format);
size_t ElementSize(ElementType type);

struct VectorFileInfo {
  std::string path;
  VectorFormat format;
  ElementType element_type;
  uint64_t num_vectors = 0;
  uint32_t dim = 0;
};

// A dense row-major float matrix held in RAM.
struct FloatMatrix {
  uint64_t rows = 0;
  uint32_t dim = 0;
  std::vector<float> data;  // rows * dim
  const float* row(uint64_t i) const { return data.data() + i * dim; }
  float* row(uint64_t i) { return data.data() + i * dim; }
};

class VectorReader {
 public:
  // Opens and validates the header (and, for the *vecs formats, that the file
  // size is a whole number of records of the first record's dim).
  static absl::StatusOr<std::unique_ptr<VectorReader>> Open(const std::string& path);
  static absl::StatusOr<std::unique_ptr<VectorReader>> Open(const std::string& path,
                                                            VectorFormat format);
  ~VectorReader();
  VectorReader(const VectorReader&) = delete;
  VectorReader& operator=(const VectorReader&) = delete;

  const VectorFileInfo& info() const { return info_; }
  uint64_t position() const { return next_row_; }  // index of the next row to read

  // Reads up to max_rows rows from the current position, converted to float32
  // (out has room for max_rows * dim). Returns rows read; 0 at the end. Values
  // that are NaN or Inf are an error naming the record.
  absl::StatusOr<size_t> ReadFloat(size_t max_rows, float* out);
  // Same, in the file's own element type (ElementSize(type) bytes per value).
  absl::StatusOr<size_t> ReadRaw(size_t max_rows, void* out);
  absl::Status Seek(uint64_t row);

 private:
  VectorReader() = default;
  absl::Status ReadRecords(size_t rows, void* raw_out);
  absl::Status Init();

  VectorFileInfo info_;
  std::FILE* file_ = nullptr;
  uint64_t data_offset_ = 0;  // byte offset of row 0
  uint64_t next_row_ = 0;
  std::vector<uint8_t> scratch_;  // vecs records with their dim headers
  std::vector<uint8_t> convert_;  // integer rows before conversion to float
};

// Reads rows [begin, begin + count) (count = all remaining when UINT64_MAX)
// into RAM as float32.
absl::StatusOr<FloatMatrix> ReadFloatMatrix(const std::string& path, uint64_t begin = 0,
                                            uint64_t count = UINT64_MAX);

class VectorWriter {
 public:
  // Creates (truncates) path. Data goes to path + ".tmp" and is renamed into
  // place by Finish() (storage/env.h, CommitTempFile), so a killed writer
  // never leaves a valid-looking file.
  static absl::StatusOr<std::unique_ptr<VectorWriter>> Create(const std::string& path,
                                                              VectorFormat format,
                                                              uint32_t dim);
  ~VectorWriter();  // without Finish(): removes the temporary file
  VectorWriter(const VectorWriter&) = delete;
  VectorWriter& operator=(const VectorWriter&) = delete;

  // Appends rows given as float32; converting to an integer format requires
  // every value to be integral and in range.
  absl::Status AppendFloat(const float* rows, size_t n);
  // Appends rows in the format's own element type.
  absl::Status AppendRaw(const void* rows, size_t n);
  // Writes the header count (bin formats), fsyncs, renames into place and
  // fsyncs the directory. The writer is finished even if this fails.
  absl::Status Finish();
  uint64_t rows_written() const { return rows_; }

 private:
  VectorWriter() = default;
  Env* env_ = nullptr;
  std::string path_;
  VectorFormat format_;
  uint32_t dim_ = 0;
  std::unique_ptr<WritableFile> file_;  // the temporary file; null once finished
  uint64_t rows_ = 0;
  std::vector<uint8_t> scratch_;
};

absl::Status WriteFloatMatrix(const std::string& path, const FloatMatrix& m);

}  // namespace cairn

#endif  // CAIRN_DATASETS_VECTOR_FILE_H_
