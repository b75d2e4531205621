#include "mmfuse/nn/encoders/word_vectors.h"

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <unordered_map>

#include "mmfuse/core/error.h"

namespace mmfuse::encoders {

namespace {

/// Splits `line` at spaces and tabs.
std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) fields.push_back(line.substr(start, i - start));
  }
  return fields;
}

bool parse_int(const std::string& s, int64_t& out) {
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (errno != 0 || end != s.c_str() + s.size()) return false;
  out = v;
  return true;
}

}  // namespace

int64_t load_word_vectors(const std::string& path, const std::vector<std::string>& id_to_token,
                          torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() == 2 && weight.size(0) == static_cast<int64_t>(id_to_token.size()),
              "load_word_vectors expected a weight [", id_to_token.size(),
              ", D] (one row per vocabulary token), got ", weight.sizes());
  const int64_t dim = weight.size(1);
  std::ifstream in(path);
  if (!in) throw InputError("cannot open the word vectors file", path);

  std::unordered_map<std::string, std::vector<int64_t>> ids;
  for (std::size_t id = 0; id < id_to_token.size(); ++id) {
    ids[id_to_token[id]].push_back(static_cast<int64_t>(id));
  }
  auto table = weight.detach().to(torch::kCPU, torch::kFloat).contiguous();
  auto rows = table.accessor<float, 2>();
  std::vector<bool> filled(id_to_token.size(), false);
  std::vector<float> values(dim);
  int64_t found = 0, line_no = 0;
  std::string line;
  auto fail = [&](const std::string& reason) {
    throw InputError("line " + std::to_string(line_no) + ": " + reason, path);
  };
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    auto fields = split_fields(line);
    if (fields.empty()) continue;
    int64_t count = 0, header_dim = 0;
    if (line_no == 1 && fields.size() == 2 && parse_int(fields[0], count) &&
        parse_int(fields[1], header_dim)) {
      if (header_dim != dim) {
        fail("the header announces " + std::to_string(header_dim) +
             "-dimensional vectors, the embedding has " + std::to_string(dim) +
             "; set the encoder's dim to " + std::to_string(header_dim));
      }
      continue;
    }
    if (static_cast<int64_t>(fields.size()) - 1 != dim) {
      fail("expected a token and " + std::to_string(dim) + " values, got " +
           std::to_string(fields.size() - 1) + " values after '" + fields[0] + "'");
    }
    auto it = ids.find(fields[0]);
    if (it == ids.end()) continue;
    for (int64_t j = 0; j < dim; ++j) {
      const std::string& s = fields[j + 1];
      char* end = nullptr;
      values[j] = std::strtof(s.c_str(), &end);
      if (end != s.c_str() + s.size()) fail("'" + s + "' is not a number");
    }
    for (int64_t id : it->second) {
      for (int64_t j = 0; j < dim; ++j) rows[id][j] = values[j];
      if (!filled[id]) ++found;
      filled[id] = true;
    }
  }
  torch::NoGradGuard no_grad;
  weight.copy_(table);
  return found;
}

}  // namespace mmfuse::encoders
