#include "mmfuse/data/label_map.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

#include "mmfuse/core/error.h"

namespace mmfuse::data {

namespace {

bool parse_int(const std::string& s, long long& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtoll(s.c_str(), &end, 10);
  return *end == '\0';
}

}  // namespace

LabelMap LabelMap::fit(const std::vector<std::string>& labels) {
  std::set<std::string> distinct(labels.begin(), labels.end());
  std::vector<std::string> names(distinct.begin(), distinct.end());
  long long v;
  bool all_int = !names.empty() && std::all_of(names.begin(), names.end(),
                                               [&](const auto& s) { return parse_int(s, v); });
  if (all_int) {
    std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
      return std::strtoll(a.c_str(), nullptr, 10) < std::strtoll(b.c_str(), nullptr, 10);
    });
  }
  return from_names(std::move(names));
}

LabelMap LabelMap::from_file(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    throw Error(path + ": cannot read the class names file; give a text file, one name a line");
  std::vector<std::string> names;
  std::map<std::string, int> seen;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const int n = ++seen[line];
    names.push_back(n == 1 ? line : line + " (" + std::to_string(n) + ")");
  }
  if (!names.empty() && names.back().empty()) names.pop_back();
  if (names.empty()) throw Error(path + ": no class names in the file");
  return from_names(std::move(names));
}

LabelMap LabelMap::from_names(std::vector<std::string> names) {
  LabelMap m;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!m.index_.emplace(names[i], static_cast<int64_t>(i)).second) {
      throw Error("label map: class '" + names[i] + "' is listed twice");
    }
  }
  m.names_ = std::move(names);
  return m;
}

int64_t LabelMap::index(const std::string& label) const {
  auto it = index_.find(label);
  return it == index_.end() ? -1 : it->second;
}

LabelMap LabelMap::from_json(const nlohmann::json& j) {
  if (!j.is_array()) throw Error("label map: expected an array of class names, got " + j.dump());
  return from_names(j.get<std::vector<std::string>>());
}

}  // namespace mmfuse::data
