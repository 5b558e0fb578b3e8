// UTF-8 validation for text that arrives from outside (request bodies, URL
// path segments) before the JSON library or a payload store sees it: the
// JSON parser lets raw invalid bytes through inside strings and only its
// serializer throws, so an unchecked byte 0xFF turned into a 500 long after
// the request was accepted.
#ifndef CAIRN_COMMON_UTF8_H_
#define CAIRN_COMMON_UTF8_H_

#include <cstddef>
#include <optional>
#include <string_view>

namespace cairn {

// The offset of the first byte that does not belong to a well-formed UTF-8
// sequence (RFC 3629: no overlong forms, no surrogates U+D800..U+DFFF,
// nothing above U+10FFFF), or nullopt when all of `text` is valid.
std::optional<size_t> FirstInvalidUtf8(std::string_view text);

}  // namespace cairn

#endif  // CAIRN_COMMON_UTF8_H_
