#include <gtest/gtest.h>

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"
#include "mmfuse/core/utf8.h"
#include "test_util.h"

namespace mmfuse {
namespace {

TEST(Utf8, DecodesMixedScripts) {
  auto cps = utf8::decode("a七é😀");
  ASSERT_EQ(cps.size(), 4u);
  EXPECT_EQ(cps[0], U'a');
  EXPECT_EQ(cps[1], U'\u4e03');
  EXPECT_EQ(cps[2], U'\u00e9');
  EXPECT_EQ(cps[3], U'\U0001F600');
  EXPECT_EQ(utf8::encode(cps), "a七é😀");
}

TEST(Utf8, RejectsInvalidSequencesWithOffset) {
  EXPECT_EQ(utf8::find_invalid("ab\xff"), std::optional<std::size_t>(2));
  EXPECT_EQ(utf8::find_invalid("\xc0\xaf"), std::optional<std::size_t>(0));       // overlong
  EXPECT_EQ(utf8::find_invalid("x\xed\xa0\x80"), std::optional<std::size_t>(1));  // surrogate
  EXPECT_EQ(utf8::find_invalid("\xe4\xb8"), std::optional<std::size_t>(0));       // truncated
  EXPECT_TRUE(utf8::is_valid("七八九"));
  EXPECT_THROW(utf8::decode("ok\x80"), InputError);
}

TEST(AtomicWrite, ReplacesWholeFileAndLeavesNoTemp) {
  testing::TempDir dir;
  std::string path = dir.file("sub/x.bin");
  write_file_atomic(path, "first");
  write_file_atomic(path, "second");
  EXPECT_EQ(read_file(path), "second");
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.file("sub"))) files += e.is_regular_file();
  EXPECT_EQ(files, 1);
}

TEST(InputErrorTest, MessageNamesManifestLineFieldAndFile) {
  InputError e("truncated WAV", "a/b.wav");
  auto located = e.at("train.jsonl", 12, "audio");
  EXPECT_STREQ(located.what(), "train.jsonl:12: field 'audio': a/b.wav: truncated WAV");
  EXPECT_EQ(located.line(), 12);
}

TEST(HashTest, DistinguishesFieldBoundaries) {
  Hasher a, b;
  a.field("ab").field("c");
  b.field("a").field("bc");
  EXPECT_NE(a.hex(), b.hex());
  EXPECT_EQ(a.hex().size(), 32u);
}

}  // namespace
}  // namespace mmfuse
