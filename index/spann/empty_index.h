// An index directory with no vectors yet: what a collection created over the
// API starts from. Same files and formats as a bulk build (manifest, head
// graph, directory, posting file), with zero heads; LiveIndex::Open takes it
// like any other, and its first flush makes the first head.
#ifndef CAIRN_INDEX_SPANN_EMPTY_INDEX_H_
#define CAIRN_INDEX_SPANN_EMPTY_INDEX_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "kernels/metric.h"
#include "index/spann/posting_format.h"
#include "index/spann/spann_builder.h"
#include "storage/env.h"

namespace cairn {

// Creates `dir` (which must not hold an index yet) as an empty index. The
// build options' metric, stored type, replicas, candidates and graph
// parameters become the index's; the manifest is written last, so a crash
// leaves no half index that Open would accept.
absl::Status CreateEmptyIndex(Env* env, const std::string& dir, uint32_t dim,
                              StoredType stored_type, const SpannBuildOptions& options);

}  // namespace cairn

#endif  // CAIRN_INDEX_SPANN_EMPTY_INDEX_H_
