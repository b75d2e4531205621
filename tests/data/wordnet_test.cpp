// WordNet gloss expansion: a hand-made database in WordNet 3.0's file format (byte offsets
// computed as the data file is written), then Debian's wordnet-base when it is installed.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/data/text/text_pipeline.h"
#include "mmfuse/data/text/wordnet.h"
#include "test_util.h"

namespace mmfuse::data::text {
namespace {

namespace fs = std::filesystem;

// A tiny database: nouns "merman" (a proper-noun sense first, as in WordNet 3.0), "fish";
// the verb "frown"; irregular noun "mice" -> "mouse".
class TinyWordNet : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = tmp_.str();
    auto write_data = [&](const std::string& pos, const std::vector<std::string>& lines) {
      std::ofstream out(dir + "/data." + pos, std::ios::binary);
      out << "  1 This is a licence header line\n";
      std::vector<int64_t> offsets;
      for (const auto& l : lines) {
        offsets.push_back(static_cast<int64_t>(out.tellp()));
        // the offset field is the line's own offset, zero-padded to 8 digits
        char head[16];
        std::snprintf(head, sizeof head, "%08lld", static_cast<long long>(offsets.back()));
        out << head << l << "\n";
      }
      return offsets;
    };
    const auto noun = write_data(
        "noun", {" 18 n 02 Merman 1 Ethel_Merman 0 000 | United States singer (1909-1984)  ",
                 " 18 n 01 merman 0 000 | half man and half fish; lives in the sea  ",
                 " 05 n 01 fish 0 000 | any of various cold-blooded aquatic vertebrates  ",
                 " 05 n 01 mouse 0 000 | any of numerous small rodents  "});
    const auto verb = write_data("verb", {" 29 v 02 frown 0 glower 0 000 | look angry or sullen"});
    write_data("adj", {});
    write_data("adv", {});
    auto write = [&](const std::string& name, const std::string& text) {
      std::ofstream(dir + "/" + name, std::ios::binary) << text;
    };
    write("index.noun", "  1 licence header\nfish n 1 0 1 0 " + std::to_string(noun[2]) +
                            "  \nmerman n 2 1 @ 2 0 " + std::to_string(noun[0]) + " " +
                            std::to_string(noun[1]) + "  \nmouse n 1 0 1 0 " +
                            std::to_string(noun[3]) + "  \n");
    write("index.verb", "frown v 1 0 1 0 " + std::to_string(verb[0]) + "  \n");
    write("index.adj", "");
    write("index.adv", "");
    write("noun.exc", "mice mouse\n");
    write("verb.exc", "");
    write("adj.exc", "");
    write("adv.exc", "");
  }
  mmfuse::testing::TempDir tmp_;
};

TEST_F(TinyWordNet, LemmatisesByExceptionsAndSuffixRules) {
  WordNet wn(tmp_.str());
  EXPECT_EQ(wn.lemma("fish", WordNet::noun), "fish");
  EXPECT_EQ(wn.lemma("mice", WordNet::noun), "mouse");      // noun.exc
  EXPECT_EQ(wn.lemma("mermen", WordNet::noun), "merman");   // men -> man
  EXPECT_EQ(wn.lemma("frowning", WordNet::verb), "frown");  // ing -> ""
  EXPECT_EQ(wn.lemma("frowns", WordNet::verb), "frown");    // s -> ""
  EXPECT_EQ(wn.lemma("frowning", WordNet::noun), "");
  EXPECT_EQ(wn.lemma("unicorn", WordNet::noun), "");
}

TEST_F(TinyWordNet, GlossSkipsProperNounSensesAndStopsAtTheFirstPartOfSpeech) {
  WordNet wn(tmp_.str());
  // "Merman" (Ethel Merman) is a proper-noun sense of the lowercase word: skipped.
  EXPECT_EQ(wn.gloss("merman", 1), "merman  half man and half fish ");
  EXPECT_EQ(wn.gloss("merman", 5), wn.gloss("merman", 1));  // only one common sense exists
  EXPECT_EQ(wn.gloss("frowned", 1), "frown glower  look angry or sullen ");
  EXPECT_EQ(wn.gloss("unicorn", 2), "");
  EXPECT_EQ(wn.gloss("merman", 1), wn.gloss("merman", 1));  // memoised, same answer
}

TEST_F(TinyWordNet, TextTokensAppendGlossesWithoutStopWordsOrTheWordItself) {
  TextOptions o;
  o.gloss_wordnet = tmp_.str();
  // Own tokens first, then each token's gloss without the token itself and the stop word
  // "and"; the examples after ';' ("lives in the sea") and the proper-noun sense are left out.
  const std::vector<std::string> expected = {"merman", "merman", "half", "man",  "half",
                                             "fish",   "half",   "man",  "half", "fish"};
  EXPECT_EQ(text_tokens("Merman (merman)", o), expected);
  o.gloss_wordnet.clear();
  EXPECT_EQ(text_tokens("Merman (merman)", o), (std::vector<std::string>{"merman", "merman"}));
}

TEST_F(TinyWordNet, PipelineVocabularyLearnsGlossWordsAndConfigErrorsNameTheKey) {
  auto p = TextPipeline::create(
      {}, ConfigNode::parse("output: bow\ngloss: {wordnet: " + tmp_.str() + "}", "text"));
  std::vector<Field> fields = {Field{std::string("fish")}, Field{std::string("man frowning")}};
  p->fit({fields.size(), [&](std::size_t i) -> const Field& { return fields[i]; },
          [&](std::size_t i) { return p->extract(fields[i]); }});
  // An unseen name reaches seen words through its gloss: "merman" -> man, fish.
  const auto& v = p->vocabulary();
  const auto bow = p->finalize(p->extract(Field{std::string("merman")}));
  EXPECT_EQ(bow[v.id("man")].item<float>(), 1.0f);
  EXPECT_EQ(bow[v.id("fish")].item<float>(), 1.0f);
  EXPECT_GT(bow[Vocabulary::kUnk].item<float>(), 0.0f);  // "merman", "half", "lives", "sea"
  try {
    TextPipeline::create({}, ConfigNode::parse("gloss: {wordnet: /nonexistent/wn}", "text"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("gloss.wordnet"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("wordnet-base"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TextPipeline::create({}, ConfigNode::parse("gloss: {senses: 0}", "text")),
               ConfigError);
}

TEST(DebianWordNet, GlossesOfEmojiNamesReachCommonWords) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_wordnet());
  const WordNet& wn = WordNet::shared("/usr/share/wordnet");
  EXPECT_NE(wn.gloss("mermaid", 1).find("half woman and half fish"), std::string::npos);
  EXPECT_NE(wn.gloss("merman", 1).find("fish"), std::string::npos);
  EXPECT_EQ(wn.gloss("merman", 1).find("singer"), std::string::npos);
  EXPECT_NE(wn.gloss("mangoes", 2).find("fruit"), std::string::npos);  // plural, second sense
  EXPECT_EQ(wn.lemma("frowning", WordNet::verb), "frown");
}

}  // namespace
}  // namespace mmfuse::data::text
