#include "index/spann/head_index.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <exception>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "index/spann/hnsw_space.h"
#include "storage/env.h"

namespace cairn {
namespace {

// hnswlib 0.6.2's file header (hnswalg.h, saveIndex), in file order.
// loadIndex allocates and seeks by these before any check of its own, and
// searches trust every link it then reads; CheckGraphHeader and
// CheckLoadedGraph refuse what our writer (Build, Add) could not have made.
#pragma pack(push, 1)
struct GraphHeader {
  uint64_t offset_level0;
  uint64_t max_elements;
  uint64_t cur_element_count;
  uint64_t size_data_per_element;
  uint64_t label_offset;
  uint64_t offset_data;
  int32_t max_level;
  uint32_t enter_point;
  uint64_t max_m;
  uint64_t max_m0;
  uint64_t m;
  double mult;
  uint64_t ef_construction;
};
#pragma pack(pop)
static_assert(sizeof(GraphHeader) == 96);

// Far above any M we build with (HeadIndexOptions::m, 16 by default); bounds
// the link lists a corrupt file can make hnswlib allocate and walk.
constexpr uint64_t kMaxGraphM = 1024;
constexpr int32_t kMaxGraphLevel = 64;

absl::Status GraphCorrupt(const std::string& path, const std::string& what) {
  return absl::DataLossError(absl::StrCat(path, ": head index is corrupt: ", what));
}

// After the elements' level-0 blocks, hnswlib's file holds per element a
// u32 byte count and then that many bytes of upper-level link lists, one
// block of max_m links plus a count per level. loadIndex takes the level as
// count / block size and mallocs count bytes, freed only for levels above 0:
// a count that is not a whole number of blocks (or below one block) leaks
// and is nothing our writer makes. The walk must also end at the file's
// end, as hnswlib's own check requires.
absl::Status CheckLinkListSizes(const RandomAccessFile& file, const std::string& path,
                                const GraphHeader& h, uint64_t file_bytes) {
  const uint64_t start = sizeof(h) + h.cur_element_count * h.size_data_per_element;
  std::string tail(file_bytes - start, '\0');
  CAIRN_RETURN_IF_ERROR(file.Read(start, tail.size(), tail.data()));
  const uint64_t block = h.max_m * sizeof(uint32_t) + sizeof(uint32_t);
  uint64_t pos = 0;
  for (uint64_t i = 0; i < h.cur_element_count; ++i) {
    uint32_t bytes = 0;
    if (tail.size() - pos < sizeof(bytes)) {
      return GraphCorrupt(path, absl::StrCat("the link lists end before element ", i));
    }
    std::memcpy(&bytes, tail.data() + pos, sizeof(bytes));
    pos += sizeof(bytes);
    if (bytes % block != 0 || bytes / block > static_cast<uint64_t>(h.max_level) ||
        tail.size() - pos < bytes) {
      return GraphCorrupt(path, absl::StrCat("element ", i, " has ", bytes,
                                             " bytes of upper-level links (blocks of ", block,
                                             " bytes, top level ", h.max_level, ")"));
    }
    pos += bytes;
  }
  if (pos != tail.size()) {
    return GraphCorrupt(path, absl::StrCat(tail.size() - pos, " bytes after the link lists"));
  }
  return absl::OkStatus();
}

// Reads the header through the Env (so that a read error is a Status naming
// the file) and checks it against the layout hnswlib derives for `dim`
// floats, and the sizes against the file.
absl::Status CheckGraphHeader(Env* env, const std::string& path, uint32_t dim) {
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<RandomAccessFile> file, env->NewRandomAccessFile(path));
  CAIRN_ASSIGN_OR_RETURN(const uint64_t file_bytes, env->FileSize(path));
  GraphHeader h;
  if (file_bytes < sizeof(h)) {
    return absl::DataLossError(
        absl::StrCat(path, ": head index of ", file_bytes, " bytes is shorter than its header"));
  }
  CAIRN_RETURN_IF_ERROR(file->Read(0, sizeof(h), &h));
  const uint64_t links0 = h.max_m0 * sizeof(uint32_t) + sizeof(uint32_t);
  if (h.offset_level0 != 0 || h.max_m == 0 || h.max_m > kMaxGraphM || h.max_m0 == 0 ||
      h.max_m0 > 2 * kMaxGraphM || h.offset_data != links0 ||
      h.label_offset != links0 + uint64_t{dim} * sizeof(float) ||
      h.size_data_per_element != h.label_offset + sizeof(size_t)) {
    return GraphCorrupt(path, absl::StrCat("element layout (M ", h.max_m, "/", h.max_m0, ", ",
                                           h.size_data_per_element,
                                           " bytes per element) is not that of dimension ", dim));
  }
  const uint64_t room = file_bytes - sizeof(h);
  if (h.cur_element_count > h.max_elements || h.cur_element_count > UINT32_MAX ||
      h.cur_element_count > room / h.size_data_per_element ||
      h.max_elements > std::max<uint64_t>(1024, 2 * h.cur_element_count)) {
    return GraphCorrupt(path, absl::StrCat(h.cur_element_count, " heads of capacity ",
                                           h.max_elements, " in ", file_bytes, " bytes"));
  }
  const bool empty = h.cur_element_count == 0;
  if (!(h.mult > 0 && h.mult < 1e6) || h.ef_construction > (1u << 20) ||
      h.max_level > kMaxGraphLevel ||
      (!empty && (h.max_level < 0 || h.enter_point >= h.cur_element_count))) {
    return GraphCorrupt(path, absl::StrCat("entry point ", h.enter_point, " at level ", h.max_level,
                                           ", mult ", h.mult));
  }
  return CheckLinkListSizes(*file, path, h, file_bytes);
}

// One link list: at most `max_links` links (hnswlib keeps the count in the
// low 16 bits), each to an element of at least `level`. The unused slots
// after them must name elements too: hnswlib's search prefetches the slot
// after the last link (pointer arithmetic on a garbage id is undefined), and
// our writer leaves them zero or holding an earlier, valid link.
bool LinksValid(const hnswlib::HierarchicalNSW<float>& g, uint32_t* list, size_t max_links,
                int level) {
  const size_t n = g.getListCount(list);
  if (n > max_links) return false;
  for (size_t k = 1; k <= max_links; ++k) {
    const uint32_t to = list[k];
    if (to >= g.cur_element_count || (k <= n && g.element_levels_[to] < level)) return false;
  }
  return true;
}

// After hnswlib's load: every link names an element that exists at the
// link's level (a search follows them unchecked), no element is above the
// top level, and the entry point is at the top.
absl::Status CheckLoadedGraph(const hnswlib::HierarchicalNSW<float>& g, const std::string& path) {
  for (size_t i = 0; i < g.cur_element_count; ++i) {
    const int top = g.element_levels_[i];
    if (top > g.maxlevel_) {
      return GraphCorrupt(path, absl::StrCat("element ", i, " is at level ", top,
                                             " above the top level ", g.maxlevel_));
    }
    bool ok = LinksValid(g, g.get_linklist0(i), g.maxM0_, 0);
    for (int level = 1; ok && level <= top; ++level) {
      ok = LinksValid(g, g.get_linklist(i, level), g.maxM_, level);
    }
    if (!ok) return GraphCorrupt(path, absl::StrCat("element ", i, " has a bad link list"));
  }
  if (g.cur_element_count > 0 && g.element_levels_[g.enterpoint_node_] != g.maxlevel_) {
    return GraphCorrupt(path, "the entry point is not at the top level");
  }
  return absl::OkStatus();
}

}  // namespace

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

