#include "mmfuse/core/safetensors.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>

#include <nlohmann/json.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

namespace mmfuse {

namespace {

struct DtypeEntry {
  const char* name;
  torch::ScalarType dtype;
};

// The one table between the format's dtype names and torch's.
constexpr std::array<DtypeEntry, 10> kDtypes = {{{"F64", torch::kFloat64},
                                                 {"F32", torch::kFloat32},
                                                 {"F16", torch::kFloat16},
                                                 {"BF16", torch::kBFloat16},
                                                 {"I64", torch::kInt64},
                                                 {"I32", torch::kInt32},
                                                 {"I16", torch::kInt16},
                                                 {"I8", torch::kInt8},
                                                 {"U8", torch::kUInt8},
                                                 {"BOOL", torch::kBool}}};

std::string known_dtypes() {
  std::string out;
  for (const auto& d : kDtypes) out += (out.empty() ? "" : ", ") + std::string(d.name);
  return out;
}

bool host_is_little_endian() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

std::string shape_str(c10::IntArrayRef shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

// One header entry after validation of its own fields.
struct Entry {
  std::string name;
  torch::ScalarType dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

Entry parse_entry(const std::string& name, const nlohmann::json& v, const std::string& source) {
  auto fail = [&](const std::string& why) {
    throw InputError("safetensors header: tensor '" + name + "': " + why, source);
  };
  if (!v.is_object()) fail("expected an object {dtype, shape, data_offsets}, got " + v.dump());
  Entry e;
  e.name = name;
  if (!v.contains("dtype") || !v["dtype"].is_string()) fail("missing string field 'dtype'");
  const std::string dt = v["dtype"].get<std::string>();
  auto it =
      std::find_if(kDtypes.begin(), kDtypes.end(), [&](const auto& d) { return dt == d.name; });
  if (it == kDtypes.end()) fail("unknown dtype '" + dt + "'; known: " + known_dtypes());
  e.dtype = it->dtype;
  if (!v.contains("shape") || !v["shape"].is_array()) fail("missing array field 'shape'");
  for (const auto& s : v["shape"]) {
    if (!s.is_number_unsigned()) fail("shape " + v["shape"].dump() + " has a non-size entry");
    if (s.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      fail("shape " + v["shape"].dump() + " has a size over 2^63 - 1");
    }
    e.shape.push_back(s.get<int64_t>());
  }
  const auto& off = v.contains("data_offsets") ? v["data_offsets"] : nlohmann::json();
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned()) {
    fail("expected 'data_offsets': [begin, end] of two non-negative integers, got " + off.dump());
  }
  e.begin = off[0].get<uint64_t>();
  e.end = off[1].get<uint64_t>();
  if (e.end < e.begin) fail("data_offsets " + off.dump() + " end before begin");
  uint64_t expected = c10::elementSize(e.dtype);
  for (int64_t s : e.shape) {
    if (__builtin_mul_overflow(expected, static_cast<uint64_t>(s), &expected)) {
      fail("shape " + v["shape"].dump() + " is too large");
    }
  }
  if (e.end - e.begin != expected) {
    fail("data_offsets " + off.dump() + " span " + std::to_string(e.end - e.begin) +
         " bytes, but " + dt + " " + shape_str(e.shape) + " needs " + std::to_string(expected) +
         "; the file is corrupt or was written by a broken writer");
  }
  return e;
}

}  // namespace

torch::ScalarType safetensors_dtype(const std::string& name) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.dtype;
  }
  throw Error("unknown safetensors dtype '" + name + "'; known: " + known_dtypes());
}

std::string safetensors_dtype_name(torch::ScalarType dtype) {
  for (const auto& d : kDtypes) {
    if (dtype == d.dtype) return d.name;
  }
  throw Error(std::string("safetensors cannot store dtype ") + c10::toString(dtype) +
              "; convert the tensor to one of " + known_dtypes());
}

