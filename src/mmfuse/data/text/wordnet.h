// Gloss expansion of words with WordNet (Debian `wordnet-base`, /usr/share/wordnet): a word's
// synonyms and definition ("mermaid" -> "half woman and half fish"). Retrieval of unseen names
// gets words the training split has seen: a name no training name shares a word with ("merman
// (merman)") still reaches "man" and "fish" through its gloss.
//
// The files are WordNet 3.0's database: index.<pos> (lemma -> synset byte offsets, most frequent
// sense first), data.<pos> (a synset per line at its offset: words | gloss) and <pos>.exc
// (irregular forms). Lemmatisation follows WordNet's morphy: the word, its exception entry, then
// the suffix detachment rules of each part of speech.
#pragma once

#include <array>
#include <fstream>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace mmfuse::data::text {

class WordNet {
 public:
  enum Pos { noun = 0, verb, adj, adv };

  /// Reads the indexes and exception lists from `dir`; throws InputError naming a missing or
  /// unreadable file (install `wordnet-base`).
  explicit WordNet(const std::string& dir);

  /// The lemma of lowercase `word` as part of speech `pos`, or "" when WordNet has none.
  std::string lemma(const std::string& word, Pos pos) const;

  /// Synonyms and definitions of the first `senses` senses of `word` in the first part of speech
  /// (noun, verb, adjective, adverb) that knows it; proper-noun senses of a lowercase word are
  /// skipped ("merman" is not Ethel Merman). "" when WordNet does not know the word. Thread-safe,
  /// memoised.
  std::string gloss(const std::string& word, int senses) const;

  /// One WordNet per folder, shared by every pipeline that asks for it.
  static const WordNet& shared(const std::string& dir);

 private:
  std::string read_synset(Pos pos, int64_t offset) const;  // the data line at `offset`

  std::string dir_;
  std::array<std::unordered_map<std::string, std::vector<int64_t>>, 4> index_;
  std::array<std::unordered_map<std::string, std::string>, 4> exceptions_;
  mutable std::array<std::ifstream, 4> data_;
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::string> memo_;
};

}  // namespace mmfuse::data::text
