#include "mmfuse/data/manifest.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "mmfuse/core/fs.h"
#include "mmfuse/core/utf8.h"
#include "mmfuse/data/data_root.h"
#include "mmfuse/data/field.h"
#include "mmfuse/data/manifest_csv.h"
#include "mmfuse/data/video/video_field.h"

namespace mmfuse::data {

using nlohmann::json;

namespace {

constexpr const char* kSentinel = "\xEF\xBF\xBF";  // U+FFFF stands in for invalid UTF-8 bytes

// Replaces every invalid UTF-8 sequence by kSentinel so the line can still be parsed and the
// field holding it named. Returns the byte offset of the first invalid byte, or npos.
std::size_t mask_invalid_utf8(std::string& line) {
  auto first = utf8::find_invalid(line);
  if (!first) return std::string::npos;
  std::string out = line.substr(0, *first);
  std::size_t i = *first;
  while (i < line.size()) {
    auto bad = utf8::find_invalid(std::string_view(line).substr(i));
    if (!bad) {
      out.append(line, i, std::string::npos);
      break;
    }
    out.append(line, i, *bad);
    out += kSentinel;
    i += *bad + 1;
  }
  line = std::move(out);
  return *first;
}

// Python's json writes NaN/Infinity, which JSON lacks: quote those tokens (outside strings) so
// the value is reported as a non-number naming its field instead of a malformed line.
std::string quote_nonfinite(const std::string& line) {
  static const char* kTokens[] = {"-Infinity", "Infinity", "NaN"};
  std::string out;
  bool in_string = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < line.size()) {
        out += line[++i];
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') in_string = true;
    bool matched = false;
    for (const char* tok : kTokens) {
      std::size_t n = std::char_traits<char>::length(tok);
      if (line.compare(i, n, tok) == 0) {
        out += '"' + std::string(tok) + '"';
        i += n - 1;
        matched = true;
        break;
      }
    }
    if (!matched) out += c;
  }
  return out;
}

json parse_json_line(std::string line, const std::string& manifest, int64_t line_no) {
  std::size_t invalid_at = mask_invalid_utf8(line);
  json obj = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded()) obj = json::parse(quote_nonfinite(line), nullptr, false);
  if (obj.is_discarded()) {
    std::string reason;
    try {
      json ignored = json::parse(line);
    } catch (const json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
      reason = e.what();
      auto close = reason.find("] ");
      if (close != std::string::npos) reason = reason.substr(close + 2);
    }
    throw InputError("malformed JSON (" + reason + "); each line must be one JSON object")
        .at(manifest, line_no, "");
  }
  if (!obj.is_object()) {
    throw InputError("expected a JSON object per line, got " + json_kind(obj))
        .at(manifest, line_no, "");
  }
  if (invalid_at != std::string::npos) {
    for (const auto& [key, value] : obj.items()) {
      if (value.dump(-1, ' ', false, json::error_handler_t::replace).find(kSentinel) !=
          std::string::npos) {
        throw InputError("invalid UTF-8 at byte " + std::to_string(invalid_at) +
                         " of the line; re-encode the manifest as UTF-8")
            .at(manifest, line_no, key);
      }
    }
  }
  return obj;
}

std::string class_value(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    double x = v.get<double>();
    if (std::isfinite(x) && x == std::floor(x) && std::fabs(x) < 9e15) {
      return std::to_string(static_cast<int64_t>(x));
    }
  }
  throw InputError("expected a class name (string) or an integer, got " +
                   (v.is_number() ? v.dump() : json_kind(v)));
}

std::vector<float> regression_value(const json& v) {
  std::vector<float> out;
  auto add = [&](const json& e, std::size_t i) {
    if (!e.is_number() || !std::isfinite(e.get<double>())) {
      throw InputError((v.is_array() ? "element " + std::to_string(i) + ": " : std::string()) +
                       "expected a finite number, got " +
                       (e.is_number() ? e.dump() : json_kind(e)));
    }
    out.push_back(e.get<float>());
  };
  if (v.is_array()) {
    if (v.empty()) throw InputError("expected a number or an array of numbers, got []");
    for (std::size_t i = 0; i < v.size(); ++i) add(v[i], i);
  } else {
    add(v, 0);
  }
  return out;
}

