// The text pipeline (text_pipeline.h): vocabulary and idf fitting, ids, augmentation, bag-of-words
// and TF-IDF rows; its options and tokens are in text_options.cpp.
#include "mmfuse/data/text/text_pipeline.h"

#include <cmath>
#include <random>

#include "mmfuse/core/error.h"

namespace mmfuse::data::text {

namespace {

const std::string& text_of(const Field& field) {
  const auto* s = std::get_if<std::string>(&field);
  if (!s) {
    static const char* kinds[] = {"an image", "an audio reference", "text", "a list of numbers"};
    throw InputError(std::string("the text pipeline expected a string, got ") +
                     kinds[field.index()]);
  }
  return *s;
}

}  // namespace

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
