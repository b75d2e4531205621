// The text pipeline's options (TextOptions::parse) and its tokens: words, word n-grams, the
// words' character n-grams and WordNet glosses (text_tokens); text_pipeline.h documents both.
#include <algorithm>
#include <cctype>
#include <unordered_set>

#include "mmfuse/core/error.h"
#include "mmfuse/core/utf8.h"
#include "mmfuse/data/text/text_pipeline.h"
#include "mmfuse/data/text/wordnet.h"

namespace mmfuse::data::text {

namespace {

const std::vector<std::pair<TextOutput, std::string>>& output_names() {
  static const std::vector<std::pair<TextOutput, std::string>> names = {
      {TextOutput::ids, "ids"}, {TextOutput::bow, "bow"}, {TextOutput::tfidf, "tfidf"}};
  return names;
}

double probability(const ConfigNode& cfg, const std::string& key) {
  const double p = cfg.get<double>(key, 0.0);
  if (p < 0 || p >= 1) cfg[key].fail("expected a probability in [0, 1), got " + std::to_string(p));
  return p;
}

void parse_char_ngrams(const ConfigNode& cfg, TextOptions& o) {
  const ConfigNode c = cfg["char_ngrams"];
  if (c.is_null()) return;
  const auto range = c.as<std::vector<int64_t>>();
  if (range.size() != 2 || range[0] < 1 || range[1] < range[0] || range[1] > 8)
    c.fail("expected [min, max] with 1 <= min <= max <= 8, e.g. [2, 5]");
  o.char_min = range[0];
  o.char_max = range[1];
}

// sklearn's char_wb: each word padded with one space on both sides, its n-grams for n from
// `lo` to `hi` (code points, not bytes); a padded word shorter than n counts once, as itself.
void append_char_ngrams(std::vector<std::string>& tokens, std::size_t words, int64_t lo,
                        int64_t hi) {
  for (std::size_t w = 0; w < words; ++w) {
    std::vector<char32_t> cps = utf8::decode(" " + tokens[w] + " ");
    const auto len = static_cast<int64_t>(cps.size());
    for (int64_t n = lo; n <= hi; ++n) {
      const int64_t last = std::max<int64_t>(0, len - n);
      for (int64_t i = 0; i <= last; ++i) {
        std::string gram = " ";  // the marker: no word or word n-gram starts with a space
        for (int64_t k = i; k < std::min(len, i + n); ++k) utf8::append(gram, cps[k]);
        tokens.push_back(std::move(gram));
      }
      if (last == 0) break;  // the whole word was this n-gram: longer ones repeat it
    }
  }
}

}  // namespace

std::string to_string(TextOutput o) {
  for (const auto& [value, name] : output_names()) {
    if (value == o) return name;
  }
  return "ids";
}

TextOutput text_output_from_string(const std::string& name, const ConfigNode& cfg) {
  std::string known;
  for (const auto& [value, n] : output_names()) {
    if (n == name) return value;
    known += (known.empty() ? "" : ", ") + n;
  }
  cfg.fail("unknown text output '" + name + "'; known: " + known);
}

TextOptions TextOptions::parse(const ConfigNode& cfg) {
  TextOptions o;
  if (cfg.is_null()) return o;
  cfg.check_keys({"output", "max_len", "min_freq", "max_size", "lowercase", "keep_punctuation",
                  "augment", "gloss", "urls", "mentions", "hashtags", "emoji", "ngrams",
                  "char_ngrams", "sublinear_tf"});
  o.output = text_output_from_string(cfg.get<std::string>("output", "ids"), cfg["output"]);
  o.max_len = cfg.get<int64_t>("max_len", 0);
  if (o.max_len < 0) cfg["max_len"].fail("expected a length >= 0 (0: variable length)");
  if (o.max_len > 0 && o.output != TextOutput::ids)
    cfg["max_len"].fail("max_len applies to `output: ids` only (got `output: " +
                        to_string(o.output) + "`); remove it");
  o.min_freq = cfg.get<int64_t>("min_freq", 1);
  if (o.min_freq < 1) cfg["min_freq"].fail("expected a count >= 1");
  o.max_size = cfg.get<int64_t>("max_size", 0);
  if (o.max_size != 0 && o.max_size < 3)
    cfg["max_size"].fail("expected 0 (no cap) or >= 3 (<pad> and <unk> count), got " +
                         std::to_string(o.max_size));
  o.tokenizer.lowercase = cfg.get<bool>("lowercase", true);
  o.tokenizer.keep_punctuation = cfg.get<bool>("keep_punctuation", false);
  for (const char* key : {"urls", "mentions"}) {
    auto& mode = std::string(key) == "urls" ? o.tokenizer.urls : o.tokenizer.mentions;
    if (cfg.has(key) && !special_from_string(cfg.get<std::string>(key), mode)) {
      cfg[key].fail("expected split, keep or placeholder");
    }
  }
  o.tokenizer.keep_hashtags = cfg.get<bool>("hashtags", false);
  o.tokenizer.keep_emoji = cfg.get<bool>("emoji", false);
  o.ngrams = cfg.get<int64_t>("ngrams", 1);
  if (o.ngrams < 1 || o.ngrams > 3) cfg["ngrams"].fail("expected 1, 2 or 3");
  if (o.ngrams > 1 && o.output == TextOutput::ids)
    cfg["ngrams"].fail("word n-grams apply to `output: bow` or `tfidf` only");
  parse_char_ngrams(cfg, o);
  o.sublinear_tf = cfg.get<bool>("sublinear_tf", false);
  if (o.sublinear_tf && o.output != TextOutput::tfidf)
    cfg["sublinear_tf"].fail("sublinear_tf applies to `output: tfidf` only");
  if (auto aug = cfg["augment"]; !aug.is_null()) {
    if (!aug.is_map()) aug.fail("expected a map {token_dropout, token_swap}");
    aug.check_keys({"token_dropout", "token_swap"});
    o.token_dropout = probability(aug, "token_dropout");
    o.token_swap = probability(aug, "token_swap");
  }
  if (auto g = cfg["gloss"]; !g.is_null()) {
    if (!g.is_map()) g.fail("expected a map {wordnet: /usr/share/wordnet, senses: 1}");
    g.check_keys({"wordnet", "senses"});
    o.gloss_wordnet = g.get<std::string>("wordnet", "/usr/share/wordnet");
    o.gloss_senses = g.get<int>("senses", 1);
    if (o.gloss_senses < 1) g["senses"].fail("expected a number of senses >= 1");
    try {
      WordNet::shared(o.gloss_wordnet);
    } catch (const Error& e) {
      g["wordnet"].fail(e.what());
    }
  }
  return o;
}

std::vector<std::string> text_tokens(const std::string& text, const TextOptions& options) {
  std::vector<std::string> tokens = tokenize(text, options.tokenizer);
  const std::size_t words = tokens.size();
  for (int64_t n = 2; n <= options.ngrams; ++n) {  // "a b" (and "a b c") after the words
    for (std::size_t i = 0; i + static_cast<std::size_t>(n) <= words; ++i) {
      std::string gram = tokens[i];
      for (int64_t k = 1; k < n; ++k) gram += " " + tokens[i + static_cast<std::size_t>(k)];
      tokens.push_back(std::move(gram));
    }
  }
  if (options.char_max > 0) append_char_ngrams(tokens, words, options.char_min, options.char_max);
  if (options.gloss_wordnet.empty()) return tokens;
  static const std::unordered_set<std::string> stop = {
      "a",  "an",   "the",  "of",   "and",  "or",     "in",  "on",    "to",   "for",   "with",
      "by", "as",   "at",   "from", "its",  "that",   "is",  "which", "one",  "be",    "being",
      "it", "into", "used", "has",  "have", "having", "are", "was",   "this", "their", "who"};
  const WordNet& wordnet = WordNet::shared(options.gloss_wordnet);
  for (std::size_t i = 0; i < words; ++i) {
    std::string word = tokens[i];
    for (auto& c : word) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& g : tokenize(wordnet.gloss(word, options.gloss_senses), options.tokenizer)) {
      if (g != tokens[i] && !stop.count(g)) tokens.push_back(std::move(g));
    }
  }
  return tokens;
}

}  // namespace mmfuse::data::text
