#include "mmfuse/data/text/wordpiece_pipeline.h"

#include <algorithm>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"

namespace mmfuse::data::text {

namespace {

const std::string& wordpiece_text_of(const Field& field) {
  const auto* s = std::get_if<std::string>(&field);
  if (!s) throw InputError("the wordpiece pipeline expected text (a string)");
  return *s;
}

std::string wordpiece_vocab_hash(const WordPieceTokenizer& t) {
  Hasher h;
  for (const auto& token : t.tokens()) h.field(token);
  return h.hex();
}

}  // namespace

WordPiecePipelineOptions WordPiecePipelineOptions::parse(const ConfigNode& cfg,
                                                         const std::string& base_dir) {
  cfg.check_keys({"vocab", "max_len", "lowercase", "strip_accents", "split_cjk"});
  WordPiecePipelineOptions o;
  if (!cfg.has("vocab")) {
    cfg.fail("missing `vocab`: the checkpoint's vocab.txt or tokenizer.json");
  }
  o.vocab = resolve_path(base_dir, cfg.get<std::string>("vocab"));
  o.max_len = cfg.get<int64_t>("max_len", o.max_len);
  if (o.max_len != 0 && o.max_len < 2) {
    cfg["max_len"].fail("expected 0 (variable) or >= 2 ([CLS] and [SEP] count), got " +
                        std::to_string(o.max_len));
  }
  o.tokenizer.lowercase = cfg.get<bool>("lowercase", true);
  o.tokenizer.strip_accents = cfg.get<bool>("strip_accents", o.tokenizer.lowercase);
  o.tokenizer.split_cjk = cfg.get<bool>("split_cjk", true);
  return o;
}

std::shared_ptr<WordPiecePipeline> WordPiecePipeline::create(const PipelineContext& ctx,
                                                             const ConfigNode& cfg) {
  auto options = WordPiecePipelineOptions::parse(cfg, ctx.base_dir);
  try {
    return std::make_shared<WordPiecePipeline>(std::move(options));
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    cfg["vocab"].fail(e.what());
  }
}

WordPiecePipeline::WordPiecePipeline(WordPiecePipelineOptions options)
    : opt_(std::move(options)),
      tokenizer_(WordPieceTokenizer::load(opt_.vocab, opt_.tokenizer)),
      vocab_hash_(wordpiece_vocab_hash(tokenizer_)) {
  opt_.tokenizer = tokenizer_.options();  // a tokenizer.json may set them
}

std::string WordPiecePipeline::cache_key() const {
  const auto& t = opt_.tokenizer;
  return "wordpiece/v1;vocab=" + vocab_hash_ + ";lower=" + std::to_string(t.lowercase) +
         ";accents=" + std::to_string(t.strip_accents) + ";cjk=" + std::to_string(t.split_cjk) +
         ";max_len=" + std::to_string(opt_.max_len);
}

torch::Tensor WordPiecePipeline::extract(const Field& field) const {
  return torch::tensor(tokenizer_.encode(wordpiece_text_of(field), opt_.max_len), torch::kLong);
}

torch::Tensor WordPiecePipeline::finalize(const torch::Tensor& features) const {
  const torch::Tensor ids = features.to(torch::kLong);
  if (opt_.max_len <= 0) return ids;
  auto out = torch::full({opt_.max_len}, tokenizer_.pad_id(), torch::kLong);
  const int64_t n = std::min<int64_t>(ids.numel(), opt_.max_len);
  if (n > 0) out.slice(0, 0, n).copy_(ids.slice(0, 0, n));
  return out;
}

ModalityBatch WordPiecePipeline::collate(const std::vector<torch::Tensor>& items) const {
  const auto b = static_cast<int64_t>(items.size());
  int64_t t = opt_.max_len;
  if (t <= 0) {
    t = 2;
    for (const auto& x : items) {
      if (x.defined()) t = std::max(t, x.numel());
    }
  }
  auto data = torch::full({b, t}, tokenizer_.pad_id(), torch::kLong);
  auto present = torch::zeros({b}, torch::kBool);
  auto lengths = torch::zeros({b}, torch::kLong);
  for (int64_t i = 0; i < b; ++i) {
    const auto& x = items[static_cast<std::size_t>(i)];
    if (!x.defined()) continue;
    const int64_t n = std::min(x.numel(), t);
    if (n > 0) data[i].slice(0, 0, n).copy_(x.slice(0, 0, n));
    present[i] = true;
    // [SEP] ends every text; past it is padding.
    lengths[i] = opt_.max_len > 0 ? x.ne(tokenizer_.pad_id()).sum().item<int64_t>() : n;
  }
  return {data, present, lengths};
}

std::vector<int64_t> WordPiecePipeline::item_shape() const {
  return {opt_.max_len > 0 ? opt_.max_len : -1};
}

nlohmann::json WordPiecePipeline::state() const {
  const auto& t = opt_.tokenizer;
  return {{"vocab_size", tokenizer_.size()},
          {"vocab_hash", vocab_hash_},
          {"lowercase", t.lowercase},
          {"strip_accents", t.strip_accents},
          {"split_cjk", t.split_cjk}};
}

void WordPiecePipeline::load_state(const nlohmann::json& state) {
  if (state.value("vocab_hash", vocab_hash_) != vocab_hash_) {
    throw Error("the wordpiece vocabulary " + opt_.vocab + " (" +
                std::to_string(tokenizer_.size()) + " tokens) is not the one the model was " +
                "trained with (" + std::to_string(state.value("vocab_size", int64_t{0})) +
                " tokens, hash " + state.value("vocab_hash", std::string()) +
                "); point `vocab` at the training vocabulary");
  }
  const auto& t = opt_.tokenizer;
  if (state.value("lowercase", t.lowercase) != t.lowercase ||
      state.value("strip_accents", t.strip_accents) != t.strip_accents ||
      state.value("split_cjk", t.split_cjk) != t.split_cjk) {
    throw Error(
        "the wordpiece options (lowercase, strip_accents, split_cjk) differ from the ones "
        "the model was trained with: " +
        state.dump());
  }
}

}  // namespace mmfuse::data::text
