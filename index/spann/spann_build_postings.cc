// Stage 4 of the bulk build: the posting-size limit, then the postings
// written in head order in as many passes over the input as the memory
// budget requires.
#include <cmath>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/progress.h"
#include "common/status_macros.h"
#include "index/spann/page_order.h"
#include "index/spann/spann_build_stages.h"
#include "index/spann/spann_files.h"
#include "storage/posting_file.h"

namespace cairn {
namespace {

// Most entries in a posting: the option, or 4 x the mean leaf size x R.
uint32_t PostingLimit(const BuildInput& in, uint32_t num_heads) {
  const SpannBuildOptions& o = *in.options;
  return o.posting_limit > 0
             ? o.posting_limit
             : static_cast<uint32_t>(std::ceil(4.0 * in.n / num_heads * o.replicas));
}

// Drops the farthest replicas of each posting over `limit`, but never a
// vector's last copy. `sizes` gets the entries per head that remain.
// Returns the entries dropped.
uint64_t EnforcePostingLimit(uint64_t n, uint32_t num_heads, uint32_t limit, Assignment* a,
                             std::vector<uint32_t>* sizes) {
  const uint32_t R = a->replicas;
  std::vector<uint32_t> copies(n, 0);
  sizes->assign(num_heads, 0);
  for (uint64_t i = 0; i < n * R; ++i) {
    if (a->head[i] != kNoHead) {
      ++copies[i / R];
      ++(*sizes)[a->head[i]];
    }
  }
  std::vector<std::vector<uint64_t>> over(num_heads);
  for (uint64_t i = 0; i < n * R; ++i) {
    if (a->head[i] != kNoHead && (*sizes)[a->head[i]] > limit) over[a->head[i]].push_back(i);
  }
  const std::vector<float>& dist = a->distance;
  uint64_t dropped = 0;
  for (uint32_t h = 0; h < num_heads; ++h) {
    auto& slots = over[h];
    if (slots.empty()) continue;
    std::sort(slots.begin(), slots.end(), [&](uint64_t x, uint64_t y) {
      return dist[x] > dist[y] || (dist[x] == dist[y] && x > y);
    });
    for (uint64_t slot : slots) {
      if ((*sizes)[h] <= limit) break;
      if (copies[slot / R] <= 1) continue;
      a->head[slot] = kNoHead;
      --copies[slot / R];
      --(*sizes)[h];
      ++dropped;
    }
  }
  return dropped;
}

// The members of every head (CSR): head h's are rows[start[h], start[h+1]),
// ascending, with their distances to the head.
struct HeadMembers {
  std::vector<uint64_t> start;
  std::vector<uint32_t> rows;
  std::vector<float> distance;
};

HeadMembers GroupByHead(const Assignment& a, const std::vector<uint32_t>& sizes) {
  const uint32_t num_heads = static_cast<uint32_t>(sizes.size());
  const uint32_t R = a.replicas;
  HeadMembers m;
  m.start.assign(num_heads + 1, 0);
  for (uint32_t h = 0; h < num_heads; ++h) m.start[h + 1] = m.start[h] + sizes[h];
  m.rows.resize(m.start[num_heads]);
  m.distance.resize(m.start[num_heads]);
  std::vector<uint64_t> fill(m.start.begin(), m.start.end() - 1);
  for (uint64_t i = 0; i < a.head.size(); ++i) {
    const uint32_t h = a.head[i];
    if (h == kNoHead) continue;
    m.rows[fill[h]] = static_cast<uint32_t>(i / R);
    m.distance[fill[h]++] = a.distance[i];
  }
  return m;
}

// Reads the vectors of member slots [first, first + count) into `vecs` in
// slot order, in one pass over the input in row order.
absl::Status GatherVectors(const BuildInput& in, const HeadMembers& members, uint64_t first,
                           uint64_t count, std::vector<float>* vecs) {
  const uint32_t dim = in.dim;
  vecs->resize(count * dim);
  std::vector<std::pair<uint32_t, uint64_t>> want(count);  // (row, slot), sorted by row
  for (uint64_t s = 0; s < count; ++s) want[s] = {members.rows[first + s], s};
  std::sort(want.begin(), want.end());
  std::vector<float> chunk(kBuildChunkRows * dim);
  size_t w = 0;
  for (uint64_t b = 0; b < in.n && w < want.size(); b += kBuildChunkRows) {
    const size_t rows = static_cast<size_t>(std::min(kBuildChunkRows, in.n - b));
    if (want[w].first >= b + rows) continue;
    CAIRN_RETURN_IF_ERROR(ReadRows(in.reader, b, rows, in.metric, chunk.data()));
    while (w < want.size() && want[w].first < b + rows) {
      std::memcpy(vecs->data() + want[w].second * dim, chunk.data() + (want[w].first - b) * dim,
                  dim * 4);
      ++w;
    }
  }
  return absl::OkStatus();
}

// Turns one head's vectors into a posting payload; owns the scratch buffers
// reused across postings.
class PostingEncoder {
 public:
  PostingEncoder(const BuildInput& in, const PostingsInput& p)
      : in_(in), p_(p), entry_bytes_(p.codes != nullptr ? p.codes->entry_bytes() : 0) {}

