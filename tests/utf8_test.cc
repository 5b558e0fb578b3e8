#include "common/utf8.h"

#include <string>

#include "gtest/gtest.h"

namespace cairn {
namespace {

TEST(Utf8Test, AcceptsWellFormedText) {
  EXPECT_EQ(FirstInvalidUtf8(""), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("plain ascii {\"a\": 1}"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"), std::nullopt);
  EXPECT_EQ(FirstInvalidUtf8("\xED\x9F\xBF"), std::nullopt);       // U+D7FF, below surrogates
  EXPECT_EQ(FirstInvalidUtf8("\xF4\x8F\xBF\xBF"), std::nullopt);   // U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8(std::string("a\0b", 3)), std::nullopt);  // NUL is valid UTF-8
}

TEST(Utf8Test, FindsTheFirstBadByte) {
  EXPECT_EQ(FirstInvalidUtf8("ab\xFF" "cd"), 2u);
  EXPECT_EQ(FirstInvalidUtf8("\x80"), 0u);              // lone continuation byte
  EXPECT_EQ(FirstInvalidUtf8("\xC0\xAF"), 0u);          // overlong '/'
  EXPECT_EQ(FirstInvalidUtf8("\xC1\xBF"), 0u);          // overlong
  EXPECT_EQ(FirstInvalidUtf8("\xE0\x80\xAF"), 0u);      // overlong 3-byte
  EXPECT_EQ(FirstInvalidUtf8("\xF0\x80\x80\xAF"), 0u);  // overlong 4-byte
  EXPECT_EQ(FirstInvalidUtf8("x\xED\xA0\x80"), 1u);     // U+D800, a surrogate
  EXPECT_EQ(FirstInvalidUtf8("\xF4\x90\x80\x80"), 0u);  // above U+10FFFF
  EXPECT_EQ(FirstInvalidUtf8("\xF5\x80\x80\x80"), 0u);
  EXPECT_EQ(FirstInvalidUtf8("ok\xC3"), 2u);            // truncated at the end
  EXPECT_EQ(FirstInvalidUtf8("\xE2\x82"), 0u);
  EXPECT_EQ(FirstInvalidUtf8("\xE2\x28\xA1"), 0u);      // bad continuation
  EXPECT_EQ(FirstInvalidUtf8("\xC3\xA9\xC3"), 2u);
}

}  // namespace
}  // namespace cairn
