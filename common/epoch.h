// Epoch-based reclamation for structures that readers use without locks: a
// writer unlinks an object (a posting extent, say), calls Retire() and gets
// an epoch; the object may be reused once SafeToReuse(epoch) is true, i.e.
// once every reader that could have seen the old link has left.
//
// Readers: each reading thread owns a Slot (registered once, at context
// creation); Enter/Exit around each operation are two atomic stores and one
// load, no lock and no shared counter. Registration and the writer's
// MinActive() scan take a mutex; neither is on the read path.
//
// Thread-safety: all members are safe to call concurrently. A Slot belongs to
// one reader thread at a time and must be unregistered before it is freed
// (the Slot handle does that in its destructor).
#ifndef CAIRN_COMMON_EPOCH_H_
#define CAIRN_COMMON_EPOCH_H_

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace cairn {

class EpochManager {
 public:
  class Slot {
   public:
    explicit Slot(EpochManager* m) : manager_(m) { manager_->Register(&active_); }
    ~Slot() { manager_->Unregister(&active_); }
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    // seq_cst: the store of the entered epoch must be visible to a writer's
    // MinActive() before this reader loads any pointer it protects.
    void Enter() { active_.store(manager_->epoch_.load(std::memory_order_seq_cst)); }
    void Exit() { active_.store(kIdle, std::memory_order_release); }

   private:
    EpochManager* manager_;
    std::atomic<uint64_t> active_{kIdle};
  };

  // Call after the object is unreachable for new readers. Returns the epoch
  // to pass to SafeToReuse.
  uint64_t Retire() { return epoch_.fetch_add(1, std::memory_order_seq_cst); }

  // True once no reader that entered at or before `retired` is still inside.
  bool SafeToReuse(uint64_t retired) const { return MinActive() > retired; }

  // The oldest epoch a reader is still inside (max uint64 if none).
  uint64_t MinActive() const {
    absl::MutexLock lock(&mu_);
    uint64_t min = kIdle;
    for (const auto* slot : slots_) min = std::min(min, slot->load(std::memory_order_seq_cst));
    return min;
  }

 private:
  static constexpr uint64_t kIdle = std::numeric_limits<uint64_t>::max();
  void Register(std::atomic<uint64_t>* s) {
    absl::MutexLock lock(&mu_);
    slots_.push_back(s);
  }
  void Unregister(std::atomic<uint64_t>* s) {
    absl::MutexLock lock(&mu_);
    slots_.erase(std::remove(slots_.begin(), slots_.end(), s), slots_.end());
  }

  std::atomic<uint64_t> epoch_{1};
  mutable absl::Mutex mu_;
  std::vector<std::atomic<uint64_t>*> slots_;
};

}  // namespace cairn

#endif  // CAIRN_COMMON_EPOCH_H_
