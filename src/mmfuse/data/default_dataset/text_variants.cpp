#include "mmfuse/data/default_dataset/text_variants.h"

#include <vector>

#include "mmfuse/core/utf8.h"

namespace mmfuse::data::default_dataset {

namespace {

using Words = std::array<std::string, 10>;

const std::array<Words, kNumLanguages>& word_table() {
  static const std::array<Words, kNumLanguages> table = {{
      {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"},
      {"零", "一", "二", "三", "四", "五", "六", "七", "八", "九"},
      {"cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve"},
      {"zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf"},
      {"null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun"},
      {"zero", "uno", "due", "tre", "quattro", "cinque", "sei", "sette", "otto", "nove"},
      {"zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove"},
      {"ゼロ", "いち", "に", "さん", "よん", "ご", "ろく", "なな", "はち", "きゅう"},
  }};
  return table;
}

// Frequent hanzi that are not numerals: a substituted or inserted character never reads as
// another digit.
constexpr char32_t kHanzi[] = {U'的', U'是', U'不', U'了', U'人', U'我', U'在', U'有',
                               U'他', U'这', U'中', U'大', U'来', U'上', U'国', U'个'};

// A random code point of the same script as `like`.
char32_t random_code_point(char32_t like, Rng& rng) {
  if (like >= 0x3040 && like <= 0x30FF) {  // hiragana / katakana: a hiragana letter
    return static_cast<char32_t>(uniform_int(rng, 0x3042, 0x3093));
  }
  if (like >= 0x4E00 && like <= 0x9FFF) {
    return kHanzi[uniform_int(rng, 0, static_cast<int>(std::size(kHanzi)) - 1)];
  }
  return static_cast<char32_t>(uniform_int(rng, 'a', 'z'));
}

}  // namespace

const std::string& digit_word(Language language, int digit) {
  return word_table().at(index_of(language)).at(static_cast<std::size_t>(digit));
}

std::string apply_typos(const std::string& word, int edits, Rng& rng) {
  std::vector<char32_t> cps = utf8::decode(word);
  const char32_t script = cps.empty() ? U'a' : cps.front();
  for (int e = 0; e < edits; ++e) {
    const int n = static_cast<int>(cps.size());
    // 0 insert, 1 delete, 2 substitute, 3 swap; delete needs 2+ code points, swap 2+ too.
    int op = uniform_int(rng, 0, 3);
    if (n < 2 && (op == 1 || op == 3)) op = op == 1 ? 0 : 2;
    if (op == 0) {
      cps.insert(cps.begin() + uniform_int(rng, 0, n), random_code_point(script, rng));
    } else if (op == 1) {
      cps.erase(cps.begin() + uniform_int(rng, 0, n - 1));
    } else if (op == 2) {
      const int at = uniform_int(rng, 0, n - 1);
      char32_t replacement = random_code_point(script, rng);
      for (int tries = 0; replacement == cps[at] && tries < 8; ++tries) {
        replacement = random_code_point(script, rng);
      }
      cps[at] = replacement;
    } else {
      const int at = uniform_int(rng, 0, n - 2);
      std::swap(cps[at], cps[at + 1]);
    }
  }
  return utf8::encode(cps);
}

DrawnText draw_text(int digit, const TextOptions& options, Rng& rng) {
  DrawnText out;
  std::discrete_distribution<int> pick(options.language_weights.begin(),
                                       options.language_weights.end());
  out.language = kAllLanguages.at(static_cast<std::size_t>(pick(rng)));
  const bool absent = bernoulli(rng, options.absent_prob);
  const bool typo = bernoulli(rng, options.typo_prob);
  out.typos = typo ? 1 + (bernoulli(rng, options.second_typo_prob) ? 1 : 0) : 0;
  if (absent) {
    out.typos = 0;
    return out;
  }
  out.text = apply_typos(digit_word(out.language, digit), out.typos, rng);
  return out;
}

}  // namespace mmfuse::data::default_dataset
