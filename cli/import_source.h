// What `cairn import` reads: numbered lines (records) of an input, in
// batches, each line a point or a bad line with its number and reason.
//
// Inputs:
//  - a vector file of any datasets/ format (fvecs, bvecs, ivecs, fbin,
//    u8bin, i8bin; by extension): line N is row N - 1; point ids are the row
//    numbers 0, 1, ... unless an ids file is given;
//  - JSON lines (.jsonl, .ndjson, .json): each line an object
//    {"id": 7 or "name", "vector": [numbers], "payload": {...} or null};
//    `payload` is optional, other fields make the line bad.
//  - with either, optionally a payloads file (JSON lines: line N is line N's
//    payload, an object or null) and an ids file (line N is line N's id, up
//    to 20 digits a number, else a string), which then must have at least as
//    many lines as the input.
// A line that cannot be a point (not JSON, a missing or mistyped field, a
// vector of another length than the collection's, a non-finite value, a bad
// payload or id line) is a BadLine naming its file and 1-based line number;
// it is never dropped silently. Damage that leaves no way to count lines (a
// truncated or non-finite vector file, a payloads or ids file that ends
// early) is an error Status.
//
// Thread-safety: none; one reader thread.
#ifndef CAIRN_CLI_IMPORT_SOURCE_H_
#define CAIRN_CLI_IMPORT_SOURCE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "client/cpp/client_types.h"
#include "datasets/vector_file.h"

namespace cairn {

struct ImportInputs {
  std::string input;
  std::string payloads;  // optional
  std::string ids;       // optional
};

struct BadLine {
  std::string file;
  uint64_t line = 0;  // 1-based
  std::string message;
};

struct SourceBatch {
  uint64_t first_line = 0;  // 1-based number of the batch's first line
  uint64_t lines = 0;       // lines the batch covers, bad ones included
  std::vector<client::Point> points;
  std::vector<uint64_t> point_lines;  // the line of each point
  std::vector<BadLine> bad;
  // Lines whose id a later line of the same batch gives again: the later
  // line wins, as it would in two requests (one request may not hold an id
  // twice). Not bad, but reported.
  std::vector<BadLine> replaced;
};

// Reads one text file line by line (any line length).
class LineFile {
 public:
  static absl::StatusOr<std::unique_ptr<LineFile>> Open(const std::string& path);
  ~LineFile();
  LineFile(const LineFile&) = delete;
  LineFile& operator=(const LineFile&) = delete;
  // The next line without its '\n'; false at the end.
  absl::StatusOr<bool> Next(std::string* line);
  const std::string& path() const { return path_; }
  uint64_t line_number() const { return line_number_; }  // of the last line read

 private:
  LineFile(std::string path, std::FILE* f) : path_(std::move(path)), file_(f) {}
  std::string path_;
  std::FILE* file_;
  char* buf_ = nullptr;
  size_t cap_ = 0;
  uint64_t line_number_ = 0;
};

class ImportSource {
 public:
  static absl::StatusOr<std::unique_ptr<ImportSource>> Open(const ImportInputs& inputs);

  uint64_t lines() const { return lines_; }  // records in the input
  // The vector length of the first readable record (0 if none): the
  // dimension of a collection that --create makes.
  uint32_t first_dim() const { return first_dim_; }
  // Lines whose vector has another length than `dim` are bad (0: not
  // checked), and so are zero vectors when `cosine` (the server refuses
  // them, and with them their whole request).
  void set_collection(uint32_t dim, bool cosine) {
    expected_dim_ = dim;
    cosine_ = cosine;
  }

  // Reads the next up to `n` lines into *out (cleared first). With parse =
  // false the lines are only passed over (a batch acknowledged in an
  // earlier run). False at the end of the input.
  absl::StatusOr<bool> Next(size_t n, bool parse, SourceBatch* out);

 private:
  ImportSource() = default;
  absl::Status CountJsonLines();
  absl::StatusOr<bool> NextJson(size_t n, bool parse, SourceBatch* out);
  absl::StatusOr<bool> NextRows(size_t n, bool parse, SourceBatch* out);
  // The side files' line for input line `line` (payload, id); false when
  // the side file is absent. A bad side line is added to out->bad.
  absl::StatusOr<bool> SideLines(uint64_t line, bool parse, client::Point* point, SourceBatch* out);
  // Appends a parsed point, or a bad line for a zero vector under Cosine.
  void AddPoint(const std::string& file, uint64_t line, client::Point p, SourceBatch* out) const;
  // Moves the earlier of two points with the same id to out->replaced.
  static void KeepLastOfEachId(const std::string& file, SourceBatch* out);
  // Parses one JSON line into *point; a reason on failure.
  std::string ParseJsonLine(const std::string& text, client::Point* point) const;

  ImportInputs inputs_;
  std::unique_ptr<VectorReader> rows_;  // vector-file input
  std::unique_ptr<LineFile> json_;      // JSON-lines input
  std::unique_ptr<LineFile> payloads_;
  std::unique_ptr<LineFile> ids_;
  uint64_t lines_ = 0;
  uint64_t next_line_ = 1;
  uint32_t first_dim_ = 0;
  uint32_t expected_dim_ = 0;
  bool cosine_ = false;
  std::vector<float> row_buf_;
  std::string text_;
};

}  // namespace cairn

#endif  // CAIRN_CLI_IMPORT_SOURCE_H_
