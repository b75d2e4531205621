// Raw manifest fields <-> JSON: parsing one modality's value from a manifest line, its canonical
// JSON form (for cache keys and messages) and the files it reads.
//
// Accepted forms (relative paths resolve against the manifest's folder):
//   image:   "path.png"  |  {"file": "images.idx3.gz", "index": 7}
//   audio:   "path.wav"  |  {"file": "x.wav", "noise": {"file": "n.wav", "offset_s": 1.5, "snr_db":
//   -3}}
//   text:    "a UTF-8 string"  |  {"file": "t.txt", "encoding": "auto", "invalid": "error"}
//            (text/text_decode.h)
//   tabular: [1.5, 2, -0.25]   (finite numbers only)
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/modality.h"
#include "mmfuse/data/sample.h"

namespace mmfuse::data {

/// Parses a present (non-null) value of modality `m`. Throws InputError with the reason only
/// (e.g. `expected a path string or {"file", "index"}, got number`); the caller adds the location.
Field field_from_json(Modality m, const nlohmann::json& value, const std::string& base_dir);

/// Canonical JSON of a field (resolved paths, fixed key order): equal fields give equal dumps.
nlohmann::json field_to_json(const Field& field);

/// Every file a field reads (image/audio file, noise file); empty for text and tabular.
std::vector<std::string> field_files(const Field& field);

/// JSON type name for messages: "number", "string", "object", "array", "boolean", "null".
std::string json_kind(const nlohmann::json& value);

}  // namespace mmfuse::data
