// A heap buffer with a chosen alignment (4096 for O_DIRECT, 64 for SIMD). Owns
// its memory; movable, not copyable. Contents are uninitialised on Resize.
#ifndef CAIRN_COMMON_ALIGNED_BUFFER_H_
#define CAIRN_COMMON_ALIGNED_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

namespace cairn {

class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t alignment = 64) : alignment_(alignment) {}
  AlignedBuffer(size_t size, size_t alignment) : alignment_(alignment) { Resize(size); }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)),
        alignment_(o.alignment_) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(capacity_, o.capacity_);
    std::swap(alignment_, o.alignment_);
    return *this;
  }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  // Grows capacity only; never shrinks, so reuse across queries allocates nothing.
  void Resize(size_t size) {
    if (size > capacity_) {
      size_t rounded = (size + alignment_ - 1) / alignment_ * alignment_;
      void* p = std::aligned_alloc(alignment_, rounded);
      if (p == nullptr) throw std::bad_alloc();
      std::free(data_);
      data_ = p;
      capacity_ = rounded;
    }
    size_ = size;
  }

  template <typename T = std::byte>
  T* data() {
    return static_cast<T*>(data_);
  }
  template <typename T = std::byte>
  const T* data() const {
    return static_cast<const T*>(data_);
  }
  size_t size() const { return size_; }
  size_t alignment() const { return alignment_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
  size_t alignment_;
};

}  // namespace cairn

#endif  // CAIRN_COMMON_ALIGNED_BUFFER_H_
