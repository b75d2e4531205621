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
  EXPECT_THROW(text_encoding_from_string("no-such-charset"), InputError);
  EXPECT_EQ(text_encoding_from_string("gb18030"), TextEncoding::named);
}

// "今天很好" (today is fine) in GB18030 and "Привет, как дела? Сегодня хорошая погода." in
// Windows-1251: not UTF-8, detected by uchardet and converted by iconv.
const std::string kGb18030 =
    "\xBD\xF1\xCC\xEC\xCC\xEC\xC6\xF8\xBA\xDC\xBA\xC3\xA3\xAC\xCE\xD2\xC3\xC7\xC8\xA5\xB9"
    "\xAB\xD4\xB0\xC9\xA2\xB2\xBD\xB0\xC9\xA1\xA3";  // 今天天气很好，我们去公园散步吧。

TEST(TextFiles, AutoDetectsTheCharsetOfNonUtf8Bytes) {
  const auto zh = decode_text(kGb18030, TextEncoding::automatic, InvalidBytes::error, "f");
  EXPECT_TRUE(zh.fallback);
  EXPECT_EQ(zh.charset, "GB18030");
  EXPECT_EQ(zh.text, "今天天气很好，我们去公园散步吧。");
  const std::string ru =
      "\xCF\xF0\xE8\xE2\xE5\xF2, \xEA\xE0\xEA \xE4\xE5\xEB\xE0? \xD1\xE5\xE3\xEE\xE4\xED\xFF "
      "\xF5\xEE\xF0\xEE\xF8\xE0\xFF \xEF\xEE\xE3\xEE\xE4\xE0.";
  const auto r = decode_text(ru, TextEncoding::automatic, InvalidBytes::error, "f");
  EXPECT_EQ(r.charset, "WINDOWS-1251");
  EXPECT_EQ(r.text, "Привет, как дела? Сегодня хорошая погода.");
  // A named charset is strict: an invalid sequence names the file and the byte offset.
  EXPECT_EQ(decode_text(kGb18030, TextEncoding::named, InvalidBytes::error, "f", "gb18030").text,
            zh.text);
  try {
    decode_text("ok \x81", TextEncoding::named, InvalidBytes::error, "t/9.txt", "gb18030");
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(std::string(e.what()), HasSubstr("t/9.txt: invalid gb18030 at byte 3"));
  }
  const auto before = text_fallback_counts()["GB18030"];
  decode_text(kGb18030, TextEncoding::automatic, InvalidBytes::error, "f");
  EXPECT_EQ(text_fallback_counts()["GB18030"], before + 1);
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
  // b.txt read once under auto (line 2): one text needed the detected charset.
  EXPECT_THAT(r.output, HasSubstr("texts not in UTF-8 (decoded by the detected charset): 1"));
}

}  // namespace
}  // namespace mmfuse::data
