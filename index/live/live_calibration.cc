// The live index's posting budget for target_recall searches: loaded with
// the index (the bulk build's routing.budget, or the last one maintenance
// wrote), refitted on the live vectors when they have changed by more than
// LiveOptions::recalibrate_fraction (index/spann/route_calibration.h).
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "datasets/vector_file.h"
#include "index/live/live_index.h"
#include "index/live/live_internal.h"
#include "index/live/posting_maintainer.h"
#include "index/spann/route_calibration.h"

namespace cairn {
namespace {

// Files of a calibration in progress, removed when it ends (and at open,
// after a crash).
constexpr char kCalibrationVectors[] = "calibration.fbin";
constexpr char kCalibrationHeads[] = "calibration.heads";

// What Recalibrate copies of the index under maint_mu_, so that the slow
// part (exact ground truth, observations) runs without holding it.
struct LiveSnapshot {
  Membership membership;
  std::vector<DirectoryEntry> directory;
  std::unique_ptr<HeadIndex> heads;
  uint64_t vectors = 0;
};

}  // namespace

void LiveIndex::LoadBudget() {
  absl::StatusOr<PostingBudget> b =
      ReadPostingBudget(env_, dir_ + "/" + kPostingBudgetFileName);
  std::error_code ec;
  std::filesystem::remove(dir_ + "/" + kCalibrationVectors, ec);
  std::filesystem::remove(dir_ + "/" + kCalibrationHeads, ec);
  absl::MutexLock lock(&budget_mu_);
  if (b.ok()) {
    budget_ = std::make_shared<const PostingBudget>(*std::move(b));
  } else if (!absl::IsNotFound(b.status())) {
    // A damaged budget is refitted by the next calibration; searches by
    // target wait for it, everything else is unaffected.
    std::fprintf(stderr, "cairn: live index %s: %s; target_recall waits for a recalibration\n",
                 dir_.c_str(), std::string(b.status().message()).c_str());
  }
}

std::shared_ptr<const PostingBudget> LiveIndex::posting_budget() const {
  absl::MutexLock lock(&budget_mu_);
  return budget_;
}

bool LiveIndex::CalibrationDue() {
  if (options_.recalibrate_fraction <= 0) return false;
  const int64_t live = live_vectors_.load();
  if (live < 0 || static_cast<uint64_t>(live) < options_.recalibrate_min_vectors) return false;
  const uint64_t writes = n_upserts_.load() + n_deletes_.load();
  absl::MutexLock lock(&budget_mu_);
  if (writes < retry_at_writes_) return false;  // the last attempt failed
  if (budget_ == nullptr) return true;
  const double base = std::max<double>(budget_->num_vectors(), 1.0);
  return static_cast<double>(writes - writes_at_calibration_) > options_.recalibrate_fraction * base;
}

void LiveIndex::NoteCalibrationFailure() {
  const uint64_t writes = n_upserts_.load() + n_deletes_.load();
  const double live = static_cast<double>(std::max<int64_t>(live_vectors_.load(), 0));
  absl::MutexLock lock(&budget_mu_);
  retry_at_writes_ = writes + std::max<uint64_t>(options_.recalibrate_min_vectors,
                                                 options_.recalibrate_fraction * live);
}

absl::Status LiveIndex::Recalibrate() {
  const uint64_t writes = n_upserts_.load() + n_deletes_.load();
  // The vectors still in the memtables go to the postings first: a young
  // collection may hold all of its vectors in its active memtable.
  CAIRN_RETURN_IF_ERROR(Flush());
  LiveSnapshot snap;
  const std::string vectors_path = dir_ + "/" + kCalibrationVectors;
  {
    // The postings and heads stay still while they are copied; writers go
    // on into the memtables (whose vectors every search scans exactly, so
    // leaving the ones written since the flush out of the calibration only
    // underestimates recall).
    absl::MutexLock maint(&maint_mu_);
    const uint32_t n = directory_.size();
    std::vector<uint64_t> pairs;  // row << 32 | head
    absl::flat_hash_map<uint32_t, uint32_t> row_of;
    // Streamed to the file: a large index's vectors need not fit in RAM.
    CAIRN_ASSIGN_OR_RETURN(auto writer,
                           VectorWriter::Create(vectors_path, VectorFormat::kFbin, dim_));
    std::vector<float> row(dim_);
    PostingEntries posting;
    snap.directory.assign(n, DirectoryEntry{});
    for (uint32_t h = 0; h < n; ++h) {
      {
        absl::ReaderMutexLock lock(&heads_mu_);
        if (heads_->removed(h)) continue;
      }
      const uint64_t packed = directory_.Load(h);
      if (packed == 0) continue;
      snap.directory[h].bytes = ExtentBytes(packed);
      uint32_t stale = 0;
      CAIRN_RETURN_IF_ERROR(maintainer_->ReadPosting(h, &posting, &stale));
      for (size_t i = 0; i < posting.size(); ++i) {
        auto [it, fresh] =
            row_of.try_emplace(posting.ids[i], static_cast<uint32_t>(row_of.size()));
        if (fresh) {
          StoredVectorToFloat(stored_, posting.vec(i), dim_, row.data());
          CAIRN_RETURN_IF_ERROR(writer->AppendFloat(row.data(), 1));
        }
        pairs.push_back(uint64_t{it->second} << 32 | h);
      }
    }
    const uint64_t rows = row_of.size();
    if (rows < 2) return absl::FailedPreconditionError("too few vectors to calibrate");
    CAIRN_RETURN_IF_ERROR(writer->Finish());
    snap.vectors = rows;
    snap.membership = Membership::FromPairs(std::move(pairs), rows);
    absl::ReaderMutexLock lock(&heads_mu_);
    CAIRN_ASSIGN_OR_RETURN(std::string graph, heads_->Serialize(dir_ + "/" + kCalibrationHeads));
    CAIRN_ASSIGN_OR_RETURN(snap.heads, HeadIndex::Deserialize(graph, dir_ + "/" + kCalibrationHeads,
                                                              dim_, metric_));
  }
  CalibrationSource src;
  src.vectors = vectors_path;
  src.num_vectors = snap.vectors;
  src.dim = dim_;
  src.metric = metric_;
  src.heads = snap.heads.get();
  src.directory = std::move(snap.directory);
  src.membership = &snap.membership;
  src.scratch_dir = dir_;
  CalibrationOptions co;
  co.queries = options_.calibration_queries;
  absl::StatusOr<CalibrationReport> report = Calibrate(src, co);
  std::error_code ec;
  std::filesystem::remove(vectors_path, ec);
  if (!report.ok()) return report.status();
  CAIRN_RETURN_IF_ERROR(
      WritePostingBudget(env_, dir_ + "/" + kPostingBudgetFileName, report->budget));
  absl::MutexLock lock(&budget_mu_);
  budget_ = std::make_shared<const PostingBudget>(std::move(report->budget));
  writes_at_calibration_ = writes;
  ++calibrations_;
  return absl::OkStatus();
}

}  // namespace cairn
