// BERT's tokenizer: BasicTokenizer (clean-up, CJK characters split, NFC, lower-casing, accent
// stripping, punctuation split) then WordPiece (greedy longest-match-first with "##"), as Hugging
// Face's BertTokenizer does. The vocabulary comes from a `vocab.txt` (one token per line, id =
// line number) or a `tokenizer.json` whose model is WordPiece (its normalizer's lowercase /
// strip_accents / handle_chinese_chars are read too).
//
// The Unicode work (NFC and NFD, full lower-case mapping, general categories Mn, Cc, Cf, Zs, P*)
// is ICU's (libicu-dev), the same tables Python's unicodedata and str.lower() follow.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace mmfuse::data::text {

struct WordPieceOptions {
  /// Lower-case (full Unicode mapping) before splitting.
  bool lowercase = true;
  /// NFD, then drop non-spacing marks (Mn): "Café" -> "cafe". BERT ties it to lowercase.
  bool strip_accents = true;
  /// Each CJK Unified Ideograph (and compatibility / extension) is its own word.
  bool split_cjk = true;
  /// Longer words (in code points) become the unknown token as a whole.
  int64_t max_chars_per_word = 100;
  /// Sub-word continuation prefix.
  std::string continuing_prefix = "##";
};

class WordPieceTokenizer {
 public:
  /// Reads `path`: a `.json` file is a Hugging Face tokenizer.json (model.type WordPiece; its
  /// normalizer's flags override `options`), anything else a vocab.txt. Throws Error naming the
  /// file (and line) for an unreadable file, duplicates or a missing special token.
  static WordPieceTokenizer load(const std::string& path, WordPieceOptions options = {});

  /// tokens[i] has id i; the specials [PAD], [UNK], [CLS] and [SEP] must be among them.
  WordPieceTokenizer(std::vector<std::string> tokens, WordPieceOptions options);

  /// BasicTokenizer: the words and punctuation marks of `text` (UTF-8), normalised. The special
  /// tokens ([CLS], [SEP], [PAD], [UNK], [MASK]) pass through unchanged, as in BertTokenizer.
  /// Throws InputError for invalid UTF-8.
  std::vector<std::string> basic_tokens(std::string_view text) const;
  /// WordPiece of one word: ["un", "##aff", "##able"], or [UNK] when it cannot be covered.
  std::vector<int64_t> word_ids(const std::string& word) const;
  /// [CLS] ids(text) [SEP], the middle truncated so the whole is at most `max_len` ids
  /// (0: no limit; max_len >= 2 otherwise).
  std::vector<int64_t> encode(std::string_view text, int64_t max_len = 0) const;

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  const std::vector<std::string>& tokens() const { return tokens_; }
  const WordPieceOptions& options() const { return options_; }
  int64_t pad_id() const { return pad_; }
  int64_t unk_id() const { return unk_; }
  int64_t cls_id() const { return cls_; }
  int64_t sep_id() const { return sep_; }
  /// Id of `token`, or -1.
  int64_t find(const std::string& token) const;

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
  WordPieceOptions options_;
  int64_t pad_ = -1, unk_ = -1, cls_ = -1, sep_ = -1;
};

}  // namespace mmfuse::data::text
