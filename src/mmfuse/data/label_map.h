// Class names <-> class indices for one class target, fitted on the training split.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmfuse::data {

class LabelMap {
 public:
  LabelMap() = default;

  /// Distinct labels, ordered numerically when every label is an integer ("2" < "10"), else
  /// sorted as strings. Index i is the class of names()[i].
  static LabelMap fit(const std::vector<std::string>& labels);
  /// From names already in class order (e.g. a saved state).
  static LabelMap from_names(std::vector<std::string> names);
  /// From a file of class names in index order, one a line (UTF-8; a trailing '\r' and a final
  /// empty line are dropped). A name listed again gets " (2)", " (3)", ... appended, as a label
  /// must name one class (ImageNet lists "crane" twice: the bird and the machine). Throws Error
  /// naming the file when it cannot be read or is empty.
  static LabelMap from_file(const std::string& path);

  /// Class index of `label`, or -1 when it was not seen in training.
  int64_t index(const std::string& label) const;
  const std::string& name(int64_t index) const {
    return names_.at(static_cast<std::size_t>(index));
  }
  const std::vector<std::string>& names() const { return names_; }
  int64_t size() const { return static_cast<int64_t>(names_.size()); }

  nlohmann::json to_json() const { return names_; }
  static LabelMap from_json(const nlohmann::json& j);

 private:
  std::vector<std::string> names_;
  std::unordered_map<std::string, int64_t> index_;
};

}  // namespace mmfuse::data
