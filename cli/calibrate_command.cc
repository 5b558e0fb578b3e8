// `cairn calibrate`: fits the posting budget of target_recall searches for an
// index built before calibration existed, or again with other settings.
// `cairn build` runs the same calibration as its last stage.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_format.h"
#include "cli/build_command.h"
#include "index/spann/route_calibration.h"
#include "storage/file_lock.h"

namespace cairn {
namespace {

struct CalibrateArgs {
  std::string index, base;
  CalibrationOptions options;
};

int RunCalibrate(const CalibrateArgs& a) {
  // A server or a build using the directory must not see the budget change
  // under it.
  auto lock = DirLock::Acquire(a.index, "cairn calibrate");
  if (!lock.ok()) {
    std::fprintf(stderr, "cairn calibrate: %s\n", std::string(lock.status().message()).c_str());
    return 1;
  }
  auto report = CalibrateIndex(a.index, a.base, a.options);
  if (!report.ok()) {
    std::fprintf(stderr, "cairn calibrate: %s\n", std::string(report.status().message()).c_str());
    return 1;
  }
  const PostingBudget& b = report->budget;
  std::printf("calibrated %s: %u base queries (%u heads skipped), k %u, head beam %u, %zu "
              "buckets, %.1f s\n",
              a.index.c_str(), report->queries, report->heads_skipped, b.k(), b.head_ef(),
              b.buckets(), report->seconds);
  for (const CalibrationReport::Beam& beam : report->beams) {
    std::printf("  head beam %4u: %.2f postings per query at recall %.2f%s\n", beam.head_ef,
                beam.postings, a.options.choose_target, beam.head_ef == b.head_ef() ? " (kept)" : "");
  }
  std::printf("  target  calib.recall  mean postings  budget per bucket (easy first)\n");
  for (const PostingBudget::Table& t : b.tables()) {
    std::string counts;
    for (double n : t.counts) counts += absl::StrFormat(" %.2f", n);
    std::printf("  %6.3f  %12.4f  %13.2f  %s\n", t.target, t.calib_recall, t.calib_postings,
                counts.c_str());
  }
  return 0;
}

}  // namespace

void AddCalibrateCommand(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<CalibrateArgs>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit an index's per-query posting budget for --target-recall searches");
  cmd->add_option("--index", a->index, "Index directory")->required();
  cmd->add_option("--base", a->base, "The vector file the index was built from")->required();
  cmd->add_option("--queries", a->options.queries, "Base vectors sampled as queries")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--k", a->options.k, "Neighbours whose recall is calibrated")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--head-ef", a->options.head_ef,
                  "Head graph beam of target_recall searches (0: the narrowest of 64, 128, 256 "
                  "within 3% of the fewest postings at recall 0.95)")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  cmd->add_option("--buckets", a->options.budget.buckets, "Query buckets by routing score")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  cmd->add_option("--prefix", a->options.budget.prefix, "Most postings a query may be given")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  cmd->add_option("--seed", a->options.seed, "Sampling seed")->capture_default_str();
  cmd->add_flag("--progress", a->options.progress, "Progress on stderr");
  cmd->callback([a, exit_code] { *exit_code = RunCalibrate(*a); });
}

}  // namespace cairn
