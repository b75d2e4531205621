#include "mmfuse/data/text/wordpiece.h"

#include <algorithm>
#include <fstream>
#include <set>

#include <unicode/locid.h>
#include <unicode/normalizer2.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>
#include <nlohmann/json.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/utf8.h"

namespace mmfuse::data::text {

namespace {

// Hugging Face's _is_control: Cc and Cf, except tab, newline and carriage return.
bool wp_is_control(char32_t cp) {
  if (cp == U'\t' || cp == U'\n' || cp == U'\r') return false;
  const auto t = u_charType(static_cast<UChar32>(cp));
  return t == U_CONTROL_CHAR || t == U_FORMAT_CHAR;
}

// _is_whitespace: space, tab, newline, carriage return and Zs.
bool wp_is_whitespace(char32_t cp) {
  if (cp == U' ' || cp == U'\t' || cp == U'\n' || cp == U'\r') return true;
  return u_charType(static_cast<UChar32>(cp)) == U_SPACE_SEPARATOR;
}

// What Python's str.split() splits on, as far as it can remain after the clean-up.
bool wp_splits_words(char32_t cp) {
  const auto t = u_charType(static_cast<UChar32>(cp));
  return wp_is_whitespace(cp) || t == U_LINE_SEPARATOR || t == U_PARAGRAPH_SEPARATOR ||
         (cp >= 0x1C && cp <= 0x1F) || cp == 0x85;
}

// _is_punctuation: the ASCII non-alphanumerics and every P* category.
bool wp_is_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
      (cp >= 123 && cp <= 126)) {
    return true;
  }
  switch (u_charType(static_cast<UChar32>(cp))) {
    case U_DASH_PUNCTUATION:
    case U_START_PUNCTUATION:
    case U_END_PUNCTUATION:
    case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
    case U_INITIAL_PUNCTUATION:
    case U_FINAL_PUNCTUATION:
      return true;
    default:
      return false;
  }
}

// _is_chinese_char: the CJK Unified Ideographs blocks (not Hiragana, Katakana or Hangul).
bool wp_is_cjk(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
         (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
         (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

icu::UnicodeString wp_unicode(const std::u32string& cps) {
  icu::UnicodeString u;
  for (char32_t cp : cps) u.append(static_cast<UChar32>(cp));
  return u;
}

std::u32string wp_code_points(const icu::UnicodeString& u) {
  std::u32string out;
  for (int32_t i = 0; i < u.length(); i = u.moveIndex32(i, 1)) {
    out.push_back(static_cast<char32_t>(u.char32At(i)));
  }
  return out;
}

const icu::Normalizer2& wp_normalizer(bool compose) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* n =
      compose ? icu::Normalizer2::getNFCInstance(status) : icu::Normalizer2::getNFDInstance(status);
  if (U_FAILURE(status) || !n) throw Error("ICU has no NFC/NFD normalizer (libicu data missing)");
  return *n;
}

std::u32string wp_normalize(const std::u32string& cps, bool compose) {
  UErrorCode status = U_ZERO_ERROR;
  auto out = wp_normalizer(compose).normalize(wp_unicode(cps), status);
  if (U_FAILURE(status))
    throw Error(std::string("ICU normalization failed: ") + u_errorName(status));
  return wp_code_points(out);
}

// Lower-casing and accent stripping of one word, as BasicTokenizer does.
std::u32string wp_normalize_word(std::u32string word, const WordPieceOptions& o) {
  if (o.lowercase) word = wp_code_points(wp_unicode(word).toLower(icu::Locale::getRoot()));
  if (o.strip_accents) {
    std::u32string kept;
    for (char32_t cp : wp_normalize(word, /*compose=*/false)) {
      if (u_charType(static_cast<UChar32>(cp)) != U_NON_SPACING_MARK) kept.push_back(cp);
    }
    word = kept;
  }
  return word;
}

std::string wp_utf8(const std::u32string& cps) {
  std::string out;
  for (char32_t cp : cps) utf8::append(out, cp);
  return out;
}

std::vector<std::string> wp_read_vocab_txt(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read the WordPiece vocabulary " + path);
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (auto bad = utf8::find_invalid(line)) {
      throw Error(path + ":" + std::to_string(tokens.size() + 1) + ": invalid UTF-8 at byte " +
                  std::to_string(*bad) + " of the line; vocab.txt must be UTF-8");
    }
    tokens.push_back(line);
  }
  return tokens;
}

std::vector<std::string> wp_read_tokenizer_json(const std::string& path, WordPieceOptions& o) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read the tokenizer " + path);
  try {
    const auto j = nlohmann::json::parse(in);
    const auto& model = j.at("model");
    if (model.value("type", std::string()) != "WordPiece") {
      throw Error(path + ": model.type is '" + model.value("type", std::string()) +
                  "', expected WordPiece (BPE and Unigram tokenizers are not supported)");
    }
    o.continuing_prefix = model.value("continuing_subword_prefix", o.continuing_prefix);
    o.max_chars_per_word = model.value("max_input_chars_per_word", o.max_chars_per_word);
    if (j.contains("normalizer") && j["normalizer"].is_object() &&
        j["normalizer"].value("type", std::string()) == "BertNormalizer") {
      const auto& n = j["normalizer"];
      o.lowercase = n.value("lowercase", o.lowercase);
      o.split_cjk = n.value("handle_chinese_chars", o.split_cjk);
      o.strip_accents = n.contains("strip_accents") && n["strip_accents"].is_boolean()
                            ? n["strip_accents"].get<bool>()
                            : o.lowercase;  // null: follows lowercase, as in BERT
    }
    std::vector<std::string> tokens(model.at("vocab").size());
    std::vector<bool> seen(tokens.size(), false);
    for (const auto& [token, id] : model.at("vocab").items()) {
      const auto i = id.get<int64_t>();
      if (i < 0 || i >= static_cast<int64_t>(tokens.size()) || seen[static_cast<size_t>(i)]) {
        throw Error(path + ": model.vocab gives '" + token + "' the id " + std::to_string(i) +
                    ", expected distinct ids 0.." + std::to_string(tokens.size() - 1));
      }
      tokens[static_cast<size_t>(i)] = token;
      seen[static_cast<size_t>(i)] = true;
    }
    return tokens;
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": not a tokenizer.json with model.vocab (" + e.what() + ")");
  }
}

}  // namespace

