#include "datasets/fetch.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/random.h"
#include "common/status_macros.h"
#include "datasets/augment.h"
#include "datasets/dataset_manifest.h"
#include "datasets/ground_truth.h"
#include "datasets/idx_reader.h"
#include "datasets/pca.h"
#include "datasets/vector_file.h"
#include "nlohmann/json.hpp"
#include "storage/env.h"

namespace cairn {
namespace {

namespace fs = std::filesystem;

constexpr char kFashionDir[] = "/usr/share/datasets/fashion-mnist";

int ThreadCount(const FetchOptions& o) {
  return o.threads > 0 ? o.threads : std::max(1, (int)std::thread::hardware_concurrency());
}

absl::Status EnsureDir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot create: ", ec.message()));
  return absl::OkStatus();
}

// Runs a shell command; its output goes to our stderr.
absl::Status RunCommand(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  if (rc != 0) return absl::UnavailableError(absl::StrCat("command failed (", rc, "): ", cmd));
  return absl::OkStatus();
}

absl::Status EnsureFashionMnistPackage() {
  if (fs::exists(std::string(kFashionDir) + "/train-images-idx3-ubyte.gz")) {
    return absl::OkStatus();
  }
  if (geteuid() != 0) {
    return absl::FailedPreconditionError(
        "Fashion-MNIST is not installed: run 'sudo apt-get install dataset-fashion-mnist' "
        "(or scripts/install-deps.sh)");
  }
  std::fprintf(stderr, "installing Debian package dataset-fashion-mnist\n");
  if (!RunCommand("DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist "
                  ">/dev/null")
           .ok()) {
    CAIRN_RETURN_IF_ERROR(RunCommand("apt-get update -qq && DEBIAN_FRONTEND=noninteractive "
                                     "apt-get install -y -qq dataset-fashion-mnist >/dev/null"));
  }
  return absl::OkStatus();
}

absl::Status WriteImages(const IdxImages& images, const std::string& path) {
  CAIRN_ASSIGN_OR_RETURN(auto writer,
                         VectorWriter::Create(path, VectorFormat::kFbin, images.pixels_per_image()));
  std::vector<float> row(images.pixels_per_image());
  for (uint32_t i = 0; i < images.count; ++i) {
    const uint8_t* p = images.image(i);
    for (size_t d = 0; d < row.size(); ++d) row[d] = p[d];
    CAIRN_RETURN_IF_ERROR(writer->AppendFloat(row.data(), 1));
  }
  return writer->Finish();
}

absl::Status WriteGt(const std::string& dir, Metric metric, const FetchOptions& o,
                     uint64_t num_base) {
  GroundTruthOptions gto;
  gto.k = static_cast<uint32_t>(std::min<uint64_t>(o.gt_k, num_base));
  gto.metric = metric;
  gto.threads = ThreadCount(o);
  gto.progress = o.progress;
  CAIRN_ASSIGN_OR_RETURN(GroundTruth gt,
                         ComputeGroundTruth(dir + "/base.fbin", dir + "/query.fbin", gto));
  return WriteGroundTruth(dir + "/gt.ibin", gt);
}

bool AlreadyDone(const std::string& dir, const std::string& params, const FetchOptions& o) {
  if (o.force || !DatasetComplete(dir, params)) return false;
  std::fprintf(stderr, "%s: already complete (%s); use --force to redo\n", dir.c_str(),
               params.c_str());
  return true;
}

}  // namespace

absl::Status FetchFashionMnist(const std::string& out_dir, const FetchOptions& o) {
  const std::string params = absl::StrCat("fashion-mnist gt_k=", o.gt_k);
  if (AlreadyDone(out_dir, params, o)) return absl::OkStatus();
  CAIRN_RETURN_IF_ERROR(EnsureFashionMnistPackage());
  CAIRN_RETURN_IF_ERROR(EnsureDir(out_dir));
  CAIRN_ASSIGN_OR_RETURN(IdxImages train,
                         ReadIdxImages(std::string(kFashionDir) + "/train-images-idx3-ubyte.gz"));
  CAIRN_ASSIGN_OR_RETURN(IdxImages test,
                         ReadIdxImages(std::string(kFashionDir) + "/t10k-images-idx3-ubyte.gz"));
  CAIRN_RETURN_IF_ERROR(WriteImages(train, out_dir + "/base.fbin"));
  CAIRN_RETURN_IF_ERROR(WriteImages(test, out_dir + "/query.fbin"));
  CAIRN_RETURN_IF_ERROR(WriteGt(out_dir, Metric::kL2, o, train.count));
  DatasetManifest m;
  m.name = "fashion-mnist";
  m.metric = Metric::kL2;
  m.dim = train.pixels_per_image();
  m.num_base = train.count;
  m.num_queries = test.count;
  m.gt_k = std::min<uint32_t>(o.gt_k, train.count);
  m.source = "Debian package dataset-fashion-mnist (Zalando Fashion-MNIST), pixels 0-255";
  m.params = params;
  return WriteDatasetManifest(out_dir, m);
}

