// Manifests: the SPANN index manifest (index/spann/spann_files.cc,
// ReadManifest: record file "CAIRNMAN" holding JSON) and a data set's
// dataset.json (datasets/dataset_manifest.cc). The first byte picks: 0 the
// raw manifest file, 1 its body in a valid record file (version 1 or 2 from
// bit 2), 2 dataset.json.
#include <cstddef>
#include <cstdint>
#include <string>

#include "datasets/dataset_manifest.h"
#include "fuzz/fuzz_support.h"
#include "index/spann/spann_files.h"
#include "storage/record_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body = cairn::fuzz::Rest(data, size);
  const std::string& dir = cairn::fuzz::ScratchDir();
  cairn::Env* env = cairn::Env::Default();
  switch (data[0] % 3) {
    case 0:
      cairn::fuzz::WriteScratch("manifest", body);
      (void)cairn::ReadManifest(env, dir);
      break;
    case 1: {
      const uint32_t version = (data[0] & 4) ? 2 : 1;
      if (!cairn::WriteRecordFile(env, dir + "/manifest", cairn::kManifestMagic, version,
                                  std::string(body))
               .ok()) {
        __builtin_trap();
      }
      absl::StatusOr<cairn::IndexManifest> m = cairn::ReadManifest(env, dir);
      if (m.ok()) (void)m->files.dump();
      break;
    }
    default:
      cairn::fuzz::WriteScratch("dataset.json", body);
      (void)cairn::ReadDatasetManifest(dir);
  }
  return 0;
}
