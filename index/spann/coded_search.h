// The two-step read of coded postings (payload version 2):
//
//   1. one batch reads the code section of every chosen posting (its first
//      head_pages pages); each is verified by its own checksum and every
//      live entry is estimated from its code. Of an id's replicas the copy
//      in the nearest posting is kept (not the first to arrive, so results
//      do not depend on completion order);
//   2. tau = the k-th smallest upper bound (estimate + error bound) over all
//      estimated entries. An entry whose lower bound exceeds tau cannot be in
//      the top k (with the bound's confidence), so a second batch reads only
//      the vector pages holding entries with lower bound <= tau (adjacent
//      pages of one posting merged into one read), verifies each page's
//      checksum and scores those entries exactly.
//
// With `rerank_top > 0` step 2 instead reranks the rerank_top best entries by
// estimate, ignoring the bound (for families whose bound is loose, and for
// sweeps). bound_scale multiplies every error bound (1 = the model's).
// merge_gap: candidate pages of one posting at most this many pages apart
// are read as one request (the pages between are read too): fewer requests
// for more bytes.
//
// Thread-safety: all state is per query (CodedScratch is owned by one
// search context).
#ifndef CAIRN_INDEX_SPANN_CODED_SEARCH_H_
#define CAIRN_INDEX_SPANN_CODED_SEARCH_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "common/aligned_buffer.h"
#include "index/codes/code_model.h"
#include "kernels/metric.h"
#include "index/spann/posting_format.h"
#include "index/spann/posting_scan.h"
#include "index/spann/search_types.h"
#include "storage/block_reader.h"

namespace cairn {

// One posting chosen by the head search.
struct CodedTarget {
  uint64_t offset = 0;        // record offset in the posting file
  uint32_t record_bytes = 0;  // whole record
  uint32_t head_pages = 0;    // pages of frame + code section
  PostingQueryTerms terms;    // query-to-head terms from the head search
  // Read whole in step 1 and scored exactly (the nearest postings, which
  // hold most of the top k: saves the requests of their candidate pages).
  bool whole = false;
};

struct CodedScratch {
  AlignedBuffer head_buffer{kDirectIoAlignment};
  AlignedBuffer page_buffer{kDirectIoAlignment};
  std::vector<ReadRequest> requests;
  std::vector<PostingView> heads;
  std::vector<float> est, err;
  struct Candidate {
    float lower, upper, estimate;  // all three the exact distance if `exact`
    uint32_t id;
    uint32_t posting;
    uint32_t entry;
    bool exact;  // from a posting read whole
  };
  std::vector<Candidate> candidates;
  absl::flat_hash_map<uint32_t, uint32_t> by_id;  // id -> its copy in candidates
  struct Run {
    uint32_t posting, first_page, pages;
    size_t cand_begin, cand_end;  // candidates of that posting, sorted by entry
  };
  std::vector<Run> runs;
  std::vector<uint32_t> pages;
  CodeQuery query;
};

struct CodedShape {
  const std::string* path = nullptr;  // for errors
  uint32_t dim = 0;
  StoredType stored = StoredType::kFloat32;
  Metric metric = Metric::kL2;
  const CodeModel* model = nullptr;
};

using LiveEntryFn = absl::FunctionRef<bool(uint32_t id, uint8_t version)>;

// How one query ranks its candidates (see the top of this file).
struct CodedSearchParams {
  uint32_t k = 10;
  uint32_t rerank_top = 0;  // 0: rerank by the error bound
  float bound_scale = 1.0f;
  uint32_t merge_gap = 0;  // pages
};

// The caller's per-query state: where reads go and where results and
// counters accumulate. All owned by one search context.
struct CodedQueryState {
  BlockReader* reader = nullptr;
  CodedScratch* scratch = nullptr;
  VisitedSet* visited = nullptr;         // every id estimated or scored is inserted
  std::vector<Neighbor>* heap = nullptr;  // top-k max-heap (posting_scan.h)
  SearchStats* stats = nullptr;
};

// q: the prepared query (normalised for cosine). Results go into
// state.heap; `live` says whether an entry (id, version) still counts. Every
// submitted read is drained even after an error.
absl::Status SearchCodedPostings(const CodedShape& shape, const CodedSearchParams& params,
                                 const float* q, const std::vector<CodedTarget>& targets,
                                 const CodedQueryState& state, LiveEntryFn live);

// Query-to-head terms from a head-search distance (metric.h convention).
PostingQueryTerms TermsFromHeadDistance(Metric metric, float head_distance);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_CODED_SEARCH_H_
