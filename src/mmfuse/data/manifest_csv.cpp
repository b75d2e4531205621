#include "mmfuse/data/manifest_csv.h"

#include <cerrno>
#include <cstdlib>
#include <limits>
#include <sstream>

namespace mmfuse::data {

using nlohmann::json;

namespace {

// "0.5 1 -2" -> [0.5, 1, -2]; a token that is not a number stays a string so the field parser
// reports it with its element index; "nan"/"inf" become NaN/Inf numbers (rejected there too).
json numbers_cell(const std::string& cell) {
  json arr = json::array();
  std::istringstream in(cell);
  std::string tok;
  while (in >> tok) {
    char* end = nullptr;
    errno = 0;
    double x = std::strtod(tok.c_str(), &end);
    if (end == tok.c_str() || *end != '\0') {
      arr.push_back(tok);
    } else {
      arr.push_back(x);
    }
  }
  return arr;
}

json path_or_object_cell(const std::string& cell, const std::string& manifest, int64_t line_no,
                         const std::string& column) {
  if (cell.front() != '{') return cell;
  json obj = json::parse(cell, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) {
    throw InputError("malformed JSON object in the cell; write a path or valid JSON")
        .at(manifest, line_no, column);
  }
  return obj;
}

}  // namespace

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> cells(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
        cells.back() += '"';
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        cells.back() += c;
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.emplace_back();
    } else {
      cells.back() += c;
    }
  }
  if (quoted) throw InputError("unterminated quote; quoted CSV cells may not span lines");
  return cells;
}

CsvHeader parse_csv_header(const std::string& line, const std::string& manifest, int64_t line_no) {
  try {
    CsvHeader h{split_csv_line(line)};
    for (std::size_t i = 0; i < h.columns.size(); ++i) {
      const std::string& c = h.columns[i];
      if (c.empty()) throw InputError("empty column name in the CSV header row");
      for (std::size_t j = 0; j < i; ++j) {
        if (h.columns[j] == c) {
          throw InputError("column '" + c + "' appears twice in the CSV header row (columns " +
                           std::to_string(j + 1) + " and " + std::to_string(i + 1) +
                           "); keep one of them");
        }
      }
    }
    return h;
  } catch (const InputError& e) {
    throw e.at(manifest, line_no, "");
  }
}

json csv_row_to_json(const CsvHeader& header, const std::string& line, const ManifestSchema& schema,
                     const std::string& manifest, int64_t line_no) {
  std::vector<std::string> cells;
  try {
    cells = split_csv_line(line);
  } catch (const InputError& e) {
    throw e.at(manifest, line_no, "");
  }
  if (cells.size() != header.columns.size()) {
    throw InputError("expected " + std::to_string(header.columns.size()) +
                     " cells (as in the header row), got " + std::to_string(cells.size()) +
                     "; quote cells that contain commas")
        .at(manifest, line_no, "");
  }
  json obj = json::object();
  for (std::size_t c = 0; c < cells.size(); ++c) {
    const std::string& col = header.columns[c];
    const std::string& cell = cells[c];
    if (cell.empty()) continue;
    json value = cell;
    if (col == schema.fields[index_of(Modality::image)] ||
        col == schema.fields[index_of(Modality::audio)]) {
      value = path_or_object_cell(cell, manifest, line_no, col);
    } else if (col == schema.fields[index_of(Modality::tabular)]) {
      value = numbers_cell(cell);
    } else {
      for (const auto& t : schema.targets) {
        if (col != t.field || t.kind != TargetKind::regression) continue;
        json nums = numbers_cell(cell);
        value = nums.size() == 1 ? nums[0] : nums;
      }
    }
    obj[col] = std::move(value);
  }
  return obj;
}

}  // namespace mmfuse::data
