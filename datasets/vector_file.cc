#include "datasets/vector_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn {
namespace {

bool IsVecs(VectorFormat f) {
  return f == VectorFormat::kFvecs || f == VectorFormat::kIvecs || f == VectorFormat::kBvecs;
}

// Upper bound on a plausible dimension: catches garbage headers before we
// allocate for them.
constexpr uint32_t kMaxDim = 1u << 20;

absl::Status ErrnoError(const std::string& path, const char* what) {
  return absl::InternalError(absl::StrCat(path, ": ", what, ": ", std::strerror(errno)));
}

}  // namespace

absl::StatusOr<VectorFormat> FormatFromPath(std::string_view path) {
  std::string lower = absl::AsciiStrToLower(std::string(path));
  if (absl::EndsWith(lower, ".fvecs")) return VectorFormat::kFvecs;
  if (absl::EndsWith(lower, ".ivecs")) return VectorFormat::kIvecs;
  if (absl::EndsWith(lower, ".bvecs")) return VectorFormat::kBvecs;
  if (absl::EndsWith(lower, ".fbin")) return VectorFormat::kFbin;
  if (absl::EndsWith(lower, ".u8bin")) return VectorFormat::kU8bin;
  if (absl::EndsWith(lower, ".i8bin")) return VectorFormat::kI8bin;
  return absl::InvalidArgumentError(absl::StrCat(
      std::string(path), ": unknown vector file extension (expected .fvecs .ivecs .bvecs .fbin .u8bin .i8bin)"));
}

const char* FormatName(VectorFormat format) {
  switch (format) {
    case VectorFormat::kFvecs: return "fvecs";
    case VectorFormat::kIvecs: return "ivecs";
    case VectorFormat::kBvecs: return "bvecs";
    case VectorFormat::kFbin: return "fbin";
    case VectorFormat::kU8bin: return "u8bin";
    case VectorFormat::kI8bin: return "i8bin";
  }
  return "?";
}

ElementType ElementTypeOf(VectorFormat format) {
  switch (format) {
    case VectorFormat::kFvecs:
    case VectorFormat::kFbin:
      return ElementType::kFloat32;
    case VectorFormat::kIvecs:
      return ElementType::kInt32;
    case VectorFormat::kBvecs:
    case VectorFormat::kU8bin:
      return ElementType::kUInt8;
    case VectorFormat::kI8bin:
      return ElementType::kInt8;
  }
  return ElementType::kFloat32;
}

size_t ElementSize(ElementType type) {
  switch (type) {
    case ElementType::kFloat32:
    case ElementType::kInt32:
      return 4;
    case ElementType::kUInt8:
    case ElementType::kInt8:
      return 1;
  }
  return 4;
}

// ---------------------------------------------------------------------------
// VectorReader

absl::StatusOr<std::unique_ptr<VectorReader>> VectorReader::Open(const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(VectorFormat format, FormatFromPath(path));
  return Open(path, format);
}

absl::StatusOr<std::unique_ptr<VectorReader>> VectorReader::Open(const std::string& path,
                                                                 VectorFormat format) {
  std::unique_ptr<VectorReader> r(new VectorReader());
  r->info_.path = path;
  r->info_.format = format;
  r->info_.element_type = ElementTypeOf(format);
  CAIRN_RETURN_IF_ERROR(r->Init());
  return r;
}

VectorReader::~VectorReader() {
  if (file_ != nullptr) std::fclose(file_);
}

