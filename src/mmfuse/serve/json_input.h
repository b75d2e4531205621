// Request bodies -> runtime requests, with every field checked before anything is decoded:
// the simple API's {"image": "<base64>", "audio": "<base64>", "text": "...", "tabular": [...]}
// and the KServe v2 (Open Inference Protocol) infer request with BYTES / FP32 tensors.
// Errors are InputError naming the field (400) or PayloadTooLarge (413).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/runtime/request.h"
#include "mmfuse/serve/options.h"

namespace mmfuse::serve {

/// Deepest nesting of arrays and objects a body may have.
inline constexpr int kMaxJsonDepth = 32;

/// The body as a JSON object. Throws InputError (field "body") for an empty body, nesting deeper
/// than kMaxJsonDepth (checked before parsing), malformed JSON (with the byte offset) or a body
/// that is not an object.
nlohmann::json parse_body(std::string_view body);

/// The simple API's body: any subset of "image" and "audio" (base64 of a PNG/JPEG/BMP, WAV/FLAC
/// file), "text" (UTF-8) and "tabular" (numbers); absent modalities are absent. "id" names the
/// request in errors. Unknown keys are refused, listing the known ones.
runtime::Request simple_request(const nlohmann::json& body, const Limits& limits);

/// A KServe v2 infer request: {"id"?, "inputs": [{"name": "image"|"audio"|"text"|"tabular",
/// "datatype", "shape", "data"}], "outputs"?, "parameters"?}. image/audio: BYTES holding base64
/// of the file; text: BYTES holding the UTF-8 text; tabular: FP32/FP64 [N, D]. Every input has the
/// same batch size N (the first dimension): one request per sample.
std::vector<runtime::Request> v2_requests(const nlohmann::json& body, const Limits& limits);

/// Raw (already decoded) file bytes -> a request field, with the header caps checked.
runtime::EncodedFile checked_file(std::string bytes, Modality m, const Limits& limits);

}  // namespace mmfuse::serve
