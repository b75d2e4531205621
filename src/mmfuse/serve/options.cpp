#include "mmfuse/serve/options.h"

#include <filesystem>

#include "mmfuse/core/error.h"

namespace mmfuse::serve {

namespace {

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-')
      return false;
  }
  return true;
}

}  // namespace

ModelSource parse_model_source(const std::string& text) {
  const auto eq = text.find('=');
  ModelSource s;
  if (eq == std::string::npos) {
    s.dir = text;
    s.name = std::filesystem::path(text).lexically_normal().filename().string();
    if (s.name.empty())
      s.name = std::filesystem::path(text).lexically_normal().parent_path().filename().string();
  } else {
    s.name = text.substr(0, eq);
    s.dir = text.substr(eq + 1);
  }
  if (s.dir.empty())
    throw UsageError("--run '" + text + "': no run directory; give NAME=RUN_DIR or RUN_DIR");
  if (!valid_name(s.name)) {
    throw UsageError("--run '" + text + "': model name '" + s.name +
                     "' must be 1-64 characters of A-Z a-z 0-9 _ . -; give NAME=RUN_DIR");
  }
  return s;
}

void attach_index(std::vector<ModelSource>& models, const std::string& text) {
  const auto eq = text.find('=');
  std::string name = eq == std::string::npos ? "" : text.substr(0, eq);
  const std::string dir = eq == std::string::npos ? text : text.substr(eq + 1);
  if (dir.empty()) throw UsageError("--index '" + text + "': no index folder; give NAME=INDEX_DIR");
  if (name.empty()) {
    if (models.size() != 1) {
      throw UsageError("--index '" + text + "': " + std::to_string(models.size()) +
                       " models are served; say which as NAME=INDEX_DIR");
    }
    name = models.front().name;
  }
  std::string known;
  for (ModelSource& m : models) {
    known += (known.empty() ? "" : ", ") + m.name;
    if (m.name != name) continue;
    if (!m.index_dir.empty()) {
      throw UsageError("--index: model '" + name + "' is given two indexes (" + m.index_dir +
                       " and " + dir + "); serve the run twice under two names to search both");
    }
    m.index_dir = dir;
    return;
  }
  throw UsageError("--index '" + text + "': no model '" + name +
                   "'; the --run names are: " + known);
}

}  // namespace mmfuse::serve
