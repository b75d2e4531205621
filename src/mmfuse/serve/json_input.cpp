#include "mmfuse/serve/json_input.h"

#include <algorithm>
#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/serve/base64.h"
#include "mmfuse/serve/payload_limits.h"

namespace mmfuse::serve {

using nlohmann::json;

namespace {

[[noreturn]] void bad(const std::string& field, const std::string& reason) {
  throw InputError(reason).at("", 0, field);
}

std::string type_name(const json& v) {
  return v.type_name();
}

bool modality_from_string(const std::string& name, Modality* out) {
  for (Modality m : kAllModalities) {
    if (to_string(m) == name) {
      *out = m;
      return true;
    }
  }
  return false;
}

/// The deepest nesting of `body` (arrays and objects), counted outside strings.
int json_depth(std::string_view body) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > kMaxJsonDepth) return deepest;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

/// ", k, thumbnails" for the option keys of a route ("" without any).
std::string known_options_text(const std::vector<std::string>& option_keys) {
  std::string out;
  for (const auto& k : option_keys) out += ", " + k;
  return out;
}

const std::string& string_field(const json& v, const std::string& field) {
  if (!v.is_string()) bad(field, "expected a string, got " + type_name(v));
  return v.get_ref<const std::string&>();
}

std::vector<float> numbers(const json& v, const std::string& field) {
  if (!v.is_array()) bad(field, "expected an array of numbers, got " + type_name(v));
  std::vector<float> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_number()) {
      bad(field, "item " + std::to_string(i) + ": expected a number, got " + type_name(v[i]));
    }
    const double x = v[i].get<double>();
    if (!std::isfinite(x)) bad(field, "item " + std::to_string(i) + " is not a finite number");
    out.push_back(static_cast<float>(x));
  }
  if (out.empty()) bad(field, "expected at least one number");
  return out;
}

void set_file(runtime::Request& r, Modality m, const std::string& base64, const Limits& limits) {
  const std::string field(to_string(m));
  runtime::EncodedFile f = checked_file(base64_decode(base64, field), m, limits);
  (m == Modality::image ? r.image : r.audio) = std::move(f);
}

void set_text(runtime::Request& r, const std::string& text, const std::string& field,
              const Limits& limits) {
  check_text(text, field, limits);
  r.text = text;
}

/// A v2 tensor's elements flattened in row-major order (nested arrays allowed).
void flatten(const json& v, std::vector<const json*>& out) {
  if (!v.is_array()) {
    out.push_back(&v);
    return;
  }
  for (const auto& x : v) flatten(x, out);
}

struct V2Input {
  Modality modality;
  std::vector<int64_t> shape;
  std::vector<const json*> data;
};

V2Input v2_input(const json& in, std::size_t index, const Limits& limits) {
  const std::string where = "inputs[" + std::to_string(index) + "]";
  if (!in.is_object()) bad(where, "expected an object, got " + type_name(in));
  if (!in.contains("name")) bad(where, "no \"name\"; give image, audio, text or tabular");
  const std::string name = string_field(in["name"], where + ".name");
  Modality m;
  if (!modality_from_string(name, &m)) {
    bad(where + ".name", "unknown input '" + name + "'; give image, audio, text or tabular");
  }
  V2Input out{m, {}, {}};
  if (!in.contains("shape") || !in["shape"].is_array() || in["shape"].empty()) {
    bad(name, "\"shape\" must be a non-empty array of sizes ([N] or [N, D])");
  }
  for (const auto& d : in["shape"]) {
    if (!d.is_number_integer() || d.get<int64_t>() < 0) bad(name, "\"shape\" holds a non-size");
    out.shape.push_back(d.get<int64_t>());
  }
  const std::string want = m == Modality::tabular ? "FP32" : "BYTES";
  const std::string dtype =
      in.contains("datatype") ? string_field(in["datatype"], name + ".datatype") : "";
  if (dtype != want && !(m == Modality::tabular && dtype == "FP64")) {
    bad(name, "datatype '" + dtype + "'; " + name + " takes " + want);
  }
  if (!in.contains("data")) bad(name, "no \"data\"");
  if (out.shape[0] > limits.max_samples) {
    throw InputError("batch of " + std::to_string(out.shape[0]) + " samples; at most " +
                     std::to_string(limits.max_samples) + " per request")
        .at("", 0, name);
  }
  flatten(in["data"], out.data);
  int64_t count = 1;
  for (int64_t d : out.shape) {
    if (d != 0 && count > (int64_t{1} << 40) / d) bad(name, "\"shape\" is too large");
    count *= d;
  }
  if (count != static_cast<int64_t>(out.data.size())) {
    bad(name, "\"shape\" gives " + std::to_string(count) + " elements, \"data\" holds " +
                  std::to_string(out.data.size()));
  }
  return out;
}

