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
/// request in errors. `option_keys` are the route's settings beside the inputs (":search": "k");
/// they are left to the caller. Other keys are refused, listing the known ones.
runtime::Request simple_request(const nlohmann::json& body, const Limits& limits,
                                const std::vector<std::string>& option_keys = {});

/// One part of a multipart/form-data upload.
struct FormPart {
  std::string name;
  std::string filename;  ///< "" for a plain field
  std::string content;
};

/// The simple API's fields as multipart/form-data: "image" and "audio" carry the raw files (no
/// base64), "text" the UTF-8 text, "tabular" numbers as "1,2.5,-3" or a JSON array, "id" a name;
/// each option key a value read as JSON when it parses ("5", "true") and as a string otherwise.
/// Returns the equivalent request and fills `options` with the option keys given. Same checks
/// and errors as simple_request (a part given twice is refused).
runtime::Request form_request(const std::vector<FormPart>& parts, const Limits& limits,
                              const std::vector<std::string>& option_keys, nlohmann::json* options);

/// A KServe v2 infer request: {"id"?, "inputs": [{"name": "image"|"audio"|"text"|"tabular",
/// "datatype", "shape", "data"}], "outputs"?, "parameters"?}. image/audio: BYTES holding base64
/// of the file; text: BYTES holding the UTF-8 text; tabular: FP32/FP64 [N, D]. Every input has the
/// same batch size N (the first dimension): one request per sample.
std::vector<runtime::Request> v2_requests(const nlohmann::json& body, const Limits& limits);

/// Raw (already decoded) file bytes -> a request field, with the header caps checked.
runtime::EncodedFile checked_file(std::string bytes, Modality m, const Limits& limits);

}  // namespace mmfuse::serve