absl::Status FetchFioriDocs(const std::string& out_dir, const FetchOptions& o, uint64_t seed) {
  const std::string params = absl::StrCat("fiori-docs seed=", seed, " gt_k=", o.gt_k);
  if (AlreadyDone(out_dir, params, o)) return absl::OkStatus();
  CAIRN_RETURN_IF_ERROR(EnsureDir(out_dir));
  const std::string work = out_dir + "/.npm-package";
  std::error_code ec;
  fs::remove_all(work, ec);
  CAIRN_RETURN_IF_ERROR(EnsureDir(work));
  CAIRN_RETURN_IF_ERROR(RunCommand(absl::StrCat(
      "cd '", work, "' && npm pack --silent @sap-ux/fiori-docs-embeddings >/dev/null && ",
      "tar xzf *.tgz")));
  const std::string data = work + "/package/data/embeddings";
  // metadata.json says the dimension; the .bin file is bare float32 rows.
  uint32_t dim = 0;
  {
    std::ifstream in(data + "/metadata.json");
    nlohmann::json meta = nlohmann::json::parse(in, nullptr, false);
    if (meta.is_discarded() || !meta.contains("dimensions")) {
      return absl::DataLossError(data + "/metadata.json: missing or without 'dimensions'");
    }
    dim = meta["dimensions"].get<uint32_t>();
  }
  const std::string bin = data + "/embeddings.bin";
  const uint64_t bytes = fs::file_size(bin, ec);
  if (ec || dim == 0 || bytes == 0 || bytes % (4ull * dim) != 0) {
    return absl::DataLossError(absl::StrCat(bin, ": size ", bytes,
                                            " is not a whole number of ", dim, "-d float rows"));
  }
  const size_t n = bytes / (4ull * dim);
  std::vector<float> vecs(n * dim);
  {
    std::ifstream in(bin, std::ios::binary);
    in.read(reinterpret_cast<char*>(vecs.data()), static_cast<std::streamsize>(bytes));
    if (!in) return absl::DataLossError(bin + ": short read");
  }
  std::vector<nlohmann::json> records;
  {
    std::ifstream in(data + "/records.jsonl");
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded()) {
        return absl::DataLossError(absl::StrCat(data, "/records.jsonl: line ", records.size() + 1,
                                                " is not JSON"));
      }
      records.push_back({{"id", j.value("id", "")},
                         {"title", j.value("title", "")},
                         {"category", j.value("category", "")},
                         {"content", j.value("content", "")}});
    }
  }
  if (records.size() != n) {
    return absl::DataLossError(absl::StrCat(data, ": ", records.size(), " records but ", n,
                                            " embedding rows"));
  }
  // Seeded Fisher-Yates; the first 10% become queries.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.Below(i + 1)]);
  const size_t nq = std::max<size_t>(1, n / 10);
  std::vector<size_t> query_rows(order.begin(), order.begin() + nq);
  std::vector<size_t> base_rows(order.begin() + nq, order.end());
  std::sort(query_rows.begin(), query_rows.end());
  std::sort(base_rows.begin(), base_rows.end());
  auto write = [&](const std::vector<size_t>& rows, const std::string& name,
                   const std::string& texts) -> absl::Status {
    CAIRN_ASSIGN_OR_RETURN(auto w, VectorWriter::Create(out_dir + "/" + name, VectorFormat::kFbin, dim));
    const std::string texts_path = out_dir + "/" + texts;
    return WriteFileAtomically(Env::Default(), texts_path, [&](WritableFile* t) -> absl::Status {
      for (size_t r : rows) {
        CAIRN_RETURN_IF_ERROR(w->AppendFloat(vecs.data() + r * dim, 1));
        const std::string line = records[r].dump() + "\n";
        CAIRN_RETURN_IF_ERROR(t->Append(line.data(), line.size()));
      }
      return w->Finish();
    });
  };
  CAIRN_RETURN_IF_ERROR(write(base_rows, "base.fbin", "texts.jsonl"));
  CAIRN_RETURN_IF_ERROR(write(query_rows, "query.fbin", "query_texts.jsonl"));
  fs::remove_all(work, ec);
  CAIRN_RETURN_IF_ERROR(WriteGt(out_dir, Metric::kCosine, o, base_rows.size()));
  DatasetManifest m;
  m.name = "fiori-docs";
  m.metric = Metric::kCosine;
  m.dim = dim;
  m.num_base = base_rows.size();
  m.num_queries = static_cast<uint32_t>(query_rows.size());
  m.gt_k = static_cast<uint32_t>(std::min<uint64_t>(o.gt_k, base_rows.size()));
  m.source = "npm package @sap-ux/fiori-docs-embeddings (all-MiniLM-L6-v2 sentence embeddings)";
  m.params = params;
  return WriteDatasetManifest(out_dir, m);
}