absl::StatusOr<std::unique_ptr<HeadIndex>> HeadIndex::CreateEmpty(uint32_t dim, Metric metric,
                                                                  const HeadIndexOptions& options) {
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

absl::Status HeadIndex::Save(const std::string& path, Env* env) const {
  try {
    impl_->hnsw->saveIndex(path);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(path, ": cannot save head index: ", e.what()));
  }
  // hnswlib writes through an unsynced ofstream; the caller renames the file
  // into place, so make its bytes durable first (write, fsync, rename).
  // Opening for append changes nothing and gives a handle to sync.
  CAIRN_ASSIGN_OR_RETURN(std::unique_ptr<WritableFile> file, env->NewAppendableFile(path));
  CAIRN_RETURN_IF_ERROR(file->Sync());
  return file->Close();
}

absl::StatusOr<std::unique_ptr<HeadIndex>> HeadIndex::Load(const std::string& path, uint32_t dim,
                                                           Metric metric, Env* env) {
  CAIRN_RETURN_IF_ERROR(CheckGraphHeader(env, path, dim));
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
  // hnswlib's loading constructor leaves num_deleted_ uninitialised and
  // loadIndex only adds to it, so it holds heap garbage plus the deleted
  // count. Count the deletion marks ourselves and repair it: a garbage count
  // made an empty graph look non-empty (its first head was never added, and
  // every vector flushed after a crash went nowhere) and live_count()
  // underflow.
  auto* h = index->impl_->hnsw.get();
  CAIRN_RETURN_IF_ERROR(CheckLoadedGraph(*h, path));
  size_t deleted = 0;
  for (size_t i = 0; i < h->cur_element_count; ++i) deleted += h->isMarkedDeleted(i);
  h->num_deleted_ = deleted;
  index->count_ = static_cast<uint32_t>(h->cur_element_count);
  index->removed_ = static_cast<uint32_t>(deleted);
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
  bytes += h->max_elements_ * (sizeof(int) + sizeof(void*) +
                               sizeof(std::mutex));  // levels, upper-link pointers, per-node locks
  bytes +=
      h->max_elements_ * (sizeof(hnswlib::labeltype) + sizeof(hnswlib::tableint)) * 2;  // label map
  return bytes;
}

}  // namespace cairn
