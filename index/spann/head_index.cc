#include "index/spann/head_index.h"

#include <fcntl.h>
#include <hnswlib/hnswlib.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <exception>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "index/spann/hnsw_space.h"
#include "storage/env.h"

namespace cairn {

struct HeadIndex::Impl {
  std::unique_ptr<HnswKernelSpace> space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
};

HeadIndex::~HeadIndex() = default;

absl::StatusOr<std::unique_ptr<HeadIndex>> HeadIndex::Build(const float* heads, uint32_t count,
                                                            uint32_t dim, Metric metric,
                                                            const HeadIndexOptions& options) {
  if (count == 0 || dim == 0) return absl::InvalidArgumentError("head index: no heads");
  std::unique_ptr<HeadIndex> index(new HeadIndex());
  index->count_ = count;
  index->dim_ = dim;
  index->impl_ = std::make_unique<Impl>();
  index->impl_->space = std::make_unique<HnswKernelSpace>(dim, metric);
  try {
    index->impl_->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        index->impl_->space.get(), count, options.m, options.ef_construction, options.seed);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("head index: ", e.what()));
  }
  auto* hnsw = index->impl_->hnsw.get();
  const int threads =
      options.threads > 0 ? options.threads : std::max(1, (int)std::thread::hardware_concurrency());
  Progress progress("head graph", count, "heads", options.progress);
  // The first point alone, then the rest in parallel (hnswlib allows
  // concurrent addPoint with distinct labels).
  hnsw->addPoint(heads, 0);
  progress.Add(1);
  std::atomic<uint32_t> next{1};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (uint32_t i = next++; i < count; i = next++) {
        hnsw->addPoint(heads + size_t{i} * dim, i);
        if ((i & 255) == 0) progress.Add(256);
      }
    });
  }
  for (auto& th : pool) th.join();
  progress.Finish();
  return index;
}

absl::StatusOr<std::unique_ptr<HeadIndex>> HeadIndex::CreateEmpty(
    uint32_t dim, Metric metric, const HeadIndexOptions& options) {
  if (dim == 0) return absl::InvalidArgumentError("head index: dimension 0");
  std::unique_ptr<HeadIndex> index(new HeadIndex());
  index->count_ = 0;
  index->dim_ = dim;
  index->impl_ = std::make_unique<Impl>();
  index->impl_->space = std::make_unique<HnswKernelSpace>(dim, metric);
  try {
    index->impl_->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        index->impl_->space.get(), 1024, options.m, options.ef_construction, options.seed);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("head index: ", e.what()));
  }
  return index;
}

absl::Status HeadIndex::Save(const std::string& path) const {
  try {
    impl_->hnsw->saveIndex(path);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(path, ": cannot save head index: ", e.what()));
  }
  // hnswlib writes through an unsynced ofstream; the caller renames the file
  // into place, so make its bytes durable first (write, fsync, rename).
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return IOError(absl::StrCat(path, ": open"), errno);
  const int rc = ::fsync(fd);
  const int error = errno;
  ::close(fd);
  if (rc != 0) return IOError(absl::StrCat(path, ": fsync"), error);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<HeadIndex>> HeadIndex::Load(const std::string& path, uint32_t dim,
                                                           Metric metric) {
  std::unique_ptr<HeadIndex> index(new HeadIndex());
  index->dim_ = dim;
  index->impl_ = std::make_unique<Impl>();
  index->impl_->space = std::make_unique<HnswKernelSpace>(dim, metric);
  try {
    index->impl_->hnsw =
        std::make_unique<hnswlib::HierarchicalNSW<float>>(index->impl_->space.get(), path);
  } catch (const std::exception& e) {
    return absl::DataLossError(absl::StrCat(path, ": cannot load head index: ", e.what()));
  }
  index->count_ = static_cast<uint32_t>(index->impl_->hnsw->cur_element_count);
  index->removed_ = static_cast<uint32_t>(index->impl_->hnsw->num_deleted_);
  // Labels were assigned 0..count-1 at build; internal ids may differ, so
  // head(id) goes through the label lookup once here.
  return index;
}