absl::Status FetchFashionMnistAug(const std::string& out_dir, uint64_t n, uint32_t dim,
                                  uint64_t seed, const FetchOptions& o) {
  const std::string params =
      absl::StrCat("fashion-mnist-aug n=", n, " dim=", dim, " seed=", seed, " gt_k=", o.gt_k);
  if (AlreadyDone(out_dir, params, o)) return absl::OkStatus();
  if (n == 0 || n > 2147483647ull) return absl::InvalidArgumentError("--n must be in [1, 2^31-1]");
  CAIRN_RETURN_IF_ERROR(EnsureFashionMnistPackage());
  CAIRN_RETURN_IF_ERROR(EnsureDir(out_dir));
  CAIRN_ASSIGN_OR_RETURN(IdxImages train,
                         ReadIdxImages(std::string(kFashionDir) + "/train-images-idx3-ubyte.gz"));
  CAIRN_ASSIGN_OR_RETURN(IdxImages test,
                         ReadIdxImages(std::string(kFashionDir) + "/t10k-images-idx3-ubyte.gz"));
  const uint32_t pixels = train.pixels_per_image();
  if (dim == 0 || dim > pixels) {
    return absl::InvalidArgumentError(absl::StrCat("--dim must be in [1, ", pixels, "]"));
  }
  std::vector<float> originals(static_cast<size_t>(train.count) * pixels);
  for (size_t i = 0; i < originals.size(); ++i) originals[i] = train.pixels[i];
  CAIRN_ASSIGN_OR_RETURN(Pca pca, FitPca(originals.data(), train.count, pixels, dim));
  originals.clear();
  originals.shrink_to_fit();

  const int threads = ThreadCount(o);
  constexpr size_t kChunk = 4096;
  CAIRN_ASSIGN_OR_RETURN(auto writer,
                         VectorWriter::Create(out_dir + "/base.fbin", VectorFormat::kFbin, dim));
  Progress progress("augment+pca", n, "images", o.progress);
  std::vector<std::vector<float>> images(threads, std::vector<float>(kChunk * pixels));
  std::vector<std::vector<float>> projected(threads, std::vector<float>(kChunk * dim));
  const uint64_t chunks = (n + kChunk - 1) / kChunk;
  for (uint64_t c0 = 0; c0 < chunks; c0 += threads) {
    const int active = static_cast<int>(std::min<uint64_t>(threads, chunks - c0));
    std::vector<std::thread> pool;
    for (int t = 0; t < active; ++t) {
      pool.emplace_back([&, t] {
        ImageAugmenter augmenter(train.rows, train.cols, AugmentOptions{});
        const uint64_t first = (c0 + t) * kChunk;
        const size_t rows = static_cast<size_t>(std::min<uint64_t>(kChunk, n - first));
        for (size_t r = 0; r < rows; ++r) {
          const uint64_t row = first + r;
          const uint8_t* src = train.image(static_cast<uint32_t>(row % train.count));
          float* dst = images[t].data() + r * pixels;
          if (row < train.count) {
            for (uint32_t p = 0; p < pixels; ++p) dst[p] = src[p];
          } else {
            Rng rng(Rng::Mix(seed, row));
            augmenter.Augment(src, rng, dst);
          }
        }
      });
    }
    for (auto& th : pool) th.join();
    // Projection runs here, not in the workers: one multithreaded SGEMM at a
    // time rather than OpenBLAS calls racing from several threads.
    for (int t = 0; t < active; ++t) {
      const uint64_t first = (c0 + t) * kChunk;
      const size_t rows = static_cast<size_t>(std::min<uint64_t>(kChunk, n - first));
      pca.Project(images[t].data(), rows, projected[t].data());
      CAIRN_RETURN_IF_ERROR(writer->AppendFloat(projected[t].data(), rows));
      progress.Add(rows);
    }
  }
  progress.Finish();
  CAIRN_RETURN_IF_ERROR(writer->Finish());

  {
    std::vector<float> q(static_cast<size_t>(test.count) * pixels);
    for (size_t i = 0; i < q.size(); ++i) q[i] = test.pixels[i];
    FloatMatrix qm;
    qm.rows = test.count;
    qm.dim = dim;
    qm.data.resize(static_cast<size_t>(test.count) * dim);
    pca.Project(q.data(), test.count, qm.data.data());
    CAIRN_RETURN_IF_ERROR(WriteFloatMatrix(out_dir + "/query.fbin", qm));
  }
  CAIRN_RETURN_IF_ERROR(WriteGt(out_dir, Metric::kL2, o, n));
  DatasetManifest m;
  m.name = absl::StrCat("fashion-mnist-aug-", n, "x", dim);
  m.metric = Metric::kL2;
  m.dim = dim;
  m.num_base = n;
  m.num_queries = test.count;
  m.gt_k = static_cast<uint32_t>(std::min<uint64_t>(o.gt_k, n));
  m.source = "Fashion-MNIST originals + elastic/affine deformations, PCA fitted on originals";
  m.params = params;
  return WriteDatasetManifest(out_dir, m);
}

}  // namespace cairn
