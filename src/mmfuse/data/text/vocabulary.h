// Token <-> id mapping built from a training corpus, saved with a model.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmfuse::data::text {

class Vocabulary {
 public:
  static constexpr int64_t kPad = 0;  ///< "<pad>": fills fixed-length id sequences
  static constexpr int64_t kUnk = 1;  ///< "<unk>": tokens outside the vocabulary
  static constexpr const char* kPadToken = "<pad>";
  static constexpr const char* kUnkToken = "<unk>";

  /// Only the two specials.
  Vocabulary();
  /// From a full token list (as saved): tokens[0] must be "<pad>" and tokens[1] "<unk>", no
  /// duplicates. Throws Error otherwise.
  explicit Vocabulary(std::vector<std::string> tokens);

  /// Counts occurrences of every token over `docs`.
  static std::unordered_map<std::string, int64_t> count(
      const std::vector<std::vector<std::string>>& docs);

  /// The specials, then every token occurring at least `min_freq` times, most frequent first and
  /// ties by token (byte order), so the result does not depend on the order of the documents.
  /// `max_size` > 0 caps the total size, specials included (requires max_size >= 2).
  static Vocabulary build(const std::unordered_map<std::string, int64_t>& counts,
                          int64_t min_freq = 1, int64_t max_size = 0);

  int64_t size() const { return static_cast<int64_t>(tokens_.size()); }
  /// Id of `token`, kUnk when absent.
  int64_t id(const std::string& token) const;
  bool contains(const std::string& token) const { return ids_.count(token) > 0; }
  /// Token of `id`. Requires: 0 <= id < size().
  const std::string& token(int64_t id) const;
  const std::vector<std::string>& tokens() const { return tokens_; }
  /// Ids of `tokens` (kUnk for unknown ones).
  std::vector<int64_t> encode(const std::vector<std::string>& tokens) const;

  /// {"tokens": [...]} in id order.
  nlohmann::json to_json() const;
  /// Inverse of to_json. Throws Error when malformed.
  static Vocabulary from_json(const nlohmann::json& j);
  /// Writes to_json() to `path` atomically.
  void save(const std::string& path) const;
  /// Reads a saved vocabulary. Throws InputError naming the file when missing or malformed.
  static Vocabulary load(const std::string& path);

  bool operator==(const Vocabulary& o) const { return tokens_ == o.tokens_; }

 private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int64_t> ids_;
};

}  // namespace mmfuse::data::text