/// A form field's value as JSON (discarded when it does not parse), nesting bounded as a body's.
json form_value_json(const std::string& text, const std::string& field) {
  if (json_depth(text) > kMaxJsonDepth) {
    bad(field, "value nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  return json::parse(text, nullptr, false);
}

}  // namespace

json parse_body(std::string_view body) {
  if (body.empty()) bad("body", "empty body; send a JSON object");
  if (json_depth(body) > kMaxJsonDepth) {
    bad("body", "JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels");
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::parse_error& e) {
    bad("body", "malformed JSON at byte " + std::to_string(e.byte) + "; send a JSON object");
  } catch (const json::out_of_range&) {
    bad("body", "a number in the JSON is out of range (beyond double precision, e.g. 1e999)");
  }
  if (!j.is_object()) bad("body", "expected a JSON object, got " + type_name(j));
  return j;
}

runtime::EncodedFile checked_file(std::string bytes, Modality m, const Limits& limits) {
  const std::string field(to_string(m));
  if (bytes.empty()) bad(field, "empty file (0 bytes)");
  if (m == Modality::image) check_image(bytes, field, limits);
  if (m == Modality::audio) check_audio(bytes, field, limits);
  return runtime::EncodedFile::of(std::move(bytes), "upload");
}

runtime::Request simple_request(const json& body, const Limits& limits,
                                const std::vector<std::string>& option_keys) {
  runtime::Request r;
  for (const auto& [key, value] : body.items()) {
    Modality m;
    if (key == "id") {
      r.id = value.is_string() ? value.get<std::string>() : value.dump();
    } else if (std::find(option_keys.begin(), option_keys.end(), key) != option_keys.end()) {
      continue;
    } else if (!modality_from_string(key, &m)) {
      bad(key, "unknown field; send any of image, audio, text, tabular (and id" +
                   known_options_text(option_keys) + ")");
    } else if (m == Modality::image || m == Modality::audio) {
      set_file(r, m, string_field(value, key), limits);
    } else if (m == Modality::text) {
      set_text(r, string_field(value, key), key, limits);
    } else {
      r.tabular = numbers(value, key);
    }
  }
  if (r.modalities().empty())
    bad("body", "no input; send at least one of image, audio, text, tabular");
  return r;
}

runtime::Request form_request(const std::vector<FormPart>& parts, const Limits& limits,
                              const std::vector<std::string>& option_keys, json* options) {
  runtime::Request r;
  std::vector<std::string> seen;
  for (const FormPart& p : parts) {
    if (std::find(seen.begin(), seen.end(), p.name) != seen.end()) bad(p.name, "part given twice");
    seen.push_back(p.name);
    Modality m;
    if (p.name == "id") {
      r.id = p.content;
    } else if (std::find(option_keys.begin(), option_keys.end(), p.name) != option_keys.end()) {
      const json v = form_value_json(p.content, p.name);
      (*options)[p.name] = v.is_discarded() ? json(p.content) : v;
    } else if (!modality_from_string(p.name, &m)) {
      bad(p.name, "unknown form part; send any of image, audio, text, tabular (and id" +
                      known_options_text(option_keys) + ")");
    } else if (m == Modality::image || m == Modality::audio) {
      runtime::EncodedFile f = checked_file(p.content, m, limits);
      if (!p.filename.empty()) f.name = p.filename;
      (m == Modality::image ? r.image : r.audio) = std::move(f);
    } else if (m == Modality::text) {
      set_text(r, p.content, p.name, limits);
    } else {
      json v = form_value_json(p.content, p.name);
      if (!v.is_array()) v = form_value_json("[" + p.content + "]", p.name);
      if (v.is_discarded()) bad(p.name, "expected numbers as \"1,2.5,-3\" or a JSON array");
      r.tabular = numbers(v, p.name);
    }
  }
  if (r.modalities().empty())
    bad("body", "no input; send at least one of image, audio, text, tabular");
  return r;
}

std::vector<runtime::Request> v2_requests(const json& body, const Limits& limits) {
  if (!body.contains("inputs") || !body["inputs"].is_array() || body["inputs"].empty()) {
    bad("inputs", "expected a non-empty array of input tensors");
  }
  const json& inputs = body["inputs"];
  std::vector<V2Input> parsed;
  for (std::size_t i = 0; i < inputs.size(); ++i) parsed.push_back(v2_input(inputs[i], i, limits));
  const int64_t n = parsed.front().shape[0];
  if (n == 0) bad("inputs", "batch size 0; send at least one sample");
  std::vector<runtime::Request> out(static_cast<std::size_t>(n));
  for (int64_t k = 0; k < n; ++k) out[k].id = std::to_string(k + 1);
  for (const V2Input& in : parsed) {
    const std::string name(to_string(in.modality));
    if (in.shape[0] != n) {
      bad(name, "batch size " + std::to_string(in.shape[0]) + " differs from the first input's " +
                    std::to_string(n));
    }
    if (out.front().has(in.modality)) bad(name, "given twice");
    const std::size_t per = n > 0 ? in.data.size() / static_cast<std::size_t>(n) : 0;
    for (int64_t k = 0; k < n; ++k) {
      runtime::Request& r = out[k];
      if (in.modality == Modality::tabular) {
        json row = json::array();
        for (std::size_t j = 0; j < per; ++j) row.push_back(*in.data[k * per + j]);
        r.tabular = numbers(row, name);
        continue;
      }
      if (per != 1) bad(name, "expected one BYTES element per sample ([N] or [N, 1])");
      const std::string& s = string_field(*in.data[k], name);
      if (in.modality == Modality::text) {
        set_text(r, s, name, limits);
      } else {
        set_file(r, in.modality, s, limits);
      }
    }
  }
  return out;
}

}  // namespace mmfuse::serve
