#include "mmfuse/data/text/tokenizer.h"

#include <cctype>

#include "mmfuse/core/error.h"
#include "mmfuse/core/utf8.h"

namespace mmfuse::data::text {

namespace {

bool in(char32_t cp, char32_t lo, char32_t hi) {
  return cp >= lo && cp <= hi;
}

bool is_space(char32_t cp) {
  return cp <= 0x20 || in(cp, 0x7F, 0xA0) || cp == 0xAD || cp == 0x1680 || in(cp, 0x2000, 0x200F) ||
         in(cp, 0x2028, 0x202F) || in(cp, 0x205F, 0x206F) || cp == 0x3000 ||
         in(cp, 0xFE00, 0xFE0F) || cp == 0xFEFF || in(cp, 0xE0000, 0xE01EF);
}

bool is_cjk(char32_t cp) {
  return in(cp, 0x3040, 0x309F) ||                            // Hiragana
         in(cp, 0x30A1, 0x30FA) || in(cp, 0x30FC, 0x30FF) ||  // Katakana (not ゠ and ・)
         in(cp, 0x31F0, 0x31FF) ||                            // Katakana Phonetic Extensions
         in(cp, 0x3400, 0x4DBF) ||                            // CJK Unified Ideographs Extension A
         in(cp, 0x4E00, 0x9FFF) ||                            // CJK Unified Ideographs
         in(cp, 0xAC00, 0xD7AF) ||                            // Hangul Syllables
         in(cp, 0xF900, 0xFAFF) ||                            // CJK Compatibility Ideographs
         in(cp, 0xFF66, 0xFF9F) ||                            // Halfwidth Katakana
         in(cp, 0x20000, 0x323AF) ||  // Extensions B-H, Compatibility Supplement
         in(cp, 0x3005, 0x3007) || in(cp, 0x3021, 0x3029) ||      // 々〆〇, Hangzhou numerals
         in(cp, 0x3031, 0x3035) || cp == 0x303B || cp == 0x303C;  // kana repeat marks
}

bool is_punctuation(char32_t cp) {
  if (cp < 0x80) {
    return in(cp, 0x21, 0x2F) || in(cp, 0x3A, 0x40) || in(cp, 0x5B, 0x60) || in(cp, 0x7B, 0x7E);
  }
  if (cp < 0x100) {  // Latin-1: punctuation and symbols, not ª ² ³ µ ¹ º ¼ ½ ¾
    return (in(cp, 0xA1, 0xBF) && cp != 0xAA && cp != 0xB2 && cp != 0xB3 && cp != 0xB5 &&
            cp != 0xB9 && cp != 0xBA && !in(cp, 0xBC, 0xBE)) ||
           cp == 0xD7 || cp == 0xF7;
  }
  return in(cp, 0x2010, 0x2027) || in(cp, 0x2030, 0x205E) ||  // General Punctuation
         in(cp, 0x20A0, 0x20CF) ||                            // Currency Symbols
         in(cp, 0x2100, 0x214F) ||                            // Letterlike Symbols
         in(cp, 0x2190, 0x2BFF) ||        // arrows, math, technical, box drawing, dingbats...
         in(cp, 0x2E00, 0x2E7F) ||        // Supplemental Punctuation
         in(cp, 0x3001, 0x303F) ||        // CJK Symbols and Punctuation (letters excluded above)
         cp == 0x30A0 || cp == 0x30FB ||  // ゠ ・
         in(cp, 0xFE10, 0xFE1F) || in(cp, 0xFE30, 0xFE6F) ||  // vertical, compat, small forms
         in(cp, 0xFF01, 0xFF0F) || in(cp, 0xFF1A, 0xFF20) ||  // fullwidth punctuation
         in(cp, 0xFF3B, 0xFF40) || in(cp, 0xFF5B, 0xFF65) || in(cp, 0xFFE0, 0xFFEE) ||
         in(cp, 0x1F000, 0x1FBFF);  // emoji, pictographs, game symbols
}

}  // namespace

CharClass classify(char32_t cp) {
  if (is_space(cp)) return CharClass::space;
  if (is_cjk(cp)) return CharClass::cjk;  // before punctuation: 々〆〇 sit in U+3000-U+303F
  if (is_punctuation(cp)) return CharClass::punctuation;
  return CharClass::word;
}

char32_t to_lower(char32_t cp) {
  if (in(cp, U'A', U'Z')) return cp + 32;
  if (cp < 0xC0) return cp;
  if (in(cp, 0xC0, 0xDE) && cp != 0xD7) return cp + 32;  // Latin-1 Supplement
  if (in(cp, 0x100, 0x17F)) {                            // Latin Extended-A
    if (cp == 0x130) return U'i';                        // İ
    if (cp == 0x178) return 0xFF;                        // Ÿ
    const bool even = cp % 2 == 0;
    if (in(cp, 0x100, 0x137) || in(cp, 0x14A, 0x177)) return even ? cp + 1 : cp;
    if (in(cp, 0x139, 0x148) || in(cp, 0x179, 0x17E)) return even ? cp : cp + 1;
    return cp;  // ĸ ŉ ſ
  }
  if (in(cp, 0x391, 0x3A9) && cp != 0x3A2) return cp + 32;  // Greek
  if (cp == 0x386) return 0x3AC;
  if (in(cp, 0x388, 0x38A)) return cp + 37;
  if (cp == 0x38C) return 0x3CC;
  if (in(cp, 0x38E, 0x38F)) return cp + 63;
  if (in(cp, 0x410, 0x42F)) return cp + 32;  // Cyrillic
  if (in(cp, 0x400, 0x40F)) return cp + 80;
  if (in(cp, 0xFF21, 0xFF3A)) return cp + 32;  // fullwidth Latin
  return cp;
}

bool special_from_string(const std::string& name, TokenizerOptions::Special& out) {
  if (name == "split") return out = TokenizerOptions::Special::split, true;
  if (name == "keep") return out = TokenizerOptions::Special::keep, true;
  if (name == "placeholder") return out = TokenizerOptions::Special::placeholder, true;
  return false;
}

namespace {

bool tweet_starts_with(const std::vector<char32_t>& cps, std::size_t i, std::u32string_view p) {
  if (i + p.size() > cps.size()) return false;
  for (std::size_t k = 0; k < p.size(); ++k) {
    if (to_lower(cps[i + k]) != p[k]) return false;
  }
  return true;
}

bool tweet_is_emoji(char32_t cp) {
  return (cp >= 0x1F000 && cp <= 0x1FBFF) || (cp >= 0x2600 && cp <= 0x27BF);
}

bool tweet_name_char(char32_t cp) {
  return cp == U'_' || (cp < 0x80 && std::isalnum(static_cast<int>(cp)));
}

// The length of the social-media token (URL, mention, hashtag) starting at cps[i], or 0.
std::size_t tweet_special_length(const std::vector<char32_t>& cps, std::size_t i,
                                 const TokenizerOptions& opt) {
  std::size_t j = i;
  if (opt.urls != TokenizerOptions::Special::split &&
      (tweet_starts_with(cps, i, U"http://") || tweet_starts_with(cps, i, U"https://") ||
       tweet_starts_with(cps, i, U"www."))) {
    while (j < cps.size() && classify(cps[j]) != CharClass::space) ++j;
    return j - i;
  }
  if (opt.mentions != TokenizerOptions::Special::split && cps[i] == U'@') {
    for (j = i + 1; j < cps.size() && tweet_name_char(cps[j]);) ++j;
    return j > i + 1 ? j - i : 0;
  }
  if (opt.keep_hashtags && cps[i] == U'#') {
    for (j = i + 1; j < cps.size(); ++j) {
      const CharClass c = classify(cps[j]);
      if (cps[j] != U'_' && c != CharClass::word && c != CharClass::cjk) break;
    }
    return j > i + 1 ? j - i : 0;
  }
  return 0;
}

}  // namespace

std::vector<std::string> tokenize(std::string_view text, const TokenizerOptions& opt) {
  if (auto bad = utf8::find_invalid(text)) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(*bad) +
                     " (expected UTF-8 text; re-encode the input as UTF-8)");
  }
  std::vector<std::string> tokens;
  std::string word;
  auto flush = [&] {
    if (!word.empty()) tokens.push_back(std::move(word));
    word.clear();
  };
  const std::vector<char32_t> cps = utf8::decode(text);
  for (std::size_t i = 0; i < cps.size(); ++i) {
    char32_t cp = cps[i];
    // A URL, mention or hashtag starts a token (not in the middle of a word: "a@b.c").
    if (word.empty()) {
      if (const std::size_t n = tweet_special_length(cps, i, opt)) {
        const bool url = cp != U'@' && cp != U'#';
        const auto mode = url          ? opt.urls
                          : cp == U'@' ? opt.mentions
                                       : TokenizerOptions::Special::keep;
        if (mode == TokenizerOptions::Special::placeholder) {
          tokens.emplace_back(url ? "<url>" : "<user>");
        } else {
          std::string& t = tokens.emplace_back();
          for (std::size_t k = i; k < i + n; ++k)
            utf8::append(t, opt.lowercase ? to_lower(cps[k]) : cps[k]);
        }
        i += n - 1;
        continue;
      }
    }
    if (opt.lowercase) cp = to_lower(cp);
    switch (classify(cp)) {
      case CharClass::space:
        flush();
        break;
      case CharClass::word:
        utf8::append(word, cp);
        break;
      case CharClass::punctuation:
        flush();
        if (opt.keep_punctuation || (opt.keep_emoji && tweet_is_emoji(cp))) {
          utf8::append(tokens.emplace_back(), cp);
        }
        break;
      case CharClass::cjk:
        flush();
        utf8::append(tokens.emplace_back(), cp);
        break;
    }
  }
  flush();
  return tokens;
}

}  // namespace mmfuse::data::text
