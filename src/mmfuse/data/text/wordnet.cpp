#include "mmfuse/data/text/wordnet.h"

#include <cctype>
#include <map>
#include <memory>
#include <sstream>

#include "mmfuse/core/error.h"

namespace mmfuse::data::text {

namespace {

constexpr const char* kPosNames[] = {"noun", "verb", "adj", "adv"};

// WordNet's morphy detachment rules: (suffix, replacement) per part of speech.
const std::vector<std::pair<std::string, std::string>>& rules(WordNet::Pos pos) {
  static const std::vector<std::pair<std::string, std::string>> table[4] = {
      {{"s", ""},
       {"ses", "s"},
       {"xes", "x"},
       {"zes", "z"},
       {"ches", "ch"},
       {"shes", "sh"},
       {"men", "man"},
       {"ies", "y"}},
      {{"s", ""},
       {"ies", "y"},
       {"es", "e"},
       {"es", ""},
       {"ed", "e"},
       {"ed", ""},
       {"ing", "e"},
       {"ing", ""}},
      {{"er", ""}, {"est", ""}, {"er", "e"}, {"est", "e"}},
      {}};
  return table[pos];
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::ifstream open_or_throw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InputError(
        "cannot read the WordNet file (install the Debian package wordnet-base, or set "
        "the text pipeline's gloss.wordnet to its folder)",
        path);
  }
  return in;
}

}  // namespace

WordNet::WordNet(const std::string& dir) : dir_(dir) {
  for (int p = 0; p < 4; ++p) {
    const std::string index_path = dir + "/index." + kPosNames[p];
    std::ifstream index = open_or_throw(index_path);
    std::string line;
    while (std::getline(index, line)) {
      if (line.empty() || line[0] == ' ') continue;  // the license header
      // lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt synset_offset...
      std::istringstream f(line);
      std::string lemma, pos;
      int64_t synsets = 0, pointers = 0;
      if (!(f >> lemma >> pos >> synsets >> pointers)) {
        throw InputError("malformed WordNet index line: " + line.substr(0, 60), index_path);
      }
      std::string skip;
      for (int64_t i = 0; i < pointers + 2; ++i) f >> skip;
      std::vector<int64_t> offsets;
      int64_t offset = 0;
      while (f >> offset) offsets.push_back(offset);
      index_[p].emplace(std::move(lemma), std::move(offsets));
    }
    std::ifstream exc = open_or_throw(dir + "/" + kPosNames[p] + ".exc");
    while (std::getline(exc, line)) {
      std::istringstream f(line);
      std::string form, base;
      if (f >> form >> base) exceptions_[p].emplace(std::move(form), std::move(base));
    }
    data_[p] = open_or_throw(dir + "/data." + kPosNames[p]);
  }
}

std::string WordNet::lemma(const std::string& word, Pos pos) const {
  const auto& index = index_[pos];
  if (index.count(word)) return word;
  if (auto e = exceptions_[pos].find(word); e != exceptions_[pos].end() && index.count(e->second)) {
    return e->second;
  }
  for (const auto& [suffix, replacement] : rules(pos)) {
    if (!ends_with(word, suffix)) continue;
    std::string base = word.substr(0, word.size() - suffix.size()) + replacement;
    if (index.count(base)) return base;
  }
  return "";
}

std::string WordNet::read_synset(Pos pos, int64_t offset) const {
  auto& in = data_[pos];
  in.clear();
  in.seekg(offset);
  std::string line;
  if (!std::getline(in, line)) {
    throw InputError("WordNet synset offset " + std::to_string(offset) + " is past the end",
                     dir_ + "/data." + kPosNames[pos]);
  }
  return line;
}

std::string WordNet::gloss(const std::string& word, int senses) const {
  const std::string key = word + '\t' + std::to_string(senses);
  std::lock_guard<std::mutex> lock(mutex_);
  if (auto it = memo_.find(key); it != memo_.end()) return it->second;
  std::string out;
  for (int p = 0; p < 4 && out.empty(); ++p) {
    const std::string base = lemma(word, static_cast<Pos>(p));
    if (base.empty()) continue;
    int taken = 0;
    for (int64_t offset : index_[p].at(base)) {
      if (taken >= senses) break;
      // offset lex_filenum ss_type w_cnt(hex) word lex_id [word lex_id...] p_cnt ... | gloss
      const std::string line = read_synset(static_cast<Pos>(p), offset);
      const auto bar = line.find('|');
      std::istringstream f(line.substr(0, bar));
      std::string skip, count;
      f >> skip >> skip >> skip >> count;
      const int64_t words = std::stoll(count, nullptr, 16);
      std::string synonyms;
      bool proper = false;
      for (int64_t i = 0; i < words; ++i) {
        std::string w;
        f >> w >> skip;
        std::string lower = w;
        for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (lower == base && lower != w) proper = true;  // "Merman" for "merman"
        for (auto& c : lower) c = c == '_' ? ' ' : c;
        synonyms += lower + ' ';
      }
      if (proper) continue;
      std::string definition = bar == std::string::npos ? "" : line.substr(bar + 1);
      definition = definition.substr(0, definition.find(';'));  // the definition, not examples
      out += synonyms + definition + ' ';
      ++taken;
    }
  }
  memo_.emplace(key, out);
  return out;
}

const WordNet& WordNet::shared(const std::string& dir) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<WordNet>> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  auto& slot = loaded[dir];
  if (!slot) slot = std::make_unique<WordNet>(dir);
  return *slot;
}

}  // namespace mmfuse::data::text
