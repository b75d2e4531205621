#include "mmfuse/data/text/vocabulary.h"

#include <algorithm>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

namespace mmfuse::data::text {

Vocabulary::Vocabulary() : Vocabulary(std::vector<std::string>{kPadToken, kUnkToken}) {}

Vocabulary::Vocabulary(std::vector<std::string> tokens) : tokens_(std::move(tokens)) {
  if (tokens_.size() < 2 || tokens_[0] != kPadToken || tokens_[1] != kUnkToken) {
    throw Error("a vocabulary must start with \"<pad>\", \"<unk>\" (ids 0 and 1), got " +
                std::string(tokens_.empty() ? "no tokens" : "\"" + tokens_[0] + "\" first"));
  }
  ids_.reserve(tokens_.size());
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    if (!ids_.emplace(tokens_[i], static_cast<int64_t>(i)).second) {
      throw Error("vocabulary lists \"" + tokens_[i] + "\" twice (ids " +
                  std::to_string(ids_[tokens_[i]]) + " and " + std::to_string(i) + ")");
    }
  }
}

std::unordered_map<std::string, int64_t> Vocabulary::count(
    const std::vector<std::vector<std::string>>& docs) {
  std::unordered_map<std::string, int64_t> counts;
  for (const auto& doc : docs) {
    for (const auto& t : doc) ++counts[t];
  }
  return counts;
}

Vocabulary Vocabulary::build(const std::unordered_map<std::string, int64_t>& counts,
                             int64_t min_freq, int64_t max_size) {
  if (max_size != 0 && max_size < 2) {
    throw Error("vocabulary max_size must be 0 (no limit) or >= 2 (the specials count), got " +
                std::to_string(max_size));
  }
  std::vector<std::pair<std::string, int64_t>> kept;
  for (const auto& [token, n] : counts) {
    if (n >= min_freq && token != kPadToken && token != kUnkToken) kept.emplace_back(token, n);
  }
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (max_size > 0 && static_cast<int64_t>(kept.size()) > max_size - 2) {
    kept.resize(static_cast<std::size_t>(max_size - 2));
  }
  std::vector<std::string> tokens = {kPadToken, kUnkToken};
  for (auto& [token, n] : kept) tokens.push_back(token);
  return Vocabulary(std::move(tokens));
}

int64_t Vocabulary::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? kUnk : it->second;
}

const std::string& Vocabulary::token(int64_t id) const {
  if (id < 0 || id >= size()) {
    throw Error("token id " + std::to_string(id) + " out of range (vocabulary has " +
                std::to_string(size()) + " tokens)");
  }
  return tokens_[static_cast<std::size_t>(id)];
}

std::vector<int64_t> Vocabulary::encode(const std::vector<std::string>& tokens) const {
  std::vector<int64_t> ids;
  ids.reserve(tokens.size());
  for (const auto& t : tokens) ids.push_back(id(t));
  return ids;
}

nlohmann::json Vocabulary::to_json() const {
  return {{"tokens", tokens_}};
}

Vocabulary Vocabulary::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("tokens") || !j["tokens"].is_array()) {
    throw Error("a saved vocabulary is {\"tokens\": [...]}, got " + j.dump().substr(0, 80));
  }
  std::vector<std::string> tokens;
  for (const auto& t : j["tokens"]) {
    if (!t.is_string()) throw Error("vocabulary tokens must be strings, got " + t.dump());
    tokens.push_back(t.get<std::string>());
  }
  return Vocabulary(std::move(tokens));
}

void Vocabulary::save(const std::string& path) const {
  write_file_atomic(path, to_json().dump());
}

Vocabulary Vocabulary::load(const std::string& path) {
  const std::string bytes = read_file(path);
  try {
    return from_json(nlohmann::json::parse(bytes));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("not a vocabulary JSON file (") + e.what() + ")", path);
  } catch (const InputError&) {
    throw;
  } catch (const Error& e) {
    throw InputError(e.what(), path);
  }
}

}  // namespace mmfuse::data::text