  // vectors: count x dim floats of the members `ids` of head h.
  absl::Status Encode(uint32_t h, uint32_t count, const float* vectors, const uint32_t* ids) {
    const uint32_t dim = in_.dim;
    versions_.assign(count, 0);
    if (p_.codes != nullptr) ReorderForPages(count, &vectors, &ids);
    CAIRN_ASSIGN_OR_RETURN(const uint8_t* raw, Narrow(count, vectors, ids));
    if (p_.codes == nullptr) {
      EncodePosting(dim, p_.stored, ids, versions_.data(), raw, count, &payload_);
      return absl::OkStatus();
    }
    codes_.resize(uint64_t{count} * entry_bytes_);
    const float* head = p_.heads->head(h);
    ParallelRows(in_.threads, count, [&](size_t i) {
      p_.codes->Encode(vectors + i * dim, head, codes_.data() + i * entry_bytes_);
    });
    EncodeCodedPosting(dim, p_.stored, entry_bytes_, kPostingFrameHeaderBytes, ids,
                       versions_.data(), codes_.data(), raw, count, &payload_);
    return absl::OkStatus();
  }

  const std::vector<uint8_t>& payload() const { return payload_; }

 private:
  // The two-step search reads vector pages, so neighbours should share
  // pages: reorders *vectors and *ids by page locality (into scratch).
  void ReorderForPages(uint32_t count, const float** vectors, const uint32_t** ids) {
    const uint32_t dim = in_.dim;
    const CodedLayout layout =
        ComputeCodedLayout(count, dim, p_.stored, entry_bytes_, kPostingFrameHeaderBytes);
    const std::vector<uint32_t> order =
        PageLocalityOrder(*vectors, count, dim, layout.vectors_per_page);
    ordered_vecs_.resize(uint64_t{count} * dim);
    ordered_ids_.resize(count);
    for (uint32_t i = 0; i < count; ++i) {
      std::memcpy(ordered_vecs_.data() + uint64_t{i} * dim, *vectors + uint64_t{order[i]} * dim,
                  dim * 4);
      ordered_ids_[i] = (*ids)[order[i]];
    }
    *vectors = ordered_vecs_.data();
    *ids = ordered_ids_.data();
  }

  // The vectors as the stored type's bytes; InvalidArgument for a value the
  // type cannot hold exactly.
  absl::StatusOr<const uint8_t*> Narrow(uint32_t count, const float* fv, const uint32_t* ids) {
    if (p_.stored == StoredType::kFloat32) return reinterpret_cast<const uint8_t*>(fv);
    const bool u8 = p_.stored == StoredType::kUInt8;
    const uint64_t values = uint64_t{count} * in_.dim;
    narrow_.resize(values);
    const float lo = u8 ? 0.0f : -128.0f;
    const float hi = u8 ? 255.0f : 127.0f;
    for (uint64_t i = 0; i < values; ++i) {
      if (fv[i] != std::nearbyint(fv[i]) || fv[i] < lo || fv[i] > hi) {
        return absl::InvalidArgumentError(absl::StrCat(
            in_.input_path, ": value ", fv[i], " of vector ", ids[i / in_.dim],
            " does not fit stored type ", StoredTypeName(p_.stored)));
      }
      narrow_[i] = u8 ? static_cast<uint8_t>(fv[i])
                      : static_cast<uint8_t>(static_cast<int8_t>(fv[i]));
    }
    return narrow_.data();
  }

