#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include "mmfuse/core/error.h"
#include "mmfuse/data/pipeline_registry.h"
#include "mmfuse/data/text/text_pipeline.h"
#include "test_util.h"

namespace mmfuse::data::text {
namespace {

std::shared_ptr<TextPipeline> make_text(const std::string& yaml) {
  return TextPipeline::create({}, ConfigNode::parse(yaml, "text"));
}

void fit_text(TextPipeline& p, const std::vector<std::string>& docs) {
  std::vector<Field> fields(docs.begin(), docs.end());
  p.fit({fields.size(), [&](std::size_t i) -> const Field& { return fields[i]; },
         [&](std::size_t i) { return p.extract(fields[i]); }});
}

torch::Tensor run(const TextPipeline& p, const std::string& s) {
  return p.finalize(p.extract(Field{s}));
}

std::vector<int64_t> token_ids_of(const torch::Tensor& t) {
  auto c = t.contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

TEST(TextPipeline, TfidfMatchesSklearn) {
  // Expected values: tests/data/text_tfidf_reference.py (sklearn TfidfVectorizer defaults).
  const std::vector<std::string> train = {"The cat sat on the mat", "The dog sat on the log",
                                          "Cats and dogs are friends, the cat said"};
  const std::vector<std::string> queries = {train[0], train[1], train[2],
                                            "the cat and the unknown bird"};
  const std::vector<std::map<std::string, double>> expected = {
      {{"cat", 0.374207259},
       {"mat", 0.492037576},
       {"on", 0.374207259},
       {"sat", 0.374207259},
       {"the", 0.581210638}},
      {{"dog", 0.468698646},
       {"log", 0.468698646},
       {"on", 0.356457401},
       {"sat", 0.356457401},
       {"the", 0.553641942}},
      {{"and", 0.379944616},
       {"are", 0.379944616},
       {"cat", 0.288957674},
       {"cats", 0.379944616},
       {"dogs", 0.379944616},
       {"friends", 0.379944616},
       {"said", 0.379944616},
       {"the", 0.224401411}},
      {{"and", 0.579896871}, {"cat", 0.441026518}, {"the", 0.684992868}},
  };
  auto p = make_text("output: tfidf");
  fit_text(*p, train);
  EXPECT_EQ(p->vocab_size(), 2 + 13);
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{15}));
  for (std::size_t q = 0; q < queries.size(); ++q) {
    const auto x = run(*p, queries[q]);
    ASSERT_EQ(x.sizes(), (std::vector<int64_t>{15}));
    for (int64_t id = 0; id < x.numel(); ++id) {
      const std::string& token = p->vocabulary().token(id);
      const double want = expected[q].count(token) ? expected[q].at(token) : 0.0;
      EXPECT_NEAR(x[id].item<float>(), want, 1e-6) << "query " << q << " token " << token;
    }
  }
}

TEST(TextPipeline, CharNgramsAndSublinearTfMatchSklearn) {
  // Expected values: tests/data/text_tfidf_reference.py (sklearn, an analyzer returning the words
  // and their char_wb 2..4-grams, sublinear_tf); character n-grams carry one leading space.
  const std::vector<std::string> train = {"Café café au lait", "naïve cat sat", "the cat café"};
  const std::vector<std::string> queries = {train[1], "cat café 猫猫"};
  const std::vector<std::map<std::string, double>> expected = {
      {{"  c", 0.107376353},  {"  ca", 0.107376353},  {"  cat", 0.138266605},
       {"  n", 0.181803970},  {"  na", 0.181803970},  {"  naï", 0.181803970},
       {"  s", 0.181803970},  {"  sa", 0.181803970},  {"  sat", 0.181803970},
       {" at", 0.234105712},  {" at ", 0.234105712},  {" aï", 0.181803970},
       {" aïv", 0.181803970}, {" aïve", 0.181803970}, {" ca", 0.107376353},
       {" cat", 0.138266605}, {" cat ", 0.138266605}, {" e ", 0.138266605},
       {" na", 0.181803970},  {" naï", 0.181803970},  {" naïv", 0.181803970},
       {" sa", 0.181803970},  {" sat", 0.181803970},  {" sat ", 0.181803970},
       {" t ", 0.181803970},  {" ve", 0.181803970},   {" ve ", 0.181803970},
       {" ïv", 0.181803970},  {" ïve", 0.181803970},  {" ïve ", 0.181803970},
       {"cat", 0.138266605},  {"naïve", 0.181803970}, {"sat", 0.181803970}},
      {{"  c", 0.281682109},   {"  ca", 0.281682109},  {"  caf", 0.214226505},
       {"  cat", 0.214226505}, {" af", 0.214226505},   {" afé", 0.214226505},
       {" afé ", 0.214226505}, {" at", 0.214226505},   {" at ", 0.214226505},
       {" ca", 0.281682109},   {" caf", 0.214226505},  {" café", 0.214226505},
       {" cat", 0.214226505},  {" cat ", 0.214226505}, {" fé", 0.214226505},
       {" fé ", 0.214226505},  {" t ", 0.166365991},   {" é ", 0.214226505},
       {"café", 0.214226505},  {"cat", 0.214226505}},
  };
  auto p = make_text("output: tfidf\nchar_ngrams: [2, 4]\nsublinear_tf: true");
  fit_text(*p, train);
  for (std::size_t q = 0; q < queries.size(); ++q) {
    const auto x = run(*p, queries[q]);
    int64_t nonzero = 0;
    for (int64_t id = 0; id < x.numel(); ++id) {
      const std::string& token = p->vocabulary().token(id);
      const double want = expected[q].count(token) ? expected[q].at(token) : 0.0;
      nonzero += want != 0.0;
      EXPECT_NEAR(x[id].item<float>(), want, 1e-6) << "query " << q << " token '" << token << "'";
    }
    EXPECT_EQ(nonzero, static_cast<int64_t>(expected[q].size())) << "query " << q;
  }
  auto ids = make_text("output: ids\nchar_ngrams: [3, 3]");  // words, then their subwords
  fit_text(*ids, {"cat"});
  std::vector<std::string> tokens;
  for (int64_t id : token_ids_of(run(*ids, "cat dog")))
    tokens.push_back(ids->vocabulary().token(id));
  EXPECT_EQ(tokens, (std::vector<std::string>{"cat", "<unk>", "  ca", " cat", " at ", "<unk>",
                                              "<unk>", "<unk>"}));
  EXPECT_THROW(make_text("output: tfidf\nchar_ngrams: [3, 2]"), ConfigError);
  EXPECT_THROW(make_text("output: bow\nsublinear_tf: true"), ConfigError);
}

TEST(TextPipeline, IdsArePaddedTruncatedAndUnknownsMapped) {
  auto p = make_text("output: ids\nmax_len: 4");
  EXPECT_THROW(p->extract(Field{std::string("a")}), Error);  // not fitted
  fit_text(*p, {"a b c", "a b", "A"});                       // a:3 -> 2, b:2 -> 3, c:1 -> 4
  EXPECT_EQ(token_ids_of(run(*p, "c a zz")), (std::vector<int64_t>{4, 2, 1, 0}));
  EXPECT_EQ(token_ids_of(run(*p, "a b a b a b")), (std::vector<int64_t>{2, 3, 2, 3}));
  auto batch = p->collate({run(*p, "c a zz"), torch::Tensor(), run(*p, "a b a b a b")});
  EXPECT_EQ(batch.data.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_EQ(token_ids_of(batch.lengths), (std::vector<int64_t>{3, 0, 4}));
  EXPECT_EQ(token_ids_of(batch.present.to(torch::kLong)), (std::vector<int64_t>{1, 0, 1}));
  EXPECT_EQ(token_ids_of(batch.data[1]), (std::vector<int64_t>{0, 0, 0, 0}));
}

TEST(TextPipeline, VariableLengthCollatePadsAndReportsLengths) {
  auto p = make_text("{}");
  fit_text(*p, {"x y z"});
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{-1}));
  auto b = p->collate({run(*p, "x"), run(*p, "z y x"), torch::Tensor(), run(*p, "")});
  EXPECT_EQ(b.data.sizes(), (std::vector<int64_t>{4, 3}));
  EXPECT_EQ(token_ids_of(b.lengths), (std::vector<int64_t>{1, 3, 0, 0}));
  EXPECT_EQ(token_ids_of(b.data.reshape(-1)),
            (std::vector<int64_t>{2, 0, 0, 4, 3, 2, 0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(token_ids_of(b.present.to(torch::kLong)), (std::vector<int64_t>{1, 1, 0, 1}));
}

TEST(TextPipeline, BagOfWordsCountsUnknownsInTheUnkColumn) {
  auto p = make_text("output: bow\nmin_freq: 2");
  fit_text(*p, {"a a b", "b c"});  // a:2, b:2 kept; c dropped
  auto x = run(*p, "a a zz b c");
  EXPECT_TRUE(torch::equal(x, torch::tensor({0.f, 2.f, 2.f, 1.f})));
  auto batch = p->collate({x, torch::Tensor()});
  EXPECT_EQ(batch.data.sizes(), (std::vector<int64_t>{2, 4}));
}

TEST(TextPipeline, RejectsWrongFieldsAndInvalidUtf8) {
  auto p = make_text("{}");
  fit_text(*p, {"a"});
  EXPECT_THROW(p->extract(Field{std::vector<float>{1.f}}), InputError);
  try {
    p->extract(Field{std::string("ab\xc3(")});
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(e.reason().find("byte 2"), std::string::npos) << e.what();
  }
}

TEST(TextAugment, DeterministicPerSeedAndOnlyDropsOrSwaps) {
  auto p = make_text("augment: {token_dropout: 0.3, token_swap: 0.3}");
  std::string text;
  for (int i = 0; i < 40; ++i) text += "w" + std::to_string(i) + " ";
  fit_text(*p, {text});
  const auto ids = p->extract(Field{text});
  Rng a(5), b(5), c(6);
  const auto xa = p->augment(Field{text}, ids, a);
  EXPECT_TRUE(torch::equal(xa, p->augment(Field{text}, ids, b)));
  EXPECT_FALSE(torch::equal(xa, p->augment(Field{text}, ids, c)));
  EXPECT_LT(xa.numel(), ids.numel());
  EXPECT_GT(xa.numel(), 0);
  // Every kept token comes from the input, without repeats.
  auto kept = token_ids_of(xa);
  std::sort(kept.begin(), kept.end());
  EXPECT_TRUE(std::adjacent_find(kept.begin(), kept.end()) == kept.end());
  auto all = token_ids_of(ids);
  std::sort(all.begin(), all.end());
  EXPECT_TRUE(std::includes(all.begin(), all.end(), kept.begin(), kept.end()));
}

TEST(TextAugment, SwapsMoveTokensByOnePlaceAtMost) {
  auto p = make_text("augment: {token_swap: 0.5}");
  std::string text;
  for (int i = 0; i < 30; ++i) text += "t" + std::to_string(i) + " ";
  fit_text(*p, {text});
  const auto in = token_ids_of(p->extract(Field{text}));
  Rng rng(9);
  const auto out = token_ids_of(p->augment(Field{text}, torch::tensor(in), rng));
  ASSERT_EQ(out.size(), in.size());
  int moved = 0;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const auto pos = std::find(out.begin(), out.end(), in[i]) - out.begin();
    EXPECT_LE(std::abs(static_cast<long>(pos) - static_cast<long>(i)), 1);
    moved += pos != static_cast<long>(i);
  }
  EXPECT_GT(moved, 0);
}

TEST(TextPipeline, StateRoundTripReproducesOutputs) {
  const std::string yaml = "output: tfidf\nmax_size: 6\nkeep_punctuation: true";
  auto p = make_text(yaml);
  fit_text(*p, {"Un café, s'il vous plaît!", "Café au lait", "Deux cafés, merci"});
  auto restored = make_text(yaml);
  EXPECT_EQ(restored->item_shape(), (std::vector<int64_t>{-1}));
  restored->load_state(nlohmann::json::parse(p->state().dump()));
  EXPECT_EQ(restored->vocab_size(), 6);
  EXPECT_TRUE(restored->vocabulary() == p->vocabulary());
  for (const std::string s : {"un café au lait, merci", "rien"}) {
    EXPECT_TRUE(torch::equal(run(*restored, s), run(*p, s))) << s;
  }
  EXPECT_THROW(make_text("output: bow")->load_state(p->state()), Error);  // wrong output
}

TEST(TextPipeline, ConfigErrorsAndRegistry) {
  EXPECT_THROW(make_text("output: onehot"), ConfigError);
  EXPECT_THROW(make_text("output: bow\nmax_len: 8"), ConfigError);
  EXPECT_THROW(make_text("augment: {token_dropout: 1.5}"), ConfigError);
  EXPECT_THROW(make_text("max_sise: 10"), ConfigError);
  auto p = pipeline_registry().create("text", {}, ConfigNode::parse("max_len: 8"));
  EXPECT_EQ(p->modality(), Modality::text);
  EXPECT_FALSE(p->cacheable());
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{8}));
}

}  // namespace
}  // namespace mmfuse::data::text
