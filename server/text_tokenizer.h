// The tokenizer of full-text payload indexes (Qdrant's "text" field
// schema): one definition shared by the index, which stores a field's
// tokens, and the filter, which matches `match.text` / `text_any` /
// `phrase` against them, so that both always agree.
//
// Supported (Qdrant's names): tokenizer "word" (default: a token is a run of
// ASCII letters and digits or of non-ASCII UTF-8 bytes; everything else
// separates) and "whitespace" (a token is a run of non-whitespace);
// lowercase (default true: ASCII letters only, other scripts keep their
// case); min_token_len and max_token_len in code points (tokens outside are
// dropped); phrase_matching (accepted: phrase matches always work, by
// re-tokenising the payload). "prefix" and "multilingual" tokenizers,
// stopwords, stemmers and ascii_folding are refused by
// ParseTextIndexParams.
//
// Thread-safety: pure functions.
#ifndef CAIRN_SERVER_TEXT_TOKENIZER_H_
#define CAIRN_SERVER_TEXT_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace cairn {

struct TextIndexParams {
  enum class Tokenizer { kWord, kWhitespace };
  Tokenizer tokenizer = Tokenizer::kWord;
  bool lowercase = true;
  uint32_t min_token_len = 0;  // 0: no bound
  uint32_t max_token_len = 0;  // 0: no bound
  bool phrase_matching = false;

  friend bool operator==(const TextIndexParams&, const TextIndexParams&) = default;
};

// The tokens of `text` in order (repeats kept: phrases need positions).
std::vector<std::string> Tokenize(std::string_view text, const TextIndexParams& params);

// The fields of a {"type": "text", ...} schema object (InvalidArgument
// naming the field for anything unsupported), and back.
absl::StatusOr<TextIndexParams> ParseTextIndexParams(const nlohmann::json& schema,
                                                     const std::string& where);
nlohmann::json TextIndexParamsJson(const TextIndexParams& params);

}  // namespace cairn

#endif  // CAIRN_SERVER_TEXT_TOKENIZER_H_