  const BuildInput& in_;
  const PostingsInput& p_;
  const uint32_t entry_bytes_;
  std::vector<uint8_t> payload_, versions_, narrow_, codes_;
  std::vector<float> ordered_vecs_;
  std::vector<uint32_t> ordered_ids_;
};

PostingUserHeader UserHeader(uint32_t dim, StoredType stored, Metric metric) {
  PostingUserHeader user{};
  const uint32_t type = static_cast<uint32_t>(stored);
  const uint32_t metric_id = static_cast<uint32_t>(metric);
  std::memcpy(user.data(), &dim, 4);
  std::memcpy(user.data() + 4, &type, 4);
  std::memcpy(user.data() + 8, &metric_id, 4);
  return user;
}

}  // namespace

absl::StatusOr<uint64_t> WritePostings(const BuildInput& in, const PostingsInput& p,
                                       Assignment* assignment) {
  const uint32_t dim = in.dim, num_heads = p.num_heads;
  const uint32_t limit = PostingLimit(in, num_heads);
  std::vector<uint32_t> sizes;
  const uint64_t dropped = EnforcePostingLimit(in.n, num_heads, limit, assignment, &sizes);
  const HeadMembers members = GroupByHead(*assignment, sizes);
  CAIRN_ASSIGN_OR_RETURN(auto writer,
                         PostingFileWriter::Create(in.env, in.Path(kPostingsFile),
                                                   UserHeader(dim, p.stored, in.metric)));
  std::vector<DirectoryEntry> directory(num_heads);
  // Passes over head ranges whose vectors fit half the budget.
  const uint64_t pass_bytes =
      std::max<uint64_t>(in.budget_bytes / 2, uint64_t{dim} * 4 * (limit + 1));
  Progress progress("postings", num_heads, "postings", in.options->progress);
  PostingEncoder encoder(in, p);
  std::vector<float> vecs;
  for (uint32_t h0 = 0, h1 = 0; h0 < num_heads; h0 = h1) {
    uint64_t bytes = 0;
    while (h1 < num_heads && (h1 == h0 || bytes + uint64_t{sizes[h1]} * dim * 4 <= pass_bytes)) {
      bytes += uint64_t{sizes[h1]} * dim * 4;
      ++h1;
    }
    const uint64_t first = members.start[h0];
    CAIRN_RETURN_IF_ERROR(GatherVectors(in, members, first, members.start[h1] - first, &vecs));
    for (uint32_t h = h0; h < h1; ++h) {
      const uint64_t begin = members.start[h], end = members.start[h + 1];
      CAIRN_RETURN_IF_ERROR(encoder.Encode(h, sizes[h], vecs.data() + (begin - first) * dim,
                                           members.rows.data() + begin));
      const std::vector<uint8_t>& payload = encoder.payload();
      CAIRN_ASSIGN_OR_RETURN(PostingLocation loc,
                             writer->Append(payload.data(), static_cast<uint32_t>(payload.size())));
      float radius = 0;
      for (uint64_t s = begin; s < end; ++s) radius = std::max(radius, members.distance[s]);
      directory[h] = {loc.offset, loc.bytes, sizes[h], radius, 0};
      progress.Add(1);
    }
  }
  progress.Finish();
  CAIRN_RETURN_IF_ERROR(writer->Finish());
  CAIRN_RETURN_IF_ERROR(WriteDirectory(in.env, in.Path(kDirectoryFile), directory));
  return dropped;
}

}  // namespace cairn