namespace {

/// The JSON header of `bytes` (its length n in `header_bytes`), checked against `limits`.
nlohmann::json read_header(std::string_view bytes, const std::string& source,
                           const SafetensorsLimits& limits, uint64_t& header_bytes) {
  if (bytes.size() < 8) {
    throw InputError("truncated safetensors file: " + std::to_string(bytes.size()) +
                         " bytes, expected at least the 8-byte header length",
                     source);
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  if (n > limits.max_header_bytes) {
    throw InputError("safetensors header length " + std::to_string(n) + " exceeds the " +
                         std::to_string(limits.max_header_bytes) +
                         "-byte limit (SafetensorsLimits::max_header_bytes); not a safetensors "
                         "file or corrupt",
                     source);
  }
  if (n > bytes.size() - 8) {
    throw InputError("truncated safetensors file: header length " + std::to_string(n) +
                         " but only " + std::to_string(bytes.size() - 8) +
                         " bytes follow the length field",
                     source);
  }
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(bytes.substr(8, n));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("safetensors header is not valid JSON: ") + e.what(), source);
  }
  if (!header.is_object()) throw InputError("safetensors header is not a JSON object", source);
  const std::size_t n_tensors = header.size() - (header.contains("__metadata__") ? 1 : 0);
  if (n_tensors > limits.max_tensors) {
    throw InputError("safetensors header lists " + std::to_string(n_tensors) +
                         " tensors, over the limit of " + std::to_string(limits.max_tensors) +
                         " (SafetensorsLimits::max_tensors; raise it to load this file)",
                     source);
  }

  header_bytes = n;
  return header;
}

/// Entries sorted by offset must tile `buffer` exactly: no overlap, no gap, nothing extra.
void check_tiling(std::vector<Entry>& entries, std::string_view buffer, const std::string& source) {
  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const auto& e : entries) {
    if (e.end > buffer.size()) {
      throw InputError("tensor '" + e.name + "' data_offsets [" + std::to_string(e.begin) + ", " +
                           std::to_string(e.end) + "] run past the " +
                           std::to_string(buffer.size()) + "-byte buffer (truncated file?)",
                       source);
    }
    if (e.begin < pos) {
      throw InputError("tensors '" + prev->name + "' and '" + e.name + "' overlap (bytes " +
                           std::to_string(e.begin) + ".." + std::to_string(pos) + ")",
                       source);
    }
    if (e.begin > pos) {
      throw InputError("gap of " + std::to_string(e.begin - pos) + " unused bytes before tensor '" +
                           e.name + "' (the format requires the buffer to be fully covered)",
                       source);
    }
    pos = e.end;
    prev = &e;
  }
  if (pos != buffer.size()) {
    throw InputError("byte buffer is " + std::to_string(buffer.size()) +
                         " bytes but the tensors cover " + std::to_string(pos) +
                         " (trailing data or a wrong header)",
                     source);
  }
}

}  // namespace

SafetensorsData parse_safetensors(std::string_view bytes, const std::string& source,
                                  const SafetensorsLimits& limits) {
  if (!host_is_little_endian()) throw Error("safetensors I/O needs a little-endian host");
  uint64_t n = 0;
  const nlohmann::json header = read_header(bytes, source, limits, n);
  SafetensorsData out;
  std::vector<Entry> entries;
  for (const auto& [key, value] : header.items()) {
    if (key == "__metadata__") {
      if (!value.is_object()) throw InputError("safetensors __metadata__ is not an object", source);
      for (const auto& [mk, mv] : value.items()) {
        if (!mv.is_string()) {
          throw InputError("safetensors __metadata__ '" + mk + "' is not a string", source);
        }
        out.metadata[mk] = mv.get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(key, value, source));
  }

  const std::string_view buffer = bytes.substr(8 + n);
  check_tiling(entries, buffer, source);
  for (const auto& e : entries) {
    torch::Tensor t = torch::empty(e.shape, torch::TensorOptions().dtype(e.dtype));
    if (e.end > e.begin) std::memcpy(t.data_ptr(), buffer.data() + e.begin, e.end - e.begin);
    out.tensors.emplace(e.name, std::move(t));
  }
  return out;
}

SafetensorsData load_safetensors(const std::string& path) {
  return parse_safetensors(read_file(path), path);
}

std::string serialize_safetensors(const std::map<std::string, torch::Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata) {
  if (!host_is_little_endian()) throw Error("safetensors I/O needs a little-endian host");
  nlohmann::json header = nlohmann::json::object();
  std::vector<torch::Tensor> blobs;
  uint64_t offset = 0;
  for (const auto& [name, tensor] : tensors) {
    if (name.empty() || name == "__metadata__") {
      throw Error("cannot save a tensor named '" + name + "' in safetensors; rename it");
    }
    if (!tensor.defined()) throw Error("cannot save undefined tensor '" + name + "'");
    torch::Tensor t = tensor.detach().to(torch::kCPU).contiguous();
    const uint64_t size = static_cast<uint64_t>(t.numel()) * t.element_size();
    header[name] = {{"dtype", safetensors_dtype_name(t.scalar_type())},
                    {"shape", t.sizes().vec()},
                    {"data_offsets", {offset, offset + size}}};
    offset += size;
    blobs.push_back(std::move(t));
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string json = header.dump();  // keys sorted: deterministic
  json.append((8 - json.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  out += json;
  out.reserve(out.size() + offset);
  for (const auto& t : blobs) {
    out.append(static_cast<const char*>(t.data_ptr()), t.numel() * t.element_size());
  }
  return out;
}

void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  write_file_atomic(path, serialize_safetensors(tensors, metadata));
}

std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& module) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& p : module.named_parameters(/*recurse=*/true)) out[p.key()] = p.value();
  for (const auto& b : module.named_buffers(/*recurse=*/true)) {
    if (b.value().defined()) out[b.key()] = b.value();
  }
  return out;
}

