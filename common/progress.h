// A progress line on stderr: stage, done/total, rate and ETA. Redraws at most
// every 200 ms; when stderr is not a terminal it prints a line every 5 s so logs
// stay short. Thread-safe: Add() may be called from any thread.
#ifndef CAIRN_COMMON_PROGRESS_H_
#define CAIRN_COMMON_PROGRESS_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>

namespace cairn {

class Progress {
 public:
  // total == 0 means unknown (no percentage or ETA). unit names what is counted.
  Progress(std::string stage, uint64_t total, std::string unit = "items",
           bool enabled = true);
  ~Progress();  // calls Finish()
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  void Add(uint64_t n);
  void Finish();

  // Process-wide switch (e.g. --quiet, or tests).
  static void SetGloballyEnabled(bool enabled);

 private:
  void Draw(bool final_line);

  const std::string stage_;
  const uint64_t total_;
  const std::string unit_;
  const bool enabled_;
  const bool tty_;
  const std::chrono::steady_clock::time_point start_;
  std::atomic<uint64_t> done_{0};
  std::mutex draw_mu_;
  std::chrono::steady_clock::time_point last_draw_;
  bool finished_ = false;
  uint64_t last_drawn_done_ = UINT64_MAX;
};

}  // namespace cairn

#endif  // CAIRN_COMMON_PROGRESS_H_
