// The text modality of the default dataset: a digit written as a word in one of several
// languages, sometimes with character-level typos, sometimes absent.
#pragma once

#include <array>
#include <optional>
#include <string>

#include "mmfuse/data/default_dataset/common.h"

namespace mmfuse::data::default_dataset {

struct TextOptions {
  /// Probability that a sample has no text at all (the manifest omits the key).
  double absent_prob = 0.25;
  /// Probability that a present text carries typos (one edit, sometimes two).
  double typo_prob = 0.35;
  /// Probability that a text with typos gets a second edit.
  double second_typo_prob = 0.4;
  /// Relative weight of each language (by index_of(Language)); equal by default, so the text
  /// gives no hint of which voice speaks.
  std::array<double, kNumLanguages> language_weights = {1, 1, 1, 1, 1, 1, 1, 1};
};

/// The digit (0..9) as a word: "seven", "七", "siete", "sept", "sieben", "sette", "sete", "なな".
const std::string& digit_word(Language language, int digit);

/// `word` with `edits` random code-point edits (insert, delete, substitute, swap of neighbours),
/// each drawn from the word's own script (Latin letters, hiragana or common non-numeral hanzi).
/// Always valid UTF-8 and never empty.
std::string apply_typos(const std::string& word, int edits, Rng& rng);

struct DrawnText {
  Language language = Language::en;
  std::optional<std::string> text;  ///< nullopt when absent
  int typos = 0;
};

/// A text for `digit` following `options`.
DrawnText draw_text(int digit, const TextOptions& options, Rng& rng);

}  // namespace mmfuse::data::default_dataset
