// The "wordpiece" data pipeline: text through BERT's tokenizer (wordpiece.h) into
// [CLS] ... [SEP] ids, for the `bert` encoder (or any encoder over token ids).
//
//   modalities:
//     text:
//       pipeline: wordpiece
//       vocab: bert/vocab.txt     # or a tokenizer.json (WordPiece); relative to the spec's folder
//       max_len: 128              # ids per text, [CLS] and [SEP] included (0: variable length)
//       lowercase: true           # uncased models; false for cased ones
//       strip_accents: true       # default: as lowercase (BERT's rule)
//       split_cjk: true
//
// Nothing is fitted: the vocabulary is the checkpoint's. Items are ids [max_len] padded with
// [PAD] (or [n]); batches carry the lengths, from which the encoder masks attention. The run
// saves the vocabulary's size and hash and refuses a different one at load.
#pragma once

#include <memory>
#include <string>

#include "mmfuse/core/config.h"
#include "mmfuse/data/pipeline.h"
#include "mmfuse/data/pipeline_registry.h"
#include "mmfuse/data/text/wordpiece.h"

namespace mmfuse::data::text {

struct WordPiecePipelineOptions {
  std::string vocab;      ///< vocab.txt or tokenizer.json (resolved)
  int64_t max_len = 128;  ///< 0: variable length
  WordPieceOptions tokenizer;

  /// Errors name the config path; relative files resolve against `base_dir`.
  static WordPiecePipelineOptions parse(const ConfigNode& cfg, const std::string& base_dir);
};

class WordPiecePipeline : public ModalityPipeline {
 public:
  static constexpr const char* kName = "wordpiece";
  static constexpr const char* kDescription =
      "UTF-8 text -> BERT WordPiece ids [CLS] ... [SEP] (vocab.txt or tokenizer.json)";
  static std::shared_ptr<WordPiecePipeline> create(const PipelineContext& ctx,
                                                   const ConfigNode& cfg);

  explicit WordPiecePipeline(WordPiecePipelineOptions options);

  Modality modality() const override { return Modality::text; }
  std::string cache_key() const override;
  /// text -> ids [n] int64 ([CLS] ... [SEP], truncated to max_len). Throws InputError for a
  /// non-text field or invalid UTF-8.
  torch::Tensor extract(const Field& field) const override;
  /// ids [n] -> ids [max_len] padded with [PAD] (or [n]).
  torch::Tensor finalize(const torch::Tensor& features) const override;
  /// data [B, T] int64 padded with [PAD], lengths [B].
  ModalityBatch collate(const std::vector<torch::Tensor>& items) const override;
  std::vector<int64_t> item_shape() const override;

  /// {"vocab_size", "vocab_hash", "lowercase", "strip_accents", "split_cjk"}.
  nlohmann::json state() const override;
  /// Throws Error when the saved vocabulary or options differ from this pipeline's.
  void load_state(const nlohmann::json& state) override;

  const WordPieceTokenizer& tokenizer() const { return tokenizer_; }
  int64_t vocab_size() const { return tokenizer_.size(); }

 private:
  WordPiecePipelineOptions opt_;
  WordPieceTokenizer tokenizer_;
  std::string vocab_hash_;
};

}  // namespace mmfuse::data::text
