// Texts read from files (data/text/text_decode.h): UTF-8, Latin-1 and auto decoding, invalid bytes
// as errors naming the file and byte offset or replaced, and `mmfuse data check` on such a
// manifest.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/data/text/text_decode.h"
#include "test_util.h"

namespace mmfuse::data {
namespace {

using ::mmfuse::testing::run_mmfuse;
using ::mmfuse::testing::TempDir;
using ::testing::HasSubstr;

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// "café" in Latin-1 (é = 0xE9) and in UTF-8 (é = 0xC3 0xA9).
const std::string kLatin1 = "caf\xE9 #mvsa";
const std::string kUtf8 = "caf\xC3\xA9 #mvsa";

TEST(TextFiles, DecodesUtf8Latin1AndAuto) {
  const auto auto_utf8 = decode_text(kUtf8, TextEncoding::automatic, InvalidBytes::error, "f");
  EXPECT_EQ(auto_utf8.text, kUtf8);
  EXPECT_FALSE(auto_utf8.fallback);
  const auto auto_latin1 = decode_text(kLatin1, TextEncoding::automatic, InvalidBytes::error, "f");
  EXPECT_EQ(auto_latin1.text, kUtf8);  // 0xE9 read as U+00E9
  EXPECT_TRUE(auto_latin1.fallback);
  EXPECT_EQ(decode_text(kLatin1, TextEncoding::latin1, InvalidBytes::error, "f").text, kUtf8);
  // The byte-order mark is dropped.
  EXPECT_EQ(decode_text("\xEF\xBB\xBF" + kUtf8, TextEncoding::utf8, InvalidBytes::error, "f").text,
            kUtf8);
  // replace: the one invalid byte becomes U+FFFD (EF BF BD).
  EXPECT_EQ(decode_text(kLatin1, TextEncoding::utf8, InvalidBytes::replace, "f").text,
            "caf\xEF\xBF\xBD #mvsa");
  EXPECT_THROW(text_encoding_from_string("cp1252"), InputError);
}

TEST(TextFiles, InvalidUtf8IsAnErrorNamingFileAndByteOffset) {
  try {
    decode_text(kLatin1, TextEncoding::utf8, InvalidBytes::error, "texts/6.txt");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("texts/6.txt: invalid UTF-8 at byte 3"));
  }
}

TEST(TextFiles, DataCheckReadsTextFilesAndNamesInvalidOnes) {
  TempDir dir;
  write(dir.file("a.txt"), kUtf8);
  write(dir.file("b.txt"), kLatin1);
  write(dir.file("m.jsonl"),
        "{\"id\": \"a\", \"text\": {\"file\": \"a.txt\"}, \"label\": \"x\"}\n"
        "{\"id\": \"b\", \"text\": {\"file\": \"b.txt\"}, \"label\": \"y\"}\n"
        "{\"id\": \"c\", \"text\": {\"file\": \"b.txt\", \"encoding\": \"utf-8\"}, \"label\": "
        "\"y\"}\n");
  const auto r = run_mmfuse("data check " + dir.file("m.jsonl"));
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("2 valid samples of 3"));
  EXPECT_THAT(r.output, HasSubstr(dir.file("b.txt") + ": invalid UTF-8 at byte 3"));
}

}  // namespace
}  // namespace mmfuse::data
