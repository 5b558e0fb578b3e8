// Code model files (index/codes/, CodeModel::Deserialize; index/spann
// ReadCodeModel for codes.model), then the model at work: a model that
// loads must encode, prepare a query and estimate without reading out of
// bounds. The first byte picks the path: 0 the body alone, 1 the body in a
// valid record file, 2 the raw file.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "index/codes/code_model.h"
#include "index/spann/spann_files.h"
#include "storage/record_file.h"

namespace {

void Exercise(const cairn::CodeModel& model) {
  // Large models are legal; exercising them per execution is not affordable.
  if (model.dim() == 0 || model.dim() > 512 || model.entry_bytes() > (1u << 16)) return;
  (void)model.Describe();
  (void)model.ram_bytes();
  std::vector<float> x(model.dim()), head(model.dim(), 0.25f);
  for (uint32_t i = 0; i < model.dim(); ++i) x[i] = 0.5f - 0.1f * (i % 7);
  std::vector<uint8_t> entries(size_t{model.entry_bytes()} * 2);
  model.Encode(x.data(), head.data(), entries.data());
  model.Encode(head.data(), x.data(), entries.data() + model.entry_bytes());
  cairn::CodeQuery q;
  model.PrepareQuery(x.data(), &q);
  float est[2], err[2];
  model.EstimatePosting(q, cairn::PostingQueryTerms{1.0f, 0.5f}, entries.data(), 2, est, err);
  std::string out;
  model.Serialize(&out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view body = cairn::fuzz::Rest(data, size);
  absl::StatusOr<std::unique_ptr<cairn::CodeModel>> model;
  switch (data[0] % 3) {
    case 0:
      model = cairn::CodeModel::Deserialize(
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(body.data()), body.size()),
          "fuzz");
      break;
    case 1: {
      const std::string path = cairn::fuzz::ScratchDir() + "/codes.model";
      if (!cairn::WriteRecordFile(cairn::Env::Default(), path, cairn::kCodeModelMagic,
                                  cairn::kCodeModelVersion, std::string(body))
               .ok()) {
        __builtin_trap();
      }
      model = cairn::ReadCodeModel(cairn::Env::Default(), path);
      break;
    }
    default:
      model = cairn::ReadCodeModel(cairn::Env::Default(),
                                   cairn::fuzz::WriteScratch("codes.model", body));
  }
  if (model.ok()) Exercise(**model);
  return 0;
}
