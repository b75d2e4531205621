// Pretrained weights for any block: the `pretrained:` key every encoder and head config accepts.
//
//   encoders:
//     image:
//       type: mobilenet_v2
//       padding: same
//       pretrained:
//         file: ../../../shared/pretrained/mobilenet_v2_imagenet.safetensors  # config's folder
//         prefix: ""              # file name = prefix + rest
//         into: ""                # block name = into + rest (e.g. `linear.` for a linear head)
//         exclude: [classifier.]  # file tensors (names as in the file) meant for something else
//         strict: true            # every block tensor filled, nothing else under the prefix
//         convert_dtypes: false   # true: F16 / BF16 / F64 tensors converted to F32 (listed)
//
// As PyTorch's load_state_dict: names and shapes are checked, and a failure lists every missing,
// unexpected, mismatched and wrong-dtype tensor. Dtypes are never converted silently: a float
// tensor of another precision is a mismatch unless convert_dtypes is set, and then each
// conversion is logged and reported. Non-strict loads what matches and logs the rest.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse::nn {

struct PretrainedOptions {
  std::string file;                  ///< safetensors file (resolved)
  std::string prefix;                ///< file-name part before the block's own names
  std::string into;                  ///< block-name part before the file's (after prefix)
  std::vector<std::string> exclude;  ///< file-name prefixes left out
  bool strict = true;
  bool convert_dtypes = false;

  /// The `pretrained` child of a block config (nullopt when absent); a plain string is the
  /// file. A relative `file` resolves against the config file's folder. Errors name the path.
  static std::optional<PretrainedOptions> from_config(const ConfigNode& block_cfg);
};

/// Loads `options.file` into `block` (see the top of this file); `what` names the block in
/// messages ("encoder", "head"). Throws Error naming the file and listing every problem
/// (strict), and leaves the block unchanged then.
ModuleLoadReport load_pretrained(torch::nn::Module& block, const PretrainedOptions& options,
                                 const std::string& what = "encoder");

/// The block's own config: `cfg` without its `pretrained` key (what the block factory reads).
ConfigNode without_pretrained(const ConfigNode& cfg);

/// Loads the weights `cfg`'s `pretrained:` names into `block` (nothing without the key); errors
/// are ConfigErrors at `cfg.pretrained`.
void load_configured_pretrained(torch::nn::Module& block, const ConfigNode& cfg,
                                const std::string& what);

/// Rewrites relative `pretrained.file` entries of every block under `blocks` (a map such as
/// `model.encoders` or `model.heads`) as absolute paths, resolved against its config's folder:
/// applied to a run config before it is saved in the run directory, whose folder is elsewhere.
void resolve_pretrained_files(const ConfigNode& blocks);

}  // namespace mmfuse::nn
