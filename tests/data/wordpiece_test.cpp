// The WordPiece tokenizer and pipeline against BERT's tokenizer restated in Python
// (tests/data/wordpiece_reference.py): identical basic tokens and ids on sentences with accents,
// Chinese, emoji, punctuation, control characters and long words, from vocab.txt and from
// tokenizer.json; the pipeline's padding, lengths and state checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/config.h"
#include "mmfuse/core/error.h"
#include "mmfuse/data/pipeline_registry.h"
#include "mmfuse/data/text/wordpiece_pipeline.h"
#include "test_util.h"

namespace mmfuse::data::text {
namespace {

// The output of wordpiece_reference.py, made once per test process.
const std::string& wordpiece_reference_dir() {
  static const std::string dir = [] {
    const auto d = (std::filesystem::temp_directory_path() /
                    ("mmfuse-wordpiece-reference-" + std::to_string(::getpid())))
                       .string();
    std::filesystem::create_directories(d);
    const auto run =
        mmfuse::testing::run_command("/usr/bin/python3 " + std::string(MMFUSE_SOURCE_DIR) +
                                     "/tests/data/wordpiece_reference.py " + d);
    if (run.exit_code != 0)
      throw std::runtime_error("wordpiece_reference.py failed:\n" + run.output);
    // The folder's name outlives the statics (destroyed before this handler runs).
    static const std::string* folder = nullptr;
    folder = new std::string(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*folder, ec);
    });
    return d;
  }();
  return dir;
}

std::string wordpiece_missing_python() {
  return std::filesystem::exists("/usr/bin/python3") ? "" : "/usr/bin/python3 is missing";
}

void expect_reference_ids(const WordPieceTokenizer& t) {
  const auto expected =
      nlohmann::json::parse(std::ifstream(wordpiece_reference_dir() + "/expected.json"));
  ASSERT_GE(expected.size(), 12u);
  for (const auto& e : expected) {
    const auto text = e["text"].get<std::string>();
    SCOPED_TRACE(text.substr(0, 60));
    EXPECT_EQ(t.basic_tokens(text), e["basic"].get<std::vector<std::string>>());
    EXPECT_EQ(t.encode(text), e["ids"].get<std::vector<int64_t>>());
    EXPECT_EQ(t.encode(text, 12), e["ids_12"].get<std::vector<int64_t>>());
  }
}

TEST(WordPiece, IdsMatchBertsTokenizerFromVocabTxt) {
  MMFUSE_REQUIRE(wordpiece_missing_python());
  expect_reference_ids(WordPieceTokenizer::load(wordpiece_reference_dir() + "/vocab.txt"));
}

TEST(WordPiece, IdsMatchBertsTokenizerFromTokenizerJson) {
  MMFUSE_REQUIRE(wordpiece_missing_python());
  WordPieceOptions cased;
  cased.lowercase = false;  // the file's BertNormalizer says lowercase: true, and wins
  cased.strip_accents = false;
  const auto t = WordPieceTokenizer::load(wordpiece_reference_dir() + "/tokenizer.json", cased);
  EXPECT_TRUE(t.options().lowercase);
  EXPECT_TRUE(t.options().strip_accents);  // null follows lowercase
  expect_reference_ids(t);
}

WordPieceTokenizer wordpiece_tiny_tokenizer(WordPieceOptions o = {}) {
  return WordPieceTokenizer({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "a",
                             "##ff", "Café", "cafe", "!"},
                            o);
}

TEST(WordPiece, GreedyLongestMatchFirstAndRules) {
  const auto t = wordpiece_tiny_tokenizer();
  EXPECT_EQ(t.word_ids("unaffable"), (std::vector<int64_t>{4, 5, 6}));
  EXPECT_EQ(t.word_ids("aff"), (std::vector<int64_t>{7, 8}));      // a + ##ff: longest first
  EXPECT_EQ(t.word_ids("unaffablex"), (std::vector<int64_t>{1}));  // one uncovered piece: [UNK]
  EXPECT_EQ(t.word_ids(std::string(101, 'a')), (std::vector<int64_t>{1}));
  EXPECT_EQ(t.encode("Café!"), (std::vector<int64_t>{2, 10, 11, 3}));
  WordPieceOptions cased;
  cased.lowercase = false;
  cased.strip_accents = false;
  EXPECT_EQ(wordpiece_tiny_tokenizer(cased).encode("Café!"), (std::vector<int64_t>{2, 9, 11, 3}));
  EXPECT_EQ(t.encode("unaffable unaffable", 4), (std::vector<int64_t>{2, 4, 5, 3}));
  EXPECT_THROW(t.encode("bad \xC3\x28 byte"), InputError);
}

TEST(WordPiece, VocabularyErrorsNameTheFile) {
  mmfuse::testing::TempDir dir;
  std::ofstream(dir.file("vocab.txt")) << "[PAD]\n[UNK]\n[CLS]\nhello\n";
  try {
    WordPieceTokenizer::load(dir.file("vocab.txt"));
    FAIL() << "a vocabulary without [SEP] was accepted";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(dir.file("vocab.txt")), std::string::npos) << msg;
    EXPECT_NE(msg.find("[SEP]"), std::string::npos) << msg;
  }
  std::ofstream(dir.file("dup.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhi\nhi\n";
  EXPECT_THROW(WordPieceTokenizer::load(dir.file("dup.txt")), Error);
}

TEST(WordPiecePipeline, PadsToMaxLenReportsLengthsAndChecksItsState) {
  mmfuse::testing::TempDir dir;
  std::ofstream(dir.file("vocab.txt")) << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n";
  PipelineContext ctx;
  ctx.modality = Modality::text;
  ctx.base_dir = dir.str();
  auto p = pipeline_registry().create("wordpiece", ctx,
                                      ConfigNode::parse("vocab: vocab.txt\nmax_len: 6", "text"));
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{6}));
  const auto a = p->finalize(p->extract(Field{std::string("Hello world")}));
  const auto b = p->finalize(p->extract(Field{std::string("hello hello hello world world")}));
  EXPECT_TRUE(torch::equal(a, torch::tensor({2, 4, 5, 3, 0, 0}, torch::kLong)));
  EXPECT_TRUE(torch::equal(b, torch::tensor({2, 4, 4, 4, 5, 3}, torch::kLong)));  // truncated
  const auto batch = p->collate({a, torch::Tensor(), b});
  EXPECT_TRUE(torch::equal(batch.lengths, torch::tensor({4, 0, 6}, torch::kLong)));
  EXPECT_TRUE(torch::equal(batch.present, torch::tensor({true, false, true})));
  const auto state = p->state();
  EXPECT_EQ(state["vocab_size"], 6);
  EXPECT_NO_THROW(p->load_state(state));
  auto other = state;
  other["vocab_hash"] = "0123";
  EXPECT_THROW(p->load_state(other), Error);
  EXPECT_THROW(
      pipeline_registry().create("wordpiece", ctx, ConfigNode::parse("max_len: 6", "text")),
      ConfigError);
}

}  // namespace
}  // namespace mmfuse::data::text
