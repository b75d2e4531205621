// CSV manifest rows -> the same JSON objects a JSONL manifest holds (see manifest.h for the cell
// formats), so one code path builds Samples from both.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/manifest.h"

namespace mmfuse::data {

struct CsvHeader {
  std::vector<std::string> columns;
};

/// RFC 4180 cells of one line. Throws InputError (reason only) on an unterminated quote.
std::vector<std::string> split_csv_line(const std::string& line);

CsvHeader parse_csv_header(const std::string& line, const std::string& manifest, int64_t line_no);

/// One data row as a JSON object keyed by column; empty cells are left out (absent).
nlohmann::json csv_row_to_json(const CsvHeader& header, const std::string& line,
                               const ManifestSchema& schema, const std::string& manifest,
                               int64_t line_no);

}  // namespace mmfuse::data
