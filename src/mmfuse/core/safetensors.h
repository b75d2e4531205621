// Safetensors I/O (https://github.com/huggingface/safetensors, the format PyTorch peers export):
//   [8 bytes: N, little-endian u64][N bytes: JSON header][byte buffer]
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (offsets
// into the byte buffer) plus an optional "__metadata__": {string: string}.
// Reading validates everything the spec requires (see load_safetensors); writing is deterministic
// (names sorted, header padded with spaces to 8 bytes) and atomic.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <torch/torch.h>

namespace mmfuse {

/// Tensors by name (sorted) and the free-form string metadata of one safetensors file.
struct SafetensorsData {
  std::map<std::string, torch::Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Largest JSON header accepted when reading (the reference implementation uses the same cap).
inline constexpr uint64_t kSafetensorsMaxHeader = 100ull << 20;
/// Most tensors accepted in one file (a large language model has a few thousand).
inline constexpr uint64_t kSafetensorsMaxTensors = 100'000;

/// Caps applied before anything is allocated for a file's tensors; defaults as above.
struct SafetensorsLimits {
  uint64_t max_header_bytes = kSafetensorsMaxHeader;  ///< JSON header length
  uint64_t max_tensors = kSafetensorsMaxTensors;      ///< entries in the header
};

/// "F32" -> torch::kFloat32 ... for F64/F32/F16/BF16/I64/I32/I16/I8/U8/BOOL. Throws Error listing
/// the known names for any other.
torch::ScalarType safetensors_dtype(const std::string& name);
/// torch dtype -> "F32"...; throws Error for dtypes the format lacks (complex, quantized...).
std::string safetensors_dtype_name(torch::ScalarType dtype);

/// Parses a whole safetensors file held in memory. `source` names it in errors (a file path).
/// Requires: the header is at most kSafetensorsMaxHeader bytes of JSON; every entry has a known
/// dtype, a shape of non-negative sizes and offsets with end - begin == numel * itemsize; entries
/// do not overlap and cover the byte buffer exactly (no gaps, nothing after it). Throws InputError
/// (file = source) naming the offending tensor otherwise.
/// `limits` caps the header size and the tensor count (an error names the cap and how to raise it).
SafetensorsData parse_safetensors(std::string_view bytes, const std::string& source,
                                  const SafetensorsLimits& limits = {});
/// parse_safetensors of the file at `path` (CPU tensors, copies of the file's bytes).
SafetensorsData load_safetensors(const std::string& path);

/// The file bytes for `tensors` (any device, any strides; sorted by name) and `metadata`.
/// Throws Error for an undefined tensor, an empty name or the reserved name "__metadata__".
std::string serialize_safetensors(const std::map<std::string, torch::Tensor>& tensors,
                                  const std::map<std::string, std::string>& metadata = {});
/// serialize_safetensors written atomically to `path` (parent folders created).
void save_safetensors(const std::string& path, const std::map<std::string, torch::Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

// ---------------------------------------------------------------- torch modules

/// Every parameter and buffer of `module` by its dotted path ("encoders.image.net.0.weight"),
/// as torch's state_dict names them. Undefined buffers are left out.
std::map<std::string, torch::Tensor> module_state(const torch::nn::Module& module);

/// save_safetensors(path, module_state(module), metadata).
void save_module(const torch::nn::Module& module, const std::string& path,
                 const std::map<std::string, std::string>& metadata = {});

struct ModuleLoadOptions {
  /// Maps a file's tensor name to the module's name for it ("img.net.0.weight" ->
  /// "encoders.image.net.0.weight"); identity when empty.
  std::function<std::string(const std::string&)> rename;
  /// Strict: every file tensor is used, every module parameter/buffer is filled, shapes agree;
  /// otherwise one Error lists every problem. Non-strict loads what matches and reports the rest.
  bool strict = true;
  /// Module names starting with one of these may stay unfilled (keep their initial values) even
  /// when strict, e.g. learned placeholders for absent modalities that the source model lacks.
  std::vector<std::string> may_stay_initialized;
  /// Floating-point tensors of another precision (F16, BF16, F64 in a file for an F32 module)
  /// are converted and listed in `converted`; false: such a tensor is a mismatch. Any other dtype
  /// difference (an integer file tensor for a float module, ...) is always a mismatch.
  bool convert_float_dtypes = false;
  /// Check and report only: nothing is copied into the module, nothing is thrown.
  bool dry_run = false;
};

/// What load_module did.
struct ModuleLoadReport {
  std::vector<std::string> loaded;       ///< module names filled
  std::vector<std::string> missing;      ///< module names without a file tensor
  std::vector<std::string> unexpected;   ///< file names (as in the file) with no module tensor
  std::vector<std::string> mismatched;   ///< "name: file [a, b] vs module [c, d]"
  std::vector<std::string> wrong_dtype;  ///< "name: file F16 vs module F32" (not converted)
  std::vector<std::string> converted;    ///< "name: F16 -> F32" (convert_float_dtypes)
  /// Empty when everything matched; else one line per problem.
  std::string describe() const;
};

/// Copies `tensors` into `module`'s parameters and buffers (moving them to the module's device,
/// without recording gradients; dtypes must match unless options.convert_float_dtypes). `source`
/// names the file in errors. Throws Error naming `source` and listing every missing, unexpected and
/// mismatched tensor when strict and anything does not match; in that case `module` is left
/// unchanged.
ModuleLoadReport load_module(torch::nn::Module& module,
                             const std::map<std::string, torch::Tensor>& tensors,
                             const ModuleLoadOptions& options = {},
                             const std::string& source = "<tensors>");
/// load_module from the safetensors file at `path`.
ModuleLoadReport load_module(torch::nn::Module& module, const std::string& path,
                             const ModuleLoadOptions& options = {});

}  // namespace mmfuse