void HeadIndex::Search(const float* query, uint32_t n, uint32_t ef,
                       std::vector<HeadHit>* out) const {
  out->clear();
  n = std::min(n, count_);
  if (n == 0) return;
  // hnswlib searches with max(ef_, k): asking for ef results and keeping n
  // makes ef per call, with no shared state touched.
  auto result = impl_->hnsw->searchKnn(query, std::max(n, ef));
  out->resize(result.size());
  for (size_t i = result.size(); i-- > 0;) {
    (*out)[i] = {result.top().first, static_cast<uint32_t>(result.top().second)};
    result.pop();
  }
  out->resize(std::min<size_t>(n, out->size()));
}

absl::Status HeadIndex::Add(const float* vector, uint32_t id) {
  auto* h = impl_->hnsw.get();
  if (h->label_lookup_.count(id) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("head index: head ", id, " exists"));
  }
  try {
    if (h->cur_element_count >= h->max_elements_) {
      h->resizeIndex(std::max<size_t>(1024, h->max_elements_ + h->max_elements_ / 4));
    }
    h->addPoint(vector, id);
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat("head index: add head ", id, ": ", e.what()));
  }
  ++count_;
  return absl::OkStatus();
}

absl::Status HeadIndex::Remove(uint32_t id) {
  auto* h = impl_->hnsw.get();
  auto it = h->label_lookup_.find(id);
  if (it == h->label_lookup_.end()) {
    return absl::NotFoundError(absl::StrCat("head index: no head ", id));
  }
  if (h->isMarkedDeleted(it->second)) return absl::OkStatus();
  h->markDeletedInternal(it->second);
  ++removed_;
  return absl::OkStatus();
}

bool HeadIndex::removed(uint32_t id) const {
  auto* h = impl_->hnsw.get();
  auto it = h->label_lookup_.find(id);
  return it == h->label_lookup_.end() || h->isMarkedDeleted(it->second);
}

absl::StatusOr<std::string> HeadIndex::Serialize(const std::string& scratch_path) const {
  try {
    impl_->hnsw->saveIndex(scratch_path);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(scratch_path, ": cannot save head index: ", e.what()));
  }
  auto bytes = Env::Default()->ReadFile(scratch_path);
  (void)Env::Default()->RemoveFile(scratch_path);
  return bytes;
}

absl::StatusOr<std::unique_ptr<HeadIndex>> HeadIndex::Deserialize(const std::string& bytes,
                                                                  const std::string& scratch_path,
                                                                  uint32_t dim, Metric metric) {
  // hnswlib reads only from a path; the caller has verified the checksum.
  CAIRN_RETURN_IF_ERROR(WriteFileAtomically(Env::Default(), scratch_path, bytes));
  auto index = Load(scratch_path, dim, metric);
  (void)Env::Default()->RemoveFile(scratch_path);
  return index;
}

const float* HeadIndex::head(uint32_t id) const {
  auto* h = impl_->hnsw.get();
  auto it = h->label_lookup_.find(id);
  if (it == h->label_lookup_.end()) return nullptr;
  return reinterpret_cast<const float*>(h->getDataByInternalId(it->second));
}

uint64_t HeadIndex::MemoryBytes() const {
  const auto* h = impl_->hnsw.get();
  uint64_t bytes = static_cast<uint64_t>(h->max_elements_) * h->size_data_per_element_;
  for (size_t i = 0; i < h->cur_element_count; ++i) {
    if (h->element_levels_[i] > 0) bytes += h->size_links_per_element_ * h->element_levels_[i];
  }
  bytes += h->max_elements_ * (sizeof(int) + sizeof(void*) + sizeof(std::mutex));  // levels, upper-link pointers, per-node locks
  bytes += h->max_elements_ * (sizeof(hnswlib::labeltype) + sizeof(hnswlib::tableint)) * 2;  // label map
  return bytes;
}

}  // namespace cairn
