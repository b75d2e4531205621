// The "text" data pipeline: UTF-8 text -> tokens -> vocabulary ids (extract) -> token dropout /
// adjacent swaps (augment, training only) -> ids [max_len] or [T], bag-of-words counts [V] or
// TF-IDF [V] (finalize).
//
// Config (all optional):
//   output: ids               # ids | bow | tfidf
//   max_len: 32               # ids only: pad/truncate to this length; 0 or absent: variable
//                             # length (collate pads and reports lengths)
//   min_freq: 1               # keep tokens seen at least this often in the training split
//   max_size: 0               # cap on the vocabulary size, specials included (0: no cap)
//   lowercase: true
//   keep_punctuation: false
//   urls: split               # split | keep (one token) | placeholder ("<url>"); tokenizer.h
//   mentions: split           # split | keep ("@name") | placeholder ("<user>")
//   hashtags: false           # true: "#tag" one token
//   emoji: false              # true: emoji are tokens even without keep_punctuation
//   ngrams: 1                 # bow/tfidf: also word bigrams (2) or trigrams (3), "a b"
//   char_ngrams: [2, 5]       # also the character n-grams (n from 2 to 5) of each
//                             # word padded with spaces, as sklearn's analyzer="char_wb"; stored
//                             # in the vocabulary with one leading space (" " + " go") so that
//                             # they never collide with a word; with `output: ids` they follow
//                             # the words (an embedding bag over words and subwords, as fastText)
//   sublinear_tf: false       # tfidf: 1 + ln(count) instead of the count (sklearn's option)
//   augment: {token_dropout: 0.1, token_swap: 0.1}   # probabilities per token
//   gloss: {wordnet: /usr/share/wordnet, senses: 2}  # append each token's WordNet synonyms and
//                             # definitions (stop words dropped) to the tokens; see wordnet.h
//
// TF-IDF follows sklearn's TfidfVectorizer defaults: raw counts x smoothed idf
// (ln((1 + N) / (1 + df)) + 1, N training documents, df documents containing the token), rows
// L2-normalised; out-of-vocabulary tokens are ignored, as sklearn does (bag-of-words counts them
// in the <unk> column). Words, word n-grams and character n-grams share one vocabulary, one idf
// and one norm (sklearn with an analyzer returning all three).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/data/pipeline.h"
#include "mmfuse/data/pipeline_registry.h"
#include "mmfuse/data/text/tokenizer.h"
#include "mmfuse/data/text/vocabulary.h"

namespace mmfuse::data::text {

enum class TextOutput { ids, bow, tfidf };

/// "ids", "bow", "tfidf".
std::string to_string(TextOutput o);
/// Inverse of to_string; an unknown name fails at `cfg`'s path listing the known ones.
TextOutput text_output_from_string(const std::string& name, const ConfigNode& cfg);

struct TextOptions {
  TextOutput output = TextOutput::ids;
  int64_t max_len = 0;  ///< ids: fixed length; 0: variable
  int64_t min_freq = 1;
  int64_t max_size = 0;  ///< 0: no cap
  TokenizerOptions tokenizer;
  double token_dropout = 0.0;  ///< probability of dropping each token (training only)
  double token_swap = 0.0;     ///< probability of swapping each token with the next one
  std::string gloss_wordnet;   ///< WordNet folder; "" = no gloss expansion
  int gloss_senses = 1;        ///< senses per word whose glosses are appended
  int64_t ngrams = 1;          ///< bow/tfidf: word n-grams up to this n appended to the tokens
  int64_t char_min = 0;        ///< character n-grams from char_min to char_max (0: none)
  int64_t char_max = 0;
  bool sublinear_tf = false;  ///< tfidf: 1 + ln(count)

  static TextOptions parse(const ConfigNode& cfg);
};

/// The tokens of `text`: tokenize(), its word n-grams, its words' character n-grams (char_wb),
/// then, with gloss expansion, each word's WordNet gloss tokens (stop words and the word itself
/// left out).
std::vector<std::string> text_tokens(const std::string& text, const TextOptions& options);

class TextPipeline : public ModalityPipeline {
 public:
  static constexpr const char* kName = "text";
  static constexpr const char* kDescription =
      "UTF-8 text -> token ids [T], bag-of-words [V] or TF-IDF [V] over a fitted vocabulary";
  static std::shared_ptr<TextPipeline> create(const PipelineContext& ctx, const ConfigNode& cfg);

  explicit TextPipeline(TextOptions options);

  Modality modality() const override { return Modality::text; }
  bool cacheable() const override { return false; }
  std::string cache_key() const override;

  /// Builds the vocabulary (and the idf) from the training split's strings.
  void fit(const FitContext& ctx) override;
  /// text -> ids [n] int64 (kUnk for unknown tokens). Requires: fitted or loaded.
  /// Throws InputError for a non-text field or invalid UTF-8 (naming the byte offset).
  torch::Tensor extract(const Field& field) const override;
  /// ids [n] -> ids with tokens dropped and adjacent pairs swapped (never drops all tokens).
  torch::Tensor augment(const Field& field, const torch::Tensor& features, Rng& rng) const override;
  /// ids [n] -> ids [max_len] (or [n]) int64 | counts [V] float | TF-IDF [V] float.
  torch::Tensor finalize(const torch::Tensor& features) const override;
  /// ids: data [B, T] int64 padded with <pad>, lengths [B]; bow/tfidf: [B, V].
  ModalityBatch collate(const std::vector<torch::Tensor>& items) const override;
  /// [max_len], [-1] (variable ids), or [V] (-1 before fit).
  std::vector<int64_t> item_shape() const override;

  /// {"output", "vocabulary": {"tokens": [...]}, "idf": [...] (tfidf)}.
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

  const TextOptions& options() const { return opt_; }
  bool fitted() const { return vocab_.has_value(); }
  /// Requires: fitted().
  const Vocabulary& vocabulary() const;
  /// Vocabulary size (specials included); 0 before fit.
  int64_t vocab_size() const { return vocab_ ? vocab_->size() : 0; }
  /// Smoothed idf per id ([V]; 0 for the specials); undefined unless output is tfidf.
  const torch::Tensor& idf() const { return idf_; }

 private:
  TextOptions opt_;
  std::optional<Vocabulary> vocab_;
  torch::Tensor idf_;  ///< [V] float
};

}  // namespace mmfuse::data::text
