#include "mmfuse/data/field.h"

#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/utf8.h"
#include "mmfuse/data/text/text_decode.h"

namespace mmfuse::data {

using nlohmann::json;

namespace {

std::string path_value(const json& v, const std::string& what, const std::string& base_dir) {
  if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
    throw InputError(what + ": expected a non-empty path string, got " + json_kind(v));
  }
  return resolve_path(base_dir, v.get<std::string>());
}

double number_value(const json& v, const std::string& what) {
  if (!v.is_number()) throw InputError(what + ": expected a number, got " + json_kind(v));
  double x = v.get<double>();
  if (!std::isfinite(x)) throw InputError(what + ": expected a finite number, got " + v.dump());
  return x;
}

Field image_from_json(const json& v, const std::string& base_dir) {
  if (v.is_string()) return ImageRef{path_value(v, "image path", base_dir), -1};
  if (!v.is_object() || !v.contains("file")) {
    throw InputError("expected a path string or {\"file\", \"index\"}, got " + json_kind(v));
  }
  ImageRef ref{path_value(v["file"], "\"file\"", base_dir), -1};
  if (v.contains("index") && !v["index"].is_null()) {
    const json& idx = v["index"];
    if (!idx.is_number_integer() || idx.get<int64_t>() < 0) {
      throw InputError("\"index\": expected a non-negative integer, got " + idx.dump());
    }
    ref.index = idx.get<int64_t>();
  }
  return ref;
}

Field audio_from_json(const json& v, const std::string& base_dir) {
  if (v.is_string()) return AudioRef{path_value(v, "audio path", base_dir), std::nullopt};
  if (!v.is_object() || !v.contains("file")) {
    throw InputError("expected a path string or {\"file\", \"noise\"}, got " + json_kind(v));
  }
  AudioRef ref{path_value(v["file"], "\"file\"", base_dir), std::nullopt};
  if (v.contains("noise") && !v["noise"].is_null()) {
    const json& n = v["noise"];
    if (!n.is_object() || !n.contains("file")) {
      throw InputError("\"noise\": expected {\"file\", \"offset_s\", \"snr_db\"}, got " +
                       json_kind(n));
    }
    NoiseSpec noise;
    noise.path = path_value(n["file"], "\"noise.file\"", base_dir);
    if (n.contains("offset_s")) noise.offset_s = number_value(n["offset_s"], "\"noise.offset_s\"");
    if (!n.contains("snr_db"))
      throw InputError("\"noise\": missing \"snr_db\" (signal-to-noise dB)");
    noise.snr_db = number_value(n["snr_db"], "\"noise.snr_db\"");
    ref.noise = noise;
  }
  return ref;
}

// {"file": ..., "encoding": ..., "invalid": ...} (data/text/text_decode.h).
Field text_from_file(const json& v, const std::string& base_dir) {
  for (const auto& [key, value] : v.items()) {
    if (key != "file" && key != "encoding" && key != "invalid") {
      throw InputError("unknown key '" + key +
                       "' in a text object; known: file, encoding, invalid");
    }
  }
  if (!v.contains("file")) throw InputError("a text object needs \"file\" (a text file path)");
  const std::string path = path_value(v["file"], "text file", base_dir);
  const auto option = [&](const char* key, const char* fallback) {
    if (!v.contains(key)) return std::string(fallback);
    if (!v[key].is_string()) throw InputError(std::string(key) + ": expected a string");
    return v[key].get<std::string>();
  };
  const std::string name = option("encoding", "auto");
  const TextEncoding encoding = text_encoding_from_string(name);
  const InvalidBytes invalid = invalid_bytes_from_string(option("invalid", "error"));
  return decode_text(read_file(path), encoding, invalid, path, name).text;
}

Field text_from_json(const json& v, const std::string& base_dir) {
  if (v.is_object()) return text_from_file(v, base_dir);
  if (!v.is_string()) {
    throw InputError("expected a UTF-8 string or {\"file\": ...}, got " + json_kind(v));
  }
  const auto& s = v.get_ref<const std::string&>();
  if (auto bad = utf8::find_invalid(s)) {
    throw InputError("invalid UTF-8 at byte " + std::to_string(*bad) +
                     " of the text; re-encode the manifest as UTF-8");
  }
  return s;
}

Field tabular_from_json(const json& v) {
  if (!v.is_array()) throw InputError("expected an array of numbers, got " + json_kind(v));
  std::vector<float> out;
  out.reserve(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) {
    const json& e = v[i];
    if (!e.is_number() || !std::isfinite(e.get<double>())) {
      throw InputError("element " + std::to_string(i) + ": expected a finite number, got " +
                       (e.is_number() ? std::to_string(e.get<double>()) : e.dump()) +
                       "; impute or drop missing values before training");
    }
    out.push_back(e.get<float>());
  }
  return out;
}

}  // namespace

std::string json_kind(const json& value) {
  if (value.is_number()) return "number";
  return value.type_name();
}

Field field_from_json(Modality m, const json& value, const std::string& base_dir) {
  switch (m) {
    case Modality::image:
      return image_from_json(value, base_dir);
    case Modality::audio:
      return audio_from_json(value, base_dir);
    case Modality::text:
      return text_from_json(value, base_dir);
    case Modality::tabular:
      return tabular_from_json(value);
  }
  throw Error("unknown modality");
}

json field_to_json(const Field& field) {
  struct Visitor {
    json operator()(const ImageRef& r) const {
      json j{{"file", r.path}, {"index", r.index}};
      if (r.bytes) j["bytes"] = r.bytes->size();
      return j;
    }
    json operator()(const AudioRef& r) const {
      json j{{"file", r.path}};
      if (r.bytes) j["bytes"] = r.bytes->size();
      if (r.noise) {
        j["noise"] = {
            {"file", r.noise->path}, {"offset_s", r.noise->offset_s}, {"snr_db", r.noise->snr_db}};
      }
      return j;
    }
    json operator()(const std::string& s) const { return s; }
    json operator()(const std::vector<float>& v) const { return v; }
  };
  return std::visit(Visitor{}, field);
}

std::vector<std::string> field_files(const Field& field) {
  if (const auto* img = std::get_if<ImageRef>(&field)) {
    return img->bytes ? std::vector<std::string>{} : std::vector<std::string>{img->path};
  }
  if (const auto* aud = std::get_if<AudioRef>(&field)) {
    std::vector<std::string> files;
    if (!aud->bytes) files.push_back(aud->path);
    if (aud->noise) files.push_back(aud->noise->path);
    return files;
  }
  return {};
}

}  // namespace mmfuse::data
