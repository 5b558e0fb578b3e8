#include "cli/import_source.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace cairn {

namespace {

using client::Json;
using client::Point;

bool IsJsonLines(const std::string& path) {
  return absl::EndsWith(path, ".jsonl") || absl::EndsWith(path, ".ndjson") ||
         absl::EndsWith(path, ".json");
}

std::string Shorten(std::string s) {
  if (s.size() > 200) s = s.substr(0, 200) + "...";
  return s;
}

// A JSON value on one line; the parser's message when it is not JSON.
std::string ParseJson(const std::string& text, Json* out) {
  try {
    *out = Json::parse(text);
    return "";
  } catch (const Json::exception& e) {
    return absl::StrCat("not JSON: ", e.what());
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<LineFile>> LineFile::Open(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    return absl::NotFoundError(absl::StrCat(path, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<LineFile>(new LineFile(path, f));
}

LineFile::~LineFile() {
  std::fclose(file_);
  std::free(buf_);
}

absl::StatusOr<bool> LineFile::Next(std::string* line) {
  errno = 0;
  const ssize_t n = ::getline(&buf_, &cap_, file_);
  if (n < 0) {
    if (std::ferror(file_)) {
      return absl::DataLossError(
          absl::StrCat(path_, ": read after line ", line_number_, ": ", std::strerror(errno)));
    }
    return false;
  }
  ++line_number_;
  size_t len = static_cast<size_t>(n);
  if (len > 0 && buf_[len - 1] == '\n') --len;
  if (len > 0 && buf_[len - 1] == '\r') --len;
  line->assign(buf_, len);
  return true;
}

absl::StatusOr<std::unique_ptr<ImportSource>> ImportSource::Open(const ImportInputs& inputs) {
  std::unique_ptr<ImportSource> s(new ImportSource());
  s->inputs_ = inputs;
  if (IsJsonLines(inputs.input)) {
    CAIRN_RETURN_IF_ERROR(s->CountJsonLines());
    CAIRN_ASSIGN_OR_RETURN(s->json_, LineFile::Open(inputs.input));
  } else {
    absl::StatusOr<VectorFormat> format = FormatFromPath(inputs.input);
    if (!format.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(inputs.input,
                       ": unknown input format; expected a vector file (.fvecs, .bvecs, "
                       ".ivecs, .fbin, .u8bin, .i8bin) or JSON lines (.jsonl, .ndjson, .json)"));
    }
    CAIRN_ASSIGN_OR_RETURN(s->rows_, VectorReader::Open(inputs.input, *format));
    s->lines_ = s->rows_->info().num_vectors;
    s->first_dim_ = s->rows_->info().dim;
  }
  if (!inputs.payloads.empty()) {
    CAIRN_ASSIGN_OR_RETURN(s->payloads_, LineFile::Open(inputs.payloads));
  }
  if (!inputs.ids.empty()) {
    CAIRN_ASSIGN_OR_RETURN(s->ids_, LineFile::Open(inputs.ids));
  }
  return s;
}

// One pass before the import: the line count (for progress and the resume
// state's batch count) and the first record's dimension.
absl::Status ImportSource::CountJsonLines() {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<LineFile> f, LineFile::Open(inputs_.input));
  std::string line;
  for (;;) {
    CAIRN_ASSIGN_OR_RETURN(bool more, f->Next(&line));
    if (!more) break;
    ++lines_;
    if (first_dim_ == 0) {
      Point p;
      if (ParseJsonLine(line, &p).empty() && p.has_vector) {
        first_dim_ = static_cast<uint32_t>(p.vector.size());
      }
    }
  }
  return absl::OkStatus();
}

std::string ImportSource::ParseJsonLine(const std::string& text, Point* point) const {
  if (absl::StripAsciiWhitespace(text).empty()) return "empty line";
  Json j;
  if (std::string error = ParseJson(text, &j); !error.empty()) return error;
  if (!j.is_object()) return "expected an object {\"id\": ..., \"vector\": [...]}";
  for (const auto& [key, value] : j.items()) {
    if (key != "id" && key != "vector" && key != "payload") {
      return absl::StrCat("unknown field \"", key, "\" (expected id, vector, payload)");
    }
  }
  if (ids_ == nullptr) {
    const auto id = j.find("id");
    if (id == j.end()) return "no \"id\"";
    if (id->is_number_unsigned()) {
      point->id = id->get<uint64_t>();
    } else if (id->is_string() && !id->get<std::string>().empty() &&
               id->get<std::string>().size() <= 256) {
      point->id = id->get<std::string>();
    } else {
      return absl::StrCat("\"id\" must be an unsigned integer or a string of 1..256 bytes, got ",
                          Shorten(id->dump()));
    }
  }
  const auto vector = j.find("vector");
  if (vector == j.end() || !vector->is_array()) return "\"vector\" must be a list of numbers";
  point->vector.clear();
  point->vector.reserve(vector->size());
  for (const Json& x : *vector) {
    if (!x.is_number()) return absl::StrCat("\"vector\" holds ", Shorten(x.dump()));
    const float f = x.get<float>();
    if (!std::isfinite(f))
      return absl::StrCat("\"vector\" holds ", x.dump(), ", not a finite float");
    point->vector.push_back(f);
  }
  if (expected_dim_ != 0 && point->vector.size() != expected_dim_) {
    return absl::StrCat("\"vector\" has ", point->vector.size(), " numbers, the collection ",
                        expected_dim_);
  }
  point->has_vector = true;
  const auto payload = j.find("payload");
  point->payload = payload == j.end() ? Json() : *payload;
  if (!point->payload.is_null() && !point->payload.is_object()) {
    return "\"payload\" must be an object or null";
  }
  return "";
}

absl::StatusOr<bool> ImportSource::SideLines(uint64_t line, bool parse, Point* point,
                                             SourceBatch* out) {
  bool bad = false;
  for (LineFile* f : {payloads_.get(), ids_.get()}) {
    if (f == nullptr) continue;
    CAIRN_ASSIGN_OR_RETURN(bool more, f->Next(&text_));
    if (!more) {
      return absl::InvalidArgumentError(
          absl::StrCat(f->path(), " has ", line - 1, " lines, fewer than ", inputs_.input));
    }
    if (!parse || bad) continue;
    std::string error;
    if (f == payloads_.get()) {
      Json payload;
      error = ParseJson(text_, &payload);
      if (error.empty() && !payload.is_null() && !payload.is_object()) {
        error = "a payload line must be a JSON object or null";
      }
      if (error.empty() && !payload.is_null()) point->payload = std::move(payload);
    } else {
      const absl::string_view trimmed = absl::StripAsciiWhitespace(text_);
      absl::StatusOr<client::PointId> id =
          client::ParsePointIdText(std::string_view(trimmed.data(), trimmed.size()));
      if (id.ok()) {
        point->id = std::move(*id);
      } else {
        error = std::string(id.status().message());
      }
    }
    if (!error.empty()) {
      out->bad.push_back({f->path(), line, error});
      bad = true;
    }
  }
  return !bad;
}

absl::StatusOr<bool> ImportSource::NextJson(size_t n, bool parse, SourceBatch* out) {
  for (size_t i = 0; i < n; ++i) {
    CAIRN_ASSIGN_OR_RETURN(bool more, json_->Next(&text_));
    if (!more) break;
    const uint64_t line = next_line_++;
    ++out->lines;
    Point p;
    std::string error = parse ? ParseJsonLine(text_, &p) : "";
    if (!error.empty()) out->bad.push_back({inputs_.input, line, Shorten(error)});
    // The side files advance on every line, bad ones included.
    CAIRN_ASSIGN_OR_RETURN(bool side_ok, SideLines(line, parse && error.empty(), &p, out));
    if (parse && error.empty() && side_ok) AddPoint(inputs_.input, line, std::move(p), out);
  }
  KeepLastOfEachId(inputs_.input, out);
  return out->lines > 0;
}

absl::StatusOr<bool> ImportSource::NextRows(size_t n, bool parse, SourceBatch* out) {
  const VectorFileInfo& info = rows_->info();
  const uint64_t start = rows_->position();
  const size_t count = static_cast<size_t>(std::min<uint64_t>(n, info.num_vectors - start));
  if (count == 0) return false;
  if (parse) {
    row_buf_.resize(count * info.dim);
    CAIRN_ASSIGN_OR_RETURN(size_t got, rows_->ReadFloat(count, row_buf_.data()));
    if (got != count) {
      return absl::DataLossError(absl::StrCat(inputs_.input, ": ended at row ", start + got));
    }
  } else {
    CAIRN_RETURN_IF_ERROR(rows_->Seek(start + count));
  }
  for (size_t i = 0; i < count; ++i) {
    const uint64_t line = next_line_++;
    ++out->lines;
    Point p;
    p.id = start + i;
    CAIRN_ASSIGN_OR_RETURN(bool side_ok, SideLines(line, parse, &p, out));
    if (!parse || !side_ok) continue;
    if (expected_dim_ != 0 && info.dim != expected_dim_) {
      out->bad.push_back(
          {inputs_.input, line,
           absl::StrCat("the vector has ", info.dim, " numbers, the collection ", expected_dim_)});
      continue;
    }
    p.vector.assign(row_buf_.begin() + i * info.dim, row_buf_.begin() + (i + 1) * info.dim);
    AddPoint(inputs_.input, line, std::move(p), out);
  }
  KeepLastOfEachId(inputs_.input, out);
  return true;
}

void ImportSource::AddPoint(const std::string& file, uint64_t line, Point p,
                            SourceBatch* out) const {
  if (cosine_ && p.has_vector &&
      std::all_of(p.vector.begin(), p.vector.end(), [](float x) { return x == 0; })) {
    out->bad.push_back({file, line, "a zero vector, which a Cosine collection refuses"});
    return;
  }
  out->points.push_back(std::move(p));
  out->point_lines.push_back(line);
}

void ImportSource::KeepLastOfEachId(const std::string& file, SourceBatch* out) {
  absl::flat_hash_map<std::string, size_t> last;  // id key -> index of its last point
  auto key = [](const client::PointId& id) {
    return absl::StrCat(id.index(), ":", client::PointIdToString(id));
  };
  for (size_t i = 0; i < out->points.size(); ++i) last[key(out->points[i].id)] = i;
  if (last.size() == out->points.size()) return;
  size_t kept = 0;
  for (size_t i = 0; i < out->points.size(); ++i) {
    const size_t winner = last[key(out->points[i].id)];
    if (winner != i) {
      out->replaced.push_back({file, out->point_lines[i],
                               absl::StrCat("id ", client::PointIdToString(out->points[i].id),
                                            " is given again at line ", out->point_lines[winner],
                                            " of the same batch; the later line wins")});
      continue;
    }
    // Indexes in `last` still point at unmoved entries: i >= kept.
    out->points[kept] = std::move(out->points[i]);
    out->point_lines[kept] = out->point_lines[i];
    ++kept;
  }
  out->points.resize(kept);
  out->point_lines.resize(kept);
}

absl::StatusOr<bool> ImportSource::Next(size_t n, bool parse, SourceBatch* out) {
  out->first_line = next_line_;
  out->lines = 0;
  out->points.clear();
  out->point_lines.clear();
  out->bad.clear();
  out->replaced.clear();
  if (n == 0) return absl::InvalidArgumentError("a batch needs at least one line");
  return json_ != nullptr ? NextJson(n, parse, out) : NextRows(n, parse, out);
}

}  // namespace cairn