WordPieceTokenizer WordPieceTokenizer::load(const std::string& path, WordPieceOptions options) {
  const bool json = path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0;
  auto tokens = json ? wp_read_tokenizer_json(path, options) : wp_read_vocab_txt(path);
  try {
    return WordPieceTokenizer(std::move(tokens), options);
  } catch (const Error& e) {
    throw Error(path + ": " + e.what());
  }
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> tokens, WordPieceOptions options)
    : tokens_(std::move(tokens)), options_(std::move(options)) {
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (!ids_.emplace(tokens_[i], static_cast<int64_t>(i)).second) {
      throw Error("the token '" + tokens_[i] + "' appears twice (line " + std::to_string(i + 1) +
                  " and line " + std::to_string(ids_[tokens_[i]] + 1) + ")");
    }
  }
  auto special = [&](const char* name) {
    const int64_t id = find(name);
    if (id < 0) {
      throw Error(std::string("the vocabulary has no ") + name +
                  " token; a BERT vocabulary needs [PAD], [UNK], [CLS] and [SEP]");
    }
    return id;
  };
  pad_ = special("[PAD]");
  unk_ = special("[UNK]");
  cls_ = special("[CLS]");
  sep_ = special("[SEP]");
  if (options_.max_chars_per_word < 1) throw Error("max_chars_per_word must be positive");
}

int64_t WordPieceTokenizer::find(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> WordPieceTokenizer::basic_tokens(std::string_view text) const {
  static const std::set<std::string> kNeverSplit = {"[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"};
  std::u32string cleaned;
  for (char32_t cp : utf8::decode(text)) {  // throws InputError naming the byte offset
    if (cp == 0 || cp == 0xFFFD || wp_is_control(cp)) continue;
    if (wp_is_whitespace(cp)) {
      cleaned.push_back(U' ');
    } else if (options_.split_cjk && wp_is_cjk(cp)) {
      cleaned += std::u32string{U' ', cp, U' '};
    } else {
      cleaned.push_back(cp);
    }
  }
  std::vector<std::string> out;
  auto split_punctuation = [&](const std::u32string& word) {
    std::u32string run;
    for (char32_t cp : word) {
      if (wp_splits_words(cp)) {
        if (!run.empty()) out.push_back(wp_utf8(run));
        run.clear();
      } else if (wp_is_punctuation(cp)) {
        if (!run.empty()) out.push_back(wp_utf8(run));
        run.clear();
        out.push_back(wp_utf8(std::u32string(1, cp)));
      } else {
        run.push_back(cp);
      }
    }
    if (!run.empty()) out.push_back(wp_utf8(run));
  };
  const std::u32string composed = wp_normalize(cleaned, /*compose=*/true);
  std::u32string word;
  for (std::size_t i = 0; i <= composed.size(); ++i) {
    if (i < composed.size() && !wp_splits_words(composed[i])) {
      word.push_back(composed[i]);
      continue;
    }
    if (word.empty()) continue;
    if (const auto w = wp_utf8(word); kNeverSplit.count(w)) {
      out.push_back(w);
    } else {
      split_punctuation(wp_normalize_word(word, options_));
    }
    word.clear();
  }
  return out;
}

std::vector<int64_t> WordPieceTokenizer::word_ids(const std::string& word) const {
  const auto decoded = utf8::decode(word);
  const std::u32string cps(decoded.begin(), decoded.end());
  if (static_cast<int64_t>(cps.size()) > options_.max_chars_per_word) return {unk_};
  std::vector<int64_t> ids;
  std::size_t start = 0;
  while (start < cps.size()) {
    int64_t found = -1;
    std::size_t end = cps.size();
    for (; end > start; --end) {
      std::string piece = wp_utf8(cps.substr(start, end - start));
      if (start > 0) piece = options_.continuing_prefix + piece;
      found = find(piece);
      if (found >= 0) break;
    }
    if (found < 0) return {unk_};
    ids.push_back(found);
    start = end;
  }
  return ids;
}

std::vector<int64_t> WordPieceTokenizer::encode(std::string_view text, int64_t max_len) const {
  std::vector<int64_t> ids = {cls_};
  for (const auto& word : basic_tokens(text)) {
    const int64_t special = find(word);
    if (special >= 0 && word.size() > 2 && word.front() == '[' && word.back() == ']') {
      ids.push_back(special);
      continue;
    }
    for (int64_t id : word_ids(word)) ids.push_back(id);
  }
  if (max_len > 0 && static_cast<int64_t>(ids.size()) > max_len - 1) {
    ids.resize(static_cast<std::size_t>(std::max<int64_t>(max_len - 1, 1)));
  }
  ids.push_back(sep_);
  return ids;
}

}  // namespace mmfuse::data::text
