#include "common/progress.h"

#include <unistd.h>

#include <cstdio>

namespace cairn {
namespace {
std::atomic<bool> g_enabled{true};

std::string FormatSeconds(double s) {
  char buf[32];
  if (s < 0 || s > 1e7) return "?";
  int total = static_cast<int>(s + 0.5);
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%dh%02dm", total / 3600, (total / 60) % 60);
  } else if (total >= 60) {
    std::snprintf(buf, sizeof(buf), "%dm%02ds", total / 60, total % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ds", total);
  }
  return buf;
}
}  // namespace

void Progress::SetGloballyEnabled(bool enabled) { g_enabled = enabled; }

Progress::Progress(std::string stage, uint64_t total, std::string unit, bool enabled)
    : stage_(std::move(stage)),
      total_(total),
      unit_(std::move(unit)),
      enabled_(enabled && g_enabled.load()),
      tty_(isatty(STDERR_FILENO) == 1),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { Finish(); }

void Progress::Add(uint64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  auto min_gap = tty_ ? std::chrono::milliseconds(200) : std::chrono::milliseconds(5000);
  std::unique_lock<std::mutex> lock(draw_mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_ || now - last_draw_ < min_gap) return;
  last_draw_ = now;
  Draw(false);
}

void Progress::Finish() {
  std::lock_guard<std::mutex> lock(draw_mu_);
  if (finished_) return;
  finished_ = true;
  // A non-terminal log already has the last line when nothing moved since.
  if (enabled_ && (tty_ || done_.load() != last_drawn_done_)) Draw(true);
}

void Progress::Draw(bool final_line) {
  double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  uint64_t done = done_.load(std::memory_order_relaxed);
  last_drawn_done_ = done;
  double rate = elapsed > 0 ? done / elapsed : 0;
  char line[256];
  if (total_ > 0) {
    double frac = static_cast<double>(done) / total_;
    double eta = rate > 0 ? (total_ - std::min(done, total_)) / rate : -1;
    std::snprintf(line, sizeof(line), "%s: %llu/%llu %s (%.1f%%) %.0f %s/s elapsed %s eta %s",
                  stage_.c_str(), (unsigned long long)done, (unsigned long long)total_,
                  unit_.c_str(), 100.0 * frac, rate, unit_.c_str(),
                  FormatSeconds(elapsed).c_str(),
                  final_line ? "0s" : FormatSeconds(eta).c_str());
  } else {
    std::snprintf(line, sizeof(line), "%s: %llu %s %.0f %s/s elapsed %s", stage_.c_str(),
                  (unsigned long long)done, unit_.c_str(), rate, unit_.c_str(),
                  FormatSeconds(elapsed).c_str());
  }
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line, final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line);
  }
  std::fflush(stderr);
}

}  // namespace cairn
