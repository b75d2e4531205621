#include <gtest/gtest.h>

#include "mmfuse/core/error.h"
#include "mmfuse/data/text/tokenizer.h"
#include "mmfuse/data/text/vocabulary.h"
#include "test_util.h"

namespace mmfuse::data::text {
namespace {

using Tokens = std::vector<std::string>;

TEST(Tokenizer, MixedEnglishChineseFrench) {
  const std::string s = "Hello, 世界! Ça va? 七 seven";
  EXPECT_EQ(tokenize(s), (Tokens{"hello", "世", "界", "ça", "va", "七", "seven"}));
  EXPECT_EQ(tokenize(s, {/*lowercase=*/false, /*keep_punctuation=*/true}),
            (Tokens{"Hello", ",", "世", "界", "!", "Ça", "va", "?", "七", "seven"}));
}

TEST(Tokenizer, TweetsKeepUrlsMentionsHashtagsAndEmoji) {
  const std::string tweet = "RT @Kim_99: 太好了 #LoveIt 😍😍 http://t.co/AbC1 (a@b.c)";
  // Default: every piece split, emoji dropped with the punctuation.
  EXPECT_EQ(tokenize(tweet), (Tokens{"rt", "kim", "99", "太", "好", "了", "loveit", "http", "t",
                                     "co", "abc1", "a", "b", "c"}));
  TokenizerOptions o;
  o.urls = TokenizerOptions::Special::keep;
  o.mentions = TokenizerOptions::Special::keep;
  o.keep_hashtags = true;
  o.keep_emoji = true;
  EXPECT_EQ(tokenize(tweet, o), (Tokens{"rt", "@kim_99", "太", "好", "了", "#loveit", "😍", "😍",
                                        "http://t.co/abc1", "a", "b", "c"}));
  o.urls = o.mentions = TokenizerOptions::Special::placeholder;
  o.lowercase = false;
  EXPECT_EQ(tokenize("@x_1 see www.Example.com/P ☀ #中文标签!", o),
            (Tokens{"<user>", "see", "<url>", "☀", "#中文标签"}));
  TokenizerOptions::Special mode{};
  EXPECT_TRUE(special_from_string("placeholder", mode));
  EXPECT_EQ(mode, TokenizerOptions::Special::placeholder);
  EXPECT_FALSE(special_from_string("drop", mode));
}

TEST(Tokenizer, LowerCasesLatinGreekCyrillic) {
  EXPECT_EQ(tokenize("ÉCOLE Ÿ İSTANBUL ŁÓDŹ ŒUVRE ΑΘΉΝΑ МОСКВА Ёж ÀÞ×"),
            (Tokens{"école", "ÿ", "istanbul", "łódź", "œuvre", "αθήνα", "москва", "ёж", "àþ"}));
  EXPECT_EQ(to_lower(U'Ç'), U'ç');
  EXPECT_EQ(to_lower(U'ß'), U'ß');  // no single-code-point lower case
  EXPECT_EQ(to_lower(U'ĸ'), U'ĸ');  // already lower
  EXPECT_EQ(to_lower(U'Ĳ'), U'ĳ');
  EXPECT_EQ(to_lower(U'Ň'), U'ň');
}

TEST(Tokenizer, EachCjkCharacterIsAToken) {
  EXPECT_EQ(tokenize("東京タワーへ行く"), (Tokens{"東", "京", "タ", "ワ", "ー", "へ", "行", "く"}));
  EXPECT_EQ(tokenize("안녕 세계"), (Tokens{"안", "녕", "세", "계"}));
  EXPECT_EQ(tokenize("㐀𠀀"), (Tokens{"㐀", "𠀀"}));  // Extension A and B
  EXPECT_EQ(tokenize("abc漢字def"), (Tokens{"abc", "漢", "字", "def"}));
}

TEST(Tokenizer, CjkAndFullwidthPunctuation) {
  EXPECT_EQ(tokenize("你好，世界。「日本」・ＡＢＣ！"),
            (Tokens{"你", "好", "世", "界", "日", "本", "ａｂｃ"}));
  EXPECT_EQ(tokenize("你好，世界。", {true, true}), (Tokens{"你", "好", "，", "世", "界", "。"}));
  // Ideographic space and no-break space separate; emoji are symbols.
  EXPECT_EQ(tokenize("a\u3000b\u00a0c😀d", {true, true}), (Tokens{"a", "b", "c", "😀", "d"}));
}

TEST(Tokenizer, WordsKeepDigitsAndCombiningMarks) {
  EXPECT_EQ(tokenize("R2-D2 costs 3.50€, cafe\u0301 naïve"),
            (Tokens{"r2", "d2", "costs", "3", "50", "cafe\u0301", "naïve"}));
  EXPECT_EQ(tokenize("  \t\n "), Tokens{});
}

TEST(Tokenizer, InvalidUtf8NamesTheByteOffset) {
  try {
    tokenize("ok \xff then");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(e.reason().find("invalid UTF-8 at byte 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(tokenize("七\xe4\xb8"), InputError);  // truncated sequence at byte 3
}

std::unordered_map<std::string, int64_t> counts() {
  return Vocabulary::count({{"b", "a", "c", "a"}, {"d", "b", "a", "e"}, {"c", "e", "f"}});
}

TEST(VocabularyTest, OrdersByFrequencyThenToken) {
  // a:3, b:2, c:2, e:2, d:1, f:1
  Vocabulary v = Vocabulary::build(counts());
  EXPECT_EQ(v.tokens(), (Tokens{"<pad>", "<unk>", "a", "b", "c", "e", "d", "f"}));
  EXPECT_EQ(v.id("e"), 5);
  EXPECT_EQ(v.id("zzz"), Vocabulary::kUnk);
  EXPECT_EQ(v.token(2), "a");
  EXPECT_EQ(v.encode({"f", "?", "a"}), (std::vector<int64_t>{7, 1, 2}));
  EXPECT_THROW(v.token(8), Error);
}

TEST(VocabularyTest, MinFreqAndMaxSize) {
  EXPECT_EQ(Vocabulary::build(counts(), 2).tokens(),
            (Tokens{"<pad>", "<unk>", "a", "b", "c", "e"}));
  EXPECT_EQ(Vocabulary::build(counts(), 1, 4).tokens(), (Tokens{"<pad>", "<unk>", "a", "b"}));
  EXPECT_EQ(Vocabulary::build(counts(), 3, 100).size(), 3);
  EXPECT_EQ(Vocabulary::build(counts(), 10).size(), 2);
  EXPECT_THROW(Vocabulary::build(counts(), 1, 1), Error);
}

TEST(VocabularyTest, SaveLoadRoundTripAndBadFiles) {
  testing::TempDir dir;
  Vocabulary v = Vocabulary::build(Vocabulary::count({{"été", "七", "été", "x"}}));
  v.save(dir.file("vocab.json"));
  Vocabulary back = Vocabulary::load(dir.file("vocab.json"));
  EXPECT_TRUE(back == v);
  EXPECT_EQ(back.id("été"), 2);
  EXPECT_EQ(back.id("x"), 3);  // ties in byte order: 'x' (0x78) before 七 (0xE4 0xB8 0x83)
  EXPECT_EQ(back.id("七"), 4);
  EXPECT_THROW(Vocabulary::load(dir.file("absent.json")), InputError);
  EXPECT_THROW(Vocabulary(Tokens{"a", "b"}), Error);
  EXPECT_THROW(Vocabulary(Tokens{"<pad>", "<unk>", "a", "a"}), Error);
}

}  // namespace
}  // namespace mmfuse::data::text