absl::Status VectorReader::Init() {
  const std::string& path = info_.path;
  file_ = std::fopen(path.c_str(), "rb");
  if (file_ == nullptr) {
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    return ErrnoError(path, "cannot open");
  }
  struct stat st;
  if (fstat(fileno(file_), &st) != 0) return ErrnoError(path, "cannot stat");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const size_t esize = ElementSize(info_.element_type);
  if (size == 0) return absl::InvalidArgumentError(absl::StrCat(path, ": empty file"));

  if (IsVecs(info_.format)) {
    int32_t dim = 0;
    if (size < 4 || std::fread(&dim, 4, 1, file_) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": record 0: truncated dimension header (file has ", size, " bytes)"));
    }
    if (dim <= 0 || static_cast<uint32_t>(dim) > kMaxDim) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": record 0: invalid dimension ", dim));
    }
    const uint64_t record = 4 + static_cast<uint64_t>(dim) * esize;
    if (size % record != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": file size ", size, " is not a whole number of records of dim ", dim, " (",
          record, " bytes each): record ", size / record, " is truncated or dims disagree"));
    }
    info_.dim = static_cast<uint32_t>(dim);
    info_.num_vectors = size / record;
    data_offset_ = 0;
  } else {
    int32_t header[2];
    if (size < 8 || std::fread(header, 4, 2, file_) != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ": truncated header (need 8 bytes, file has ", size, ")"));
    }
    if (header[0] < 0 || header[1] <= 0 || static_cast<uint32_t>(header[1]) > kMaxDim) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": invalid header: n=", header[0],
                                                     " dim=", header[1]));
    }
    info_.num_vectors = static_cast<uint64_t>(header[0]);
    info_.dim = static_cast<uint32_t>(header[1]);
    const uint64_t expected = 8 + info_.num_vectors * info_.dim * esize;
    if (size != expected) {
      uint64_t whole = (size - 8) / (static_cast<uint64_t>(info_.dim) * esize);
      return absl::InvalidArgumentError(absl::StrCat(
          path, ": header says ", info_.num_vectors, " x ", info_.dim, " (", expected,
          " bytes) but the file has ", size, " bytes",
          size < expected ? absl::StrCat(": truncated at record ", whole)
                          : std::string(": trailing bytes after the last record")));
    }
    data_offset_ = 8;
  }
  return Seek(0);
}

absl::Status VectorReader::Seek(uint64_t row) {
  if (row > info_.num_vectors) {
    return absl::OutOfRangeError(absl::StrCat(info_.path, ": seek to row ", row, " past the end (",
                                              info_.num_vectors, " rows)"));
  }
  const size_t esize = ElementSize(info_.element_type);
  uint64_t record = static_cast<uint64_t>(info_.dim) * esize + (IsVecs(info_.format) ? 4 : 0);
  if (fseeko(file_, static_cast<off_t>(data_offset_ + row * record), SEEK_SET) != 0) {
    return ErrnoError(info_.path, "seek failed");
  }
  next_row_ = row;
  return absl::OkStatus();
}

