#include "server/text_tokenizer.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace cairn {

namespace {

bool IsWordByte(unsigned char c) { return c >= 0x80 || absl::ascii_isalnum(c); }

bool IsSpaceByte(unsigned char c) { return absl::ascii_isspace(c); }

uint32_t CodePoints(std::string_view s) {
  uint32_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

std::vector<std::string> Tokenize(std::string_view text, const TextIndexParams& params) {
  std::vector<std::string> out;
  const bool word = params.tokenizer == TextIndexParams::Tokenizer::kWord;
  size_t i = 0;
  while (i < text.size()) {
    auto inside = [&](unsigned char c) { return word ? IsWordByte(c) : !IsSpaceByte(c); };
    while (i < text.size() && !inside(static_cast<unsigned char>(text[i]))) ++i;
    const size_t start = i;
    while (i < text.size() && inside(static_cast<unsigned char>(text[i]))) ++i;
    if (i == start) break;
    std::string token(text.substr(start, i - start));
    const uint32_t len = CodePoints(token);
    if ((params.min_token_len > 0 && len < params.min_token_len) ||
        (params.max_token_len > 0 && len > params.max_token_len)) {
      continue;
    }
    if (params.lowercase) absl::AsciiStrToLower(&token);
    out.push_back(std::move(token));
  }
  return out;
}

absl::StatusOr<TextIndexParams> ParseTextIndexParams(const nlohmann::json& schema,
                                                     const std::string& where) {
  TextIndexParams p;
  for (const auto& [key, value] : schema.items()) {
    const std::string at = absl::StrCat(where, ".", key);
    if (key == "type" || value.is_null()) continue;
    if (key == "tokenizer") {
      if (value == "word") {
        p.tokenizer = TextIndexParams::Tokenizer::kWord;
      } else if (value == "whitespace") {
        p.tokenizer = TextIndexParams::Tokenizer::kWhitespace;
      } else {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ": ", value.dump(), " is not supported (word or whitespace)"));
      }
    } else if (key == "lowercase" || key == "phrase_matching") {
      if (!value.is_boolean()) return absl::InvalidArgumentError(at + ": expected a boolean");
      (key == "lowercase" ? p.lowercase : p.phrase_matching) = value.get<bool>();
    } else if (key == "min_token_len" || key == "max_token_len") {
      if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > 1000) {
        return absl::InvalidArgumentError(at + ": expected an integer in [0, 1000]");
      }
      (key == "min_token_len" ? p.min_token_len : p.max_token_len) = value.get<uint32_t>();
    } else if (key == "on_disk") {
      if (!value.is_boolean()) return absl::InvalidArgumentError(at + ": expected a boolean");
    } else {
      // stopwords, stemmer, ascii_folding, ...: a different token set than
      // asked for would match other documents; refuse rather than ignore.
      return absl::InvalidArgumentError(absl::StrCat(at, " is not supported"));
    }
  }
  if (p.min_token_len > 0 && p.max_token_len > 0 && p.min_token_len > p.max_token_len) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": min_token_len > max_token_len"));
  }
  return p;
}

nlohmann::json TextIndexParamsJson(const TextIndexParams& p) {
  nlohmann::json j = {
      {"type", "text"},
      {"tokenizer", p.tokenizer == TextIndexParams::Tokenizer::kWord ? "word" : "whitespace"},
      {"lowercase", p.lowercase},
      {"phrase_matching", p.phrase_matching}};
  if (p.min_token_len > 0) j["min_token_len"] = p.min_token_len;
  if (p.max_token_len > 0) j["max_token_len"] = p.max_token_len;
  return j;
}

}  // namespace cairn
