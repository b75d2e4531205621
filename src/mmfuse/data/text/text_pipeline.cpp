#include "mmfuse/data/text/text_pipeline.h"

#include <cctype>
#include <cmath>
#include <random>
#include <unordered_set>

#include "mmfuse/core/error.h"
#include "mmfuse/core/utf8.h"
#include "mmfuse/data/text/wordnet.h"

namespace mmfuse::data::text {

namespace {

const std::vector<std::pair<TextOutput, std::string>>& output_names() {
  static const std::vector<std::pair<TextOutput, std::string>> names = {
      {TextOutput::ids, "ids"}, {TextOutput::bow, "bow"}, {TextOutput::tfidf, "tfidf"}};
  return names;
}

const std::string& text_of(const Field& field) {
  const auto* s = std::get_if<std::string>(&field);
  if (!s) {
    static const char* kinds[] = {"an image", "an audio reference", "text", "a list of numbers"};
    throw InputError(std::string("the text pipeline expected a string, got ") +
                     kinds[field.index()]);
  }
  return *s;
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

std::shared_ptr<TextPipeline> TextPipeline::create(const PipelineContext& ctx,
                                                   const ConfigNode& cfg) {
  return std::make_shared<TextPipeline>(TextOptions::parse(cfg));
}

TextPipeline::TextPipeline(TextOptions options) : opt_(std::move(options)) {}

std::string TextPipeline::cache_key() const {
  return "text/v1;lowercase=" + std::to_string(opt_.tokenizer.lowercase) +
         ";punct=" + std::to_string(opt_.tokenizer.keep_punctuation) +
         ";tweet=" + std::to_string(static_cast<int>(opt_.tokenizer.urls)) +
         std::to_string(static_cast<int>(opt_.tokenizer.mentions)) +
         std::to_string(opt_.tokenizer.keep_hashtags) + std::to_string(opt_.tokenizer.keep_emoji) +
         ";ngrams=" + std::to_string(opt_.ngrams) +
         (opt_.char_max > 0
              ? ";char=" + std::to_string(opt_.char_min) + "-" + std::to_string(opt_.char_max)
              : std::string()) +
         (opt_.sublinear_tf ? ";sublinear" : "") +
         (opt_.gloss_wordnet.empty()
              ? std::string()
              : ";gloss=" + opt_.gloss_wordnet + "/" + std::to_string(opt_.gloss_senses));
}

const Vocabulary& TextPipeline::vocabulary() const {
  if (!vocab_) {
    throw Error(
        "the text pipeline has no vocabulary yet: call fit() on the training split or "
        "load_state() from a saved model first");
  }
  return *vocab_;
}

void TextPipeline::fit(const FitContext& ctx) {
  std::vector<std::vector<std::string>> docs;
  docs.reserve(ctx.size);
  for (std::size_t i = 0; i < ctx.size; ++i) {
    docs.push_back(text_tokens(text_of(ctx.field(i)), opt_));
  }
  vocab_ = Vocabulary::build(Vocabulary::count(docs), opt_.min_freq, opt_.max_size);
  idf_ = torch::Tensor();
  if (opt_.output != TextOutput::tfidf) return;
  std::vector<int64_t> df(static_cast<std::size_t>(vocab_->size()), 0);
  for (const auto& doc : docs) {
    std::vector<int64_t> ids = vocab_->encode(doc);
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    for (int64_t id : ids) ++df[static_cast<std::size_t>(id)];
  }
  const double n = static_cast<double>(docs.size());
  std::vector<float> idf(df.size(), 0.f);  // the specials stay 0: OOV tokens are ignored
  for (std::size_t id = 2; id < df.size(); ++id) {
    idf[id] = static_cast<float>(std::log((1.0 + n) / (1.0 + static_cast<double>(df[id]))) + 1.0);
  }
  idf_ = torch::tensor(idf);
}

torch::Tensor TextPipeline::extract(const Field& field) const {
  const Vocabulary& v = vocabulary();
  std::vector<int64_t> ids = v.encode(text_tokens(text_of(field), opt_));
  return torch::tensor(ids, torch::kLong);
}

torch::Tensor TextPipeline::augment(const Field& field, const torch::Tensor& features,
                                    Rng& rng) const {
  if (opt_.token_dropout <= 0 && opt_.token_swap <= 0) return features;
  const torch::Tensor in = features.to(torch::kLong).contiguous();
  const int64_t* p = in.data_ptr<int64_t>();
  std::vector<int64_t> ids;
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  if (opt_.token_dropout > 0) {
    for (int64_t i = 0; i < in.numel(); ++i) {
      if (unit(rng) >= opt_.token_dropout) ids.push_back(p[i]);
    }
    if (ids.empty()) ids.assign(p, p + in.numel());  // never drop every token
  } else {
    ids.assign(p, p + in.numel());
  }
  if (opt_.token_swap > 0) {
    for (std::size_t i = 0; i + 1 < ids.size();) {
      if (unit(rng) < opt_.token_swap) {
        std::swap(ids[i], ids[i + 1]);
        i += 2;  // a token moves at most one place
      } else {
        i += 1;
      }
    }
  }
  return torch::tensor(ids, torch::kLong);
}

torch::Tensor TextPipeline::finalize(const torch::Tensor& features) const {
  const torch::Tensor ids = features.to(torch::kLong);
  if (opt_.output == TextOutput::ids) {
    if (opt_.max_len <= 0) return ids;
    auto out = torch::full({opt_.max_len}, Vocabulary::kPad, torch::kLong);
    const int64_t n = std::min<int64_t>(ids.numel(), opt_.max_len);
    if (n > 0) out.slice(0, 0, n).copy_(ids.slice(0, 0, n));
    return out;
  }
  const int64_t v = vocabulary().size();
  auto counts = torch::bincount(ids, /*weights=*/{}, v).to(torch::kFloat);  // [V]
  if (opt_.output == TextOutput::bow) return counts;
  if (!idf_.defined()) {
    throw Error("the text pipeline has no idf: fit() or load_state() with output: tfidf first");
  }
  if (opt_.sublinear_tf) counts = torch::where(counts > 0, counts.log() + 1, counts);
  auto x = counts * idf_;
  const double norm = x.norm().item<double>();
  return norm > 0 ? x / norm : x;
}

ModalityBatch TextPipeline::collate(const std::vector<torch::Tensor>& items) const {
  if (opt_.output != TextOutput::ids) return ModalityPipeline::collate(items);
  const auto b = static_cast<int64_t>(items.size());
  int64_t t = opt_.max_len;
  if (t <= 0) {
    t = 1;  // never a zero-width batch
    for (const auto& x : items) {
      if (x.defined()) t = std::max(t, x.numel());
    }
  }
  auto data = torch::full({b, t}, Vocabulary::kPad, torch::kLong);
  auto present = torch::zeros({b}, torch::kBool);
  auto lengths = torch::zeros({b}, torch::kLong);
  for (int64_t i = 0; i < b; ++i) {
    const auto& x = items[static_cast<std::size_t>(i)];
    if (!x.defined()) continue;
    const int64_t n = std::min(x.numel(), t);
    if (n > 0) data[i].slice(0, 0, n).copy_(x.slice(0, 0, n));
    present[i] = true;
    // With a fixed max_len the padding is the <pad> ids at the end.
    lengths[i] = opt_.max_len > 0 ? x.ne(Vocabulary::kPad).sum().item<int64_t>() : n;
  }
  return {data, present, lengths};
}

std::vector<int64_t> TextPipeline::item_shape() const {
  if (opt_.output == TextOutput::ids) return {opt_.max_len > 0 ? opt_.max_len : -1};
  return {vocab_ ? vocab_->size() : -1};
}

nlohmann::json TextPipeline::state() const {
  nlohmann::json j = {{"output", to_string(opt_.output)}};
  if (vocab_) j["vocabulary"] = vocab_->to_json();
  if (idf_.defined()) {
    auto c = idf_.contiguous();
    j["idf"] = std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return j;
}

void TextPipeline::load_state(const nlohmann::json& state) {
  try {
    if (state.contains("output") && state["output"].get<std::string>() != to_string(opt_.output)) {
      throw Error("text pipeline state is for `output: " + state["output"].get<std::string>() +
                  "` but the config asks for `output: " + to_string(opt_.output) +
                  "`; use the config the model was trained with");
    }
    if (!state.contains("vocabulary")) return;
    Vocabulary v = Vocabulary::from_json(state["vocabulary"]);
    torch::Tensor idf;
    if (state.contains("idf")) {
      idf = torch::tensor(state["idf"].get<std::vector<float>>());
      if (idf.numel() != v.size()) {
        throw Error("text pipeline state has " + std::to_string(idf.numel()) + " idf values for " +
                    std::to_string(v.size()) + " tokens");
      }
    } else if (opt_.output == TextOutput::tfidf) {
      throw Error("text pipeline state has no idf, which `output: tfidf` needs");
    }
    vocab_ = std::move(v);
    idf_ = idf;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed text pipeline state (") + e.what() + ")");
  }
}

}  // namespace mmfuse::data::text