absl::Status VectorReader::ReadRecords(size_t rows, void* raw_out) {
  const size_t esize = ElementSize(info_.element_type);
  const size_t row_bytes = static_cast<size_t>(info_.dim) * esize;
  auto* out = static_cast<uint8_t*>(raw_out);
  if (!IsVecs(info_.format)) {
    size_t got = std::fread(out, row_bytes, rows, file_);
    if (got != rows) {
      return absl::DataLossError(absl::StrCat(info_.path, ": record ", next_row_ + got,
                                              ": short read (file changed while reading?)"));
    }
    return absl::OkStatus();
  }
  const size_t record = row_bytes + 4;
  scratch_.resize(record * rows);
  size_t got = std::fread(scratch_.data(), record, rows, file_);
  if (got != rows) {
    return absl::DataLossError(absl::StrCat(info_.path, ": record ", next_row_ + got,
                                            ": short read (file changed while reading?)"));
  }
  for (size_t i = 0; i < rows; ++i) {
    int32_t d;
    std::memcpy(&d, scratch_.data() + i * record, 4);
    if (d != static_cast<int32_t>(info_.dim)) {
      return absl::InvalidArgumentError(absl::StrCat(info_.path, ": record ", next_row_ + i,
                                                     ": dimension ", d, " disagrees with ",
                                                     info_.dim, " of record 0"));
    }
    std::memcpy(out + i * row_bytes, scratch_.data() + i * record + 4, row_bytes);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> VectorReader::ReadRaw(size_t max_rows, void* out) {
  size_t rows = static_cast<size_t>(std::min<uint64_t>(max_rows, info_.num_vectors - next_row_));
  if (rows == 0) return 0;
  CAIRN_RETURN_IF_ERROR(ReadRecords(rows, out));
  if (info_.element_type == ElementType::kFloat32) {
    const float* f = static_cast<const float*>(out);
    for (size_t i = 0; i < rows * info_.dim; ++i) {
      if (!std::isfinite(f[i])) {
        return absl::InvalidArgumentError(absl::StrCat(
            info_.path, ": record ", next_row_ + i / info_.dim, ": value ", i % info_.dim,
            " is ", std::isnan(f[i]) ? "NaN" : "Inf"));
      }
    }
  }
  next_row_ += rows;
  return rows;
}

absl::StatusOr<size_t> VectorReader::ReadFloat(size_t max_rows, float* out) {
  if (info_.element_type == ElementType::kFloat32) return ReadRaw(max_rows, out);
  size_t rows = static_cast<size_t>(std::min<uint64_t>(max_rows, info_.num_vectors - next_row_));
  if (rows == 0) return 0;
  const size_t count = rows * info_.dim;
  const size_t esize = ElementSize(info_.element_type);
  std::vector<uint8_t>& raw = convert_;
  raw.resize(count * esize);
  CAIRN_ASSIGN_OR_RETURN(size_t got, ReadRaw(rows, raw.data()));
  switch (info_.element_type) {
    case ElementType::kUInt8:
      for (size_t i = 0; i < count; ++i) out[i] = raw[i];
      break;
    case ElementType::kInt8:
      for (size_t i = 0; i < count; ++i) out[i] = static_cast<int8_t>(raw[i]);
      break;
    case ElementType::kInt32:
      for (size_t i = 0; i < count; ++i) {
        int32_t v;
        std::memcpy(&v, raw.data() + 4 * i, 4);
        out[i] = static_cast<float>(v);
      }
      break;
    case ElementType::kFloat32:
      break;
  }
  return got;
}

absl::StatusOr<FloatMatrix> ReadFloatMatrix(const std::string& path, uint64_t begin,
                                            uint64_t count) {
  CAIRN_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(path));
  const uint64_t n = reader->info().num_vectors;
  if (begin > n) {
    return absl::OutOfRangeError(absl::StrCat(path, ": first row ", begin, " past the end (", n,
                                              " rows)"));
  }
  count = std::min(count, n - begin);
  FloatMatrix m;
  m.rows = count;
  m.dim = reader->info().dim;
  m.data.resize(count * m.dim);
  CAIRN_RETURN_IF_ERROR(reader->Seek(begin));
  uint64_t done = 0;
  while (done < count) {
    size_t chunk = static_cast<size_t>(std::min<uint64_t>(count - done, 65536));
    CAIRN_ASSIGN_OR_RETURN(size_t got, reader->ReadFloat(chunk, m.row(done)));
    if (got == 0) break;
    done += got;
  }
  return m;
}

// ---------------------------------------------------------------------------
// VectorWriter

absl::StatusOr<std::unique_ptr<VectorWriter>> VectorWriter::Create(const std::string& path,
                                                                   VectorFormat format,
                                                                   uint32_t dim) {
  if (dim == 0 || dim > kMaxDim) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid dimension ", dim));
  }
  std::unique_ptr<VectorWriter> w(new VectorWriter());
  w->env_ = Env::Default();
  w->path_ = path;
  w->format_ = format;
  w->dim_ = dim;
  CAIRN_ASSIGN_OR_RETURN(w->file_, w->env_->NewWritableFile(TempPathFor(path)));
  if (!IsVecs(format)) {
    // The row count (0 here) is filled in by Finish.
    int32_t header[2] = {0, static_cast<int32_t>(dim)};
    CAIRN_RETURN_IF_ERROR(w->file_->Append(header, sizeof(header)));
  }
  return w;
}