void check_text_size(const Field& field, int64_t max_bytes) {
  const auto* text = std::get_if<std::string>(&field);
  if (text && static_cast<int64_t>(text->size()) > max_bytes) {
    throw InputError("text is " + std::to_string(text->size()) + " bytes, " +
                     limit_hint(max_bytes, "max_text_bytes"));
  }
}

Sample sample_from_json(const json& obj, const ManifestSchema& schema, const std::string& manifest,
                        const std::string& manifest_name, const std::string& base_dir,
                        int64_t line_no) {
  Sample s;
  s.manifest = manifest;
  s.line = line_no;
  auto id = obj.find(schema.id_field);
  if (id == obj.end() || id->is_null()) {
    s.id = manifest_name + ":" + std::to_string(line_no);
  } else if (id->is_string() && !id->get_ref<const std::string&>().empty()) {
    s.id = id->get<std::string>();
  } else if (id->is_number_integer()) {
    s.id = std::to_string(id->get<int64_t>());
  } else {
    throw InputError("expected a non-empty string or an integer id, got " + json_kind(*id))
        .at(manifest, line_no, schema.id_field);
  }
  for (Modality m : kAllModalities) {
    const std::string& key = schema.fields[index_of(m)];
    if (key.empty()) continue;
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) continue;  // absent modality: data, not an error
    try {
      if (!schema.data_root.empty()) check_field_paths_in_root(m, *it, base_dir, schema.data_root);
      if (!schema.video_field.empty() && key == schema.video_field) {
        s.fields[index_of(m)] = video::video_field_from_json(m, *it, base_dir);
      } else {
        s.fields[index_of(m)] = field_from_json(m, *it, base_dir);
      }
      check_text_size(*s.fields[index_of(m)], schema.limits.max_text_bytes);
    } catch (const InputError& e) {
      throw e.at(manifest, line_no, key);
    }
  }
  for (const auto& t : schema.targets) {
    auto it = obj.find(t.field);
    if (it == obj.end() || it->is_null()) {
      if (!t.required) continue;
      throw InputError("missing target '" + t.name +
                       "'; every sample needs it (or mark the target `required: false`)")
          .at(manifest, line_no, t.field);
    }
    try {
      if (t.kind == TargetKind::class_label) {
        s.targets[t.name] = class_value(*it);
      } else {
        s.targets[t.name] = regression_value(*it);
      }
    } catch (const InputError& e) {
      throw e.at(manifest, line_no, t.field);
    }
  }
  return s;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

ManifestSchema ManifestSchema::all_modalities() {
  ManifestSchema s;
  for (Modality m : kAllModalities) s.fields[index_of(m)] = std::string(to_string(m));
  s.targets.push_back({"label", "label", TargetKind::class_label, /*required=*/false});
  return s;
}

BadSample BadSample::from(const InputError& e, std::string id) {
  return {std::move(id), e.manifest(), e.line(), e.field(), e.file(), e.reason()};
}

std::string BadSample::message() const {
  return InputError(reason, file).at(manifest, line, field).what();
}

ManifestData read_manifest(const std::string& path, const ManifestSchema& schema, bool skip_bad) {
  return read_manifests({path}, schema, skip_bad);
}

namespace {

// Newlines in a file, read in blocks (for reserving the samples before reading them).
std::size_t count_lines(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return 0;
  std::vector<char> block(1 << 16);
  std::size_t n = 0;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    n += static_cast<std::size_t>(std::count(block.data(), block.data() + in.gcount(), '\n'));
  }
  return n;
}

}  // namespace

struct ManifestReader::State {
  std::vector<std::string> paths;
  ManifestSchema schema;
  bool skip_bad = false;
  std::size_t next_file = 0;  ///< index in `paths` of the next file to open
  std::ifstream in;           ///< the open file (paths[next_file - 1]), or closed
  std::string path, base_dir, name;
  bool csv = false;
  std::optional<CsvHeader> header;
  int64_t line_no = 0;
  // id -> (index in `paths`, line) of its first sample: a few words per sample, not a string
  std::unordered_map<std::string, std::pair<std::size_t, int64_t>> seen;

