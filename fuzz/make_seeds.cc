// Writes the binary seed corpora of fuzz/corpus/ with Cairn's own writers,
// so that each on-disk target starts from valid files of the current
// formats: `fuzz_make_seeds <fuzz/corpus>`. Each seed is the target's mode
// byte followed by the file (see the target's header comment). The JSON and
// HTTP seeds are hand-written files beside them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "datasets/dataset_manifest.h"
#include "datasets/vector_file.h"
#include "index/codes/code_model.h"
#include "index/spann/head_index.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_files.h"
#include "server/point_id.h"
#include "storage/env.h"
#include "storage/point_log.h"
#include "storage/posting_file.h"
#include "storage/snapshot_archive.h"
#include "storage/wal.h"

namespace cairn {
namespace {

std::string g_out;      // fuzz/corpus
std::string g_scratch;  // where the writers write

void Check(const absl::Status& s) {
  if (!s.ok()) {
    std::fprintf(stderr, "make_seeds: %s\n", s.ToString().c_str());
    std::exit(1);
  }
}

std::string ReadAll(const std::string& path) {
  absl::StatusOr<std::string> bytes = Env::Default()->ReadFile(path);
  Check(bytes.status());
  return *bytes;
}

void Seed(const std::string& target, const std::string& name, char mode, const std::string& file) {
  std::filesystem::create_directories(g_out + "/" + target);
  std::ofstream(g_out + "/" + target + "/" + name, std::ios::binary) << mode << file;
}

std::string Scratch(const std::string& name) { return g_scratch + "/" + name; }

void WalSeeds() {
  auto w = WalWriter::Create(Env::Default(), Scratch("wal"), 7);
  Check(w.status());
  for (int i = 0; i < 3; ++i) {
    Check((*w)->Append(static_cast<uint8_t>(1 + i), std::string(5 + i, 'a' + i), false).status());
  }
  Check((*w)->Close());
  const std::string log = ReadAll(Scratch("wal"));
  Seed("wal_fuzzer", "three_records", 1, log);
  Seed("wal_fuzzer", "torn_tail", 1, log.substr(0, log.size() - 5));
}

void PointLogSeeds() {
  std::string log = EncodePointLogHeader(1);
  const std::string v(16, '\x3f');
  EncodePointRecord(PointOp::kPut, false, 1, StoreKey(ExternalId::Number(5)), R"({"a":1})", v,
                    &log);
  EncodePointRecord(PointOp::kPut, true, 2, StoreKey(*ExternalId::String("seven")), "{}", v, &log);
  EncodePointRecord(PointOp::kDelete, true, 3, StoreKey(ExternalId::Number(5)), "", "", &log);
  Seed("point_log_fuzzer", "put_put_delete", 1, log);
}

void HeadGraphSeeds() {
  const float heads[] = {0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1};
  HeadIndexOptions options;
  options.threads = 1;
  options.progress = false;
  auto index = HeadIndex::Build(heads, 5, 4, Metric::kL2, options);
  Check(index.status());
  Check((*index)->Remove(2));
  Check((*index)->Save(Scratch("heads.hnsw")));
  Seed("head_graph_fuzzer", "five_heads_dim4", (4 - 1) << 1, ReadAll(Scratch("heads.hnsw")));
}

void VectorFileSeeds() {
  const VectorFormat formats[] = {VectorFormat::kFvecs, VectorFormat::kIvecs, VectorFormat::kBvecs,
                                  VectorFormat::kFbin,  VectorFormat::kU8bin, VectorFormat::kI8bin};
  const float rows[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
  for (int i = 0; i < 6; ++i) {
    const std::string path = Scratch(std::string("v.") + FormatName(formats[i]));
    auto w = VectorWriter::Create(path, formats[i], 3);
    Check(w.status());
    Check((*w)->AppendFloat(rows, 3));
    Check((*w)->Finish());
    Seed("vector_file_fuzzer", FormatName(formats[i]), static_cast<char>(i), ReadAll(path));
  }
}

void CodeModelSeeds() {
  const uint32_t dim = 8;
  std::vector<float> residuals(64 * dim);
  for (size_t i = 0; i < residuals.size(); ++i) residuals[i] = ((i * 37) % 17) / 8.0f - 1.0f;
  for (CodeFamily f :
       {CodeFamily::kLsh, CodeFamily::kItq, CodeFamily::kRabitq, CodeFamily::kSq8}) {
    CodeParams params;
    params.family = f;
    params.itq_iterations = 3;
    auto model = CodeModel::Train(params, Metric::kL2, dim, residuals.data(), 64);
    Check(model.status());
    std::string body;
    (*model)->Serialize(&body);
    Seed("code_model_fuzzer", std::string(CodeFamilyName(f)) + "_body", 0, body);
    Check(WriteCodeModel(Env::Default(), Scratch("codes.model"), **model));
    Seed("code_model_fuzzer", std::string(CodeFamilyName(f)) + "_file", 2,
         ReadAll(Scratch("codes.model")));
  }
}

void ManifestSeeds() {
  IndexManifest m;
  m.dim = 4;
  m.num_vectors = 100;
  m.num_heads = 5;
  m.total_entries = 120;
  m.build_params = {{"heads", 5}};
  m.files = {{"postings.dat", {{"bytes", 8192}, {"xxh3", "00ff"}}}};
  Check(WriteManifest(Env::Default(), g_scratch, m));
  Seed("manifest_fuzzer", "index_manifest", 0, ReadAll(Scratch("manifest")));
  // The body alone, for mode 1 (version 2 when bit 2 is set: 4 % 3 == 1).
  Seed("manifest_fuzzer", "index_manifest_body", 4, ReadAll(Scratch("manifest")).substr(32));
  DatasetManifest d;
  d.name = "tiny";
  d.dim = 4;
  d.num_base = 10;
  d.num_queries = 2;
  d.gt_k = 1;
  Check(WriteDatasetManifest(g_scratch, d));
  Seed("manifest_fuzzer", "dataset_json", 2, ReadAll(Scratch("dataset.json")));
}

void PostingSeeds() {
  const uint32_t dim = 4, count = 3;
  const uint32_t ids[] = {1, 5, 9};
  const uint8_t versions[] = {0, 1, 0x80};
  const float vectors[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  std::vector<uint8_t> plain, coded;
  EncodePosting(dim, StoredType::kFloat32, ids, versions, reinterpret_cast<const uint8_t*>(vectors),
                count, &plain);
  const std::vector<uint8_t> codes(count * 8, 0x5a);
  EncodeCodedPosting(dim, StoredType::kFloat32, 8, kPostingFrameHeaderBytes, ids, versions,
                     codes.data(), reinterpret_cast<const uint8_t*>(vectors), count, &coded);
  // Mode 1: the index shape (dim - 1, type, entry bytes / 8, unused), then the payload.
  Seed("posting_file_fuzzer", "plain_payload", 1,
       std::string("\x03\x00\x00\x00", 4) + std::string(plain.begin(), plain.end()));
  Seed("posting_file_fuzzer", "coded_payload", 1,
       std::string("\x03\x00\x01\x00", 4) + std::string(coded.begin(), coded.end()));
  PostingUserHeader user{};
  user[0] = dim - 1;  // posting_file_fuzzer reads the shape from here
  auto w = PostingFileWriter::Create(Env::Default(), Scratch("postings.dat"), user);
  Check(w.status());
  Check((*w)->Append(plain.data(), plain.size()).status());
  Check((*w)->Finish());
  Seed("posting_file_fuzzer", "one_posting_file", 0, ReadAll(Scratch("postings.dat")));
  std::vector<DirectoryEntry> dir = {{4096, 4096, 3, 1.5f, 0}, {8192, 8192, 40, 0.25f, 0}};
  Check(WriteDirectory(Env::Default(), Scratch("directory"), dir));
  Seed("posting_file_fuzzer", "directory", 3, ReadAll(Scratch("directory")));
  Seed("posting_file_fuzzer", "directory_body", 2, ReadAll(Scratch("directory")).substr(32));
}

void SnapshotSeeds() {
  auto w = SnapshotArchiveWriter::Create(Env::Default(), Scratch("a.snapshot"));
  Check(w.status());
  Check((*w)->Add("collection.json", "{\"size\": 4}"));
  Check((*w)->Add("points/points.1.log", std::string(40, 'p')));
  std::string sha;
  Check((*w)->Finish(&sha));
  Seed("snapshot_archive_fuzzer", "two_entries", 0, ReadAll(Scratch("a.snapshot")));
  Seed("snapshot_archive_fuzzer", "two_entries_resealed", 1, ReadAll(Scratch("a.snapshot")));
}

}  // namespace
}  // namespace cairn

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: fuzz_make_seeds <fuzz/corpus>\n");
    return 2;
  }
  cairn::g_out = argv[1];
  cairn::g_scratch = std::filesystem::temp_directory_path() / "cairn-make-seeds";
  std::filesystem::remove_all(cairn::g_scratch);
  std::filesystem::create_directories(cairn::g_scratch);
  cairn::WalSeeds();
  cairn::PointLogSeeds();
  cairn::HeadGraphSeeds();
  cairn::VectorFileSeeds();
  cairn::CodeModelSeeds();
  cairn::ManifestSeeds();
  cairn::PostingSeeds();
  cairn::SnapshotSeeds();
  std::filesystem::remove_all(cairn::g_scratch);
  return 0;
}