VectorWriter::~VectorWriter() {
  if (file_ != nullptr) {
    const std::string tmp_path = file_->path();
    file_.reset();
    (void)env_->RemoveFile(tmp_path);
  }
}

absl::Status VectorWriter::AppendRaw(const void* rows, size_t n) {
  if (file_ == nullptr) return absl::FailedPreconditionError(path_ + ": writer already finished");
  const size_t row_bytes = static_cast<size_t>(dim_) * ElementSize(ElementTypeOf(format_));
  if (!IsVecs(format_) && rows_ + n > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return absl::OutOfRangeError(absl::StrCat(path_, ": more than 2^31-1 rows do not fit the ",
                                              FormatName(format_), " header"));
  }
  const auto* p = static_cast<const uint8_t*>(rows);
  if (IsVecs(format_)) {
    int32_t d = static_cast<int32_t>(dim_);
    for (size_t i = 0; i < n; ++i) {
      CAIRN_RETURN_IF_ERROR(file_->Append(&d, 4));
      CAIRN_RETURN_IF_ERROR(file_->Append(p + i * row_bytes, row_bytes));
    }
  } else if (n > 0) {
    CAIRN_RETURN_IF_ERROR(file_->Append(p, row_bytes * n));
  }
  rows_ += n;
  return absl::OkStatus();
}

absl::Status VectorWriter::AppendFloat(const float* rows, size_t n) {
  const ElementType type = ElementTypeOf(format_);
  const size_t count = n * dim_;
  for (size_t i = 0; i < count; ++i) {
    if (!std::isfinite(rows[i])) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": row ", rows_ + i / dim_,
                                                     ": value ", i % dim_, " is not finite"));
    }
  }
  if (type == ElementType::kFloat32) return AppendRaw(rows, n);
  scratch_.resize(count * ElementSize(type));
  double lo = 0, hi = 0;
  switch (type) {
    case ElementType::kUInt8: lo = 0; hi = 255; break;
    case ElementType::kInt8: lo = -128; hi = 127; break;
    case ElementType::kInt32: lo = -2147483648.0; hi = 2147483647.0; break;
    case ElementType::kFloat32: break;
  }
  for (size_t i = 0; i < count; ++i) {
    float v = rows[i];
    if (v != std::nearbyint(v) || v < lo || v > hi) {
      return absl::InvalidArgumentError(absl::StrCat(path_, ": row ", rows_ + i / dim_, ": value ",
                                                     v, " does not fit ", FormatName(format_)));
    }
    switch (type) {
      case ElementType::kUInt8: scratch_[i] = static_cast<uint8_t>(v); break;
      case ElementType::kInt8: scratch_[i] = static_cast<uint8_t>(static_cast<int8_t>(v)); break;
      case ElementType::kInt32: {
        int32_t x = static_cast<int32_t>(v);
        std::memcpy(scratch_.data() + 4 * i, &x, 4);
        break;
      }
      case ElementType::kFloat32: break;
    }
  }
  return AppendRaw(scratch_.data(), n);
}

absl::Status VectorWriter::Finish() {
  if (file_ == nullptr) return absl::FailedPreconditionError(path_ + ": writer already finished");
  if (!IsVecs(format_)) {
    int32_t n = static_cast<int32_t>(rows_);
    CAIRN_RETURN_IF_ERROR(file_->WriteAt(0, &n, 4));
  }
  return CommitTempFile(env_, std::move(file_), path_);
}

absl::Status WriteFloatMatrix(const std::string& path, const FloatMatrix& m) {
  CAIRN_ASSIGN_OR_RETURN(VectorFormat format, FormatFromPath(path));
  CAIRN_ASSIGN_OR_RETURN(auto writer, VectorWriter::Create(path, format, m.dim));
  CAIRN_RETURN_IF_ERROR(writer->AppendFloat(m.data.data(), m.rows));
  return writer->Finish();
}

}  // namespace cairn