  // Opens the next file; false when none is left.
  bool open_next() {
    in = std::ifstream();
    if (next_file >= paths.size()) return false;
    path = paths[next_file++];
    in.open(path, std::ios::binary);
    if (!in) throw InputError(std::string("cannot open file: ") + std::strerror(errno), path);
    base_dir = parent_dir(path);
    name = std::filesystem::path(path).filename().string();
    csv = ends_with(name, ".csv") || ends_with(name, ".CSV");
    header.reset();
    line_no = 0;
    return true;
  }

  // One line of the open file into `line` (without its '\n'); false at the end of the file.
  bool next_line(std::string& line) {
    if (!std::getline(in, line)) {
      if (in.bad()) throw InputError("read failed", path);
      return false;
    }
    ++line_no;
    return true;
  }

  // Parses one line into `out`: a sample, a bad line (skip_bad), or nothing (blank, header).
  void parse(std::string line, ManifestData& out) {
    if (static_cast<int64_t>(line.size()) > schema.limits.max_manifest_line_bytes) {
      InputError e =
          InputError("line is " + std::to_string(line.size()) + " bytes, " +
                     limit_hint(schema.limits.max_manifest_line_bytes, "max_manifest_line_bytes"))
              .at(path, line_no, "");
      if (!skip_bad || (csv && !header)) throw e;
      out.bad.push_back(BadSample::from(e));
      return;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) return;
    try {
      if (csv && !header) {
        header = parse_csv_header(line, path, line_no);
        return;
      }
      json obj = csv ? csv_row_to_json(*header, line, schema, path, line_no)
                     : parse_json_line(std::move(line), path, line_no);
      Sample s = sample_from_json(obj, schema, path, name, base_dir, line_no);
      auto [it, fresh] = seen.emplace(s.id, std::make_pair(next_file - 1, line_no));
      if (!fresh) {
        throw InputError("duplicate id '" + s.id + "' (first at " + paths[it->second.first] + ":" +
                         std::to_string(it->second.second) + "); ids must be unique within a split")
            .at(path, line_no, schema.id_field);
      }
      out.samples.push_back(std::move(s));
    } catch (const InputError& e) {
      if (!skip_bad || (csv && !header)) throw;
      out.bad.push_back(BadSample::from(e));
    }
  }
};

ManifestReader::ManifestReader(std::vector<std::string> paths, ManifestSchema schema, bool skip_bad)
    : state_(std::make_unique<State>()) {
  state_->paths = std::move(paths);
  state_->schema = std::move(schema);
  state_->skip_bad = skip_bad;
}

ManifestReader::~ManifestReader() = default;
ManifestReader::ManifestReader(ManifestReader&&) noexcept = default;
ManifestReader& ManifestReader::operator=(ManifestReader&&) noexcept = default;

bool ManifestReader::read(ManifestData& out, std::size_t max_samples) {
  State& st = *state_;
  const std::size_t first = out.samples.size(), first_bad = out.bad.size();
  std::string line;
  while (out.samples.size() - first < max_samples) {
    if (!st.in.is_open() || !st.next_line(line)) {
      if (!st.open_next()) break;
      continue;
    }
    st.parse(std::move(line), out);
  }
  return out.samples.size() > first || out.bad.size() > first_bad;
}

ManifestData read_manifests(const std::vector<std::string>& paths, const ManifestSchema& schema,
                            bool skip_bad) {
  ManifestData out;
  // One sample per line at most: reserving avoids the vector's doublings, whose abandoned
  // buffers (up to 1.5x the samples' size) the heap would keep after the read.
  std::size_t lines = 0;
  for (const auto& path : paths) lines += count_lines(path) + 1;
  out.samples.reserve(lines);
  ManifestReader reader(paths, schema, skip_bad);
  reader.read(out, std::numeric_limits<std::size_t>::max());
  return out;
}

}  // namespace mmfuse::data
