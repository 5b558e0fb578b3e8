#include "cli/dataset_command.h"

#include <cstdio>
#include <memory>

#include "common/progress.h"
#include "datasets/dataset_manifest.h"
#include "datasets/fetch.h"
#include "datasets/synthetic.h"
#include "datasets/vector_file.h"

namespace cairn {
namespace {

int Report(const absl::Status& status, const char* what) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "cairn dataset %s: %s\n", what, std::string(status.message()).c_str());
  return 1;
}

struct FetchArgs {
  std::string name;
  std::string out;
  uint64_t n = 1000000;
  uint32_t dim = 64;
  uint64_t seed = 1;
  FetchOptions options;
  bool quiet = false;
};

}  // namespace

void AddDatasetCommand(CLI::App& app, int* exit_code) {
  CLI::App* cmd = app.add_subcommand("dataset", "Fetch, generate and inspect vector data sets");
  cmd->require_subcommand(1);

  auto fetch = std::make_shared<FetchArgs>();
  CLI::App* f = cmd->add_subcommand(
      "fetch", "Fetch a real data set: fashion-mnist, fiori-docs, fashion-mnist-aug");
  f->add_option("name", fetch->name, "fashion-mnist | fiori-docs | fashion-mnist-aug")
      ->required()
      ->check(CLI::IsMember({"fashion-mnist", "fiori-docs", "fashion-mnist-aug"}));
  f->add_option("--out", fetch->out, "Output directory")->required();
  f->add_option("--n", fetch->n, "fashion-mnist-aug: number of base vectors")
      ->check(CLI::Range(uint64_t{1}, uint64_t{2147483647}));
  f->add_option("--dim", fetch->dim, "fashion-mnist-aug: PCA dimension (<= 784)")
      ->check(CLI::Range(1u, 784u));
  f->add_option("--seed", fetch->seed, "Seed for augmentation / query hold-out");
  f->add_option("--gt-k", fetch->options.gt_k, "Neighbours in the ground truth")
      ->check(CLI::Range(1u, 10000u));
  f->add_option("--threads", fetch->options.threads, "Threads (0: all cores)");
  f->add_flag("--force", fetch->options.force, "Redo even if the directory is complete");
  f->add_flag("--quiet", fetch->quiet, "No progress output");
  f->callback([fetch, exit_code] {
    fetch->options.progress = !fetch->quiet;
    absl::Status s;
    if (fetch->name == "fashion-mnist") {
      s = FetchFashionMnist(fetch->out, fetch->options);
    } else if (fetch->name == "fiori-docs") {
      s = FetchFioriDocs(fetch->out, fetch->options, fetch->seed);
    } else {
      s = FetchFashionMnistAug(fetch->out, fetch->n, fetch->dim, fetch->seed, fetch->options);
    }
    *exit_code = Report(s, "fetch");
    if (s.ok()) {
      auto m = ReadDatasetManifest(fetch->out);
      if (m.ok()) {
        std::printf("%s: %s, %llu base x %u-d, %u queries, metric %s, gt top-%u\n",
                    fetch->out.c_str(), m->name.c_str(), (unsigned long long)m->num_base, m->dim,
                    m->num_queries, std::string(MetricName(m->metric)).c_str(), m->gt_k);
      }
    }
  });

  auto synth = std::make_shared<SyntheticOptions>();
  auto synth_out = std::make_shared<std::string>();
  auto synth_quiet = std::make_shared<bool>(false);
  auto synth_force = std::make_shared<bool>(false);
  CLI::App* s = cmd->add_subcommand("synth", "Generate a seeded Gaussian-mixture set with ground truth");
  s->add_option("--n", synth->n, "Base vectors")->check(CLI::Range(uint64_t{1}, uint64_t{2147483647}));
  s->add_option("--dim", synth->dim, "Dimension")->check(CLI::Range(1u, 65536u));
  s->add_option("--queries", synth->queries, "Query vectors")->check(CLI::Range(1u, 10000000u));
  s->add_option("--clusters", synth->clusters, "Mixture components")->check(CLI::Range(1u, 100000000u));
  s->add_option("--seed", synth->seed, "Seed");
  s->add_option("--center-std", synth->center_std, "Std of the centres (default 4: N(0, 16 I))");
  s->add_option("--noise-min", synth->noise_min, "Smallest per-cluster noise std");
  s->add_option("--noise-max", synth->noise_max, "Largest per-cluster noise std");
  s->add_option("--gt-k", synth->gt_k, "Neighbours in the ground truth")->check(CLI::Range(1u, 10000u));
  s->add_option("--threads", synth->threads, "Threads (0: all cores)");
  s->add_option("--out", *synth_out, "Output directory")->required();
  s->add_flag("--force", *synth_force, "Redo even if the directory is complete");
  s->add_flag("--quiet", *synth_quiet, "No progress output");
  s->callback([synth, synth_out, synth_quiet, synth_force, exit_code] {
    synth->progress = !*synth_quiet;
    if (!*synth_force && DatasetComplete(*synth_out, SyntheticParams(*synth))) {
      std::fprintf(stderr, "%s: already complete; use --force to redo\n", synth_out->c_str());
      *exit_code = 0;
      return;
    }
    *exit_code = Report(GenerateSynthetic(*synth, *synth_out), "synth");
  });

  auto info_path = std::make_shared<std::string>();
  CLI::App* i = cmd->add_subcommand("info", "Validate a vector file and print its shape");
  i->add_option("file", *info_path, "A .fvecs .ivecs .bvecs .fbin .u8bin .i8bin file")->required();
  i->callback([info_path, exit_code] {
    auto reader = VectorReader::Open(*info_path);
    if (!reader.ok()) {
      *exit_code = Report(reader.status(), "info");
      return;
    }
    // Reading every row validates the whole file (dims, NaN/Inf).
    const auto& info = (*reader)->info();
    std::vector<uint8_t> buf(size_t{4096} * info.dim * ElementSize(info.element_type));
    for (;;) {
      auto got = (*reader)->ReadRaw(4096, buf.data());
      if (!got.ok()) {
        *exit_code = Report(got.status(), "info");
        return;
      }
      if (*got == 0) break;
    }
    std::printf("%s: %s, %llu vectors x %u dims\n", info.path.c_str(),
                std::string(FormatName(info.format)).c_str(),
                (unsigned long long)info.num_vectors, info.dim);
    *exit_code = 0;
  });
}

}  // namespace cairn