void save_module(const torch::nn::Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata) {
  save_safetensors(path, module_state(module), metadata);
}

std::string ModuleLoadReport::describe() const {
  std::string out;
  for (const auto& m : missing) out += "\n  missing in the file: " + m;
  for (const auto& u : unexpected) out += "\n  unexpected (unused) in the file: " + u;
  for (const auto& s : mismatched) out += "\n  shape mismatch: " + s;
  for (const auto& s : wrong_dtype) out += "\n  dtype mismatch: " + s;
  return out;
}

ModuleLoadReport load_module(torch::nn::Module& module,
                             const std::map<std::string, torch::Tensor>& tensors,
                             const ModuleLoadOptions& options, const std::string& source) {
  std::map<std::string, torch::Tensor> targets = module_state(module);
  ModuleLoadReport report;
  // Pair file tensors with module tensors first; copy only when the whole load is acceptable.
  std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (module tensor, file tensor)
  std::map<std::string, std::string> filled_from;
  for (const auto& [file_name, value] : tensors) {
    const std::string name = options.rename ? options.rename(file_name) : file_name;
    auto it = targets.find(name);
    const std::string label = name == file_name ? name : file_name + " -> " + name;
    if (it == targets.end()) {
      report.unexpected.push_back(label);
      continue;
    }
    if (auto dup = filled_from.find(name); dup != filled_from.end()) {
      report.mismatched.push_back(name + ": filled twice (from " + dup->second + " and " +
                                  file_name + "); check the rename rules");
      continue;
    }
    filled_from[name] = file_name;
    if (it->second.sizes() != value.sizes()) {
      report.mismatched.push_back(label + ": file " + shape_str(value.sizes()) + " vs module " +
                                  shape_str(it->second.sizes()));
      continue;
    }
    if (it->second.scalar_type() != value.scalar_type()) {
      const std::string from = safetensors_dtype_name(value.scalar_type());
      const std::string to = safetensors_dtype_name(it->second.scalar_type());
      if (!options.convert_float_dtypes || !value.is_floating_point() ||
          !it->second.is_floating_point()) {
        report.wrong_dtype.push_back(label + ": file " + from + " vs module " + to +
                                     (value.is_floating_point() && it->second.is_floating_point()
                                          ? " (allow the conversion to load it)"
                                          : ""));
        continue;
      }
      report.converted.push_back(label + ": " + from + " -> " + to);
    }
    copies.emplace_back(it->second, value);
    report.loaded.push_back(name);
  }
  for (const auto& [name, t] : targets) {
    if (filled_from.count(name)) continue;
    const std::string& key = name;  // C++17 lambdas cannot capture a structured binding (clang)
    bool allowed =
        std::any_of(options.may_stay_initialized.begin(), options.may_stay_initialized.end(),
                    [&](const std::string& p) { return key.rfind(p, 0) == 0; });
    if (!allowed) report.missing.push_back(name + " " + shape_str(t.sizes()));
  }
  const std::string problems = report.describe();
  if (options.dry_run) return report;
  if (options.strict && !problems.empty()) {
    throw Error(source + ": the tensors do not match the model (" +
                std::to_string(report.loaded.size()) + " of " + std::to_string(targets.size()) +
                " matched); fix the checkpoint or the rename rules:" + problems);
  }
  torch::NoGradGuard no_grad;
  for (auto& [dst, src] : copies) dst.copy_(src);
  return report;
}

ModuleLoadReport load_module(torch::nn::Module& module, const std::string& path,
                             const ModuleLoadOptions& options) {
  return load_module(module, load_safetensors(path).tensors, options, path);
}

}  // namespace mmfuse
