// Block exporters: one function per registered block name (encoders, fusions, heads) that writes
// the block's eval-mode forward into an OnnxGraph, registered by name like the blocks themselves
// so the nn layer never depends on ONNX. Blocks ONNX cannot express yet are named in one list
// (unsupported_blocks) with the reason; looking one up throws an error naming the block, its
// config path and that reason.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/export/graph.h"

namespace mmfuse::onnx_export {

/// An encoder's outputs as graph values ("" = not given).
struct ExportedEncoding {
  std::string pooled;  ///< [B, D]
  std::string tokens;  ///< [B, T, Dt]
  std::string mask;    ///< [B, T] float, 1 for real tokens; "" when all tokens are real
};

/// The block being exported: its module, its config (path for messages) and the name prefix of
/// its initializers ("encoders.image", "fusion.branch_1", "heads.digit").
struct BlockRef {
  torch::nn::Module& module;
  ConfigNode cfg;
  std::string prefix;
};

/// An encoder's graph inputs: the modality's data and, for variable-length items, its lengths
/// [B] int64 ("" otherwise).
struct EncoderInputs {
  std::string data;
  std::string lengths;
};

using EncoderExporter =
    std::function<ExportedEncoding(OnnxGraph&, const BlockRef&, const EncoderInputs&)>;
/// inputs in the fusion context's order -> fused [B, D]
using FusionExporter =
    std::function<std::string(OnnxGraph&, const BlockRef&, const std::vector<ExportedEncoding>&)>;
/// z [B, D] -> output [B, K]
using HeadExporter = std::function<std::string(OnnxGraph&, const BlockRef&, const std::string&)>;

/// A registered block the exporter does not handle, and why.
struct UnsupportedBlock {
  std::string family;  ///< "encoder", "fusion" or "head"
  std::string name;
  std::string reason;
};

/// The exporters of the built-in blocks, by block name.
struct BlockExporters {
  std::map<std::string, EncoderExporter> encoders;
  std::map<std::string, FusionExporter> fusions;
  std::map<std::string, HeadExporter> heads;
};

const BlockExporters& block_exporters();
void add_encoder_exporters(BlockExporters& e);
void add_fusion_exporters(BlockExporters& e);
void add_head_exporters(BlockExporters& e);

/// The one documented list of registered blocks that cannot be exported (docs/DEPLOY.md).
const std::vector<UnsupportedBlock>& unsupported_blocks();

/// The exporter of block `name` of `family` configured at `cfg`. Throws ConfigError
/// "<cfg path>: <family> '<name>' cannot be exported yet: <reason>" when there is none.
const EncoderExporter& encoder_exporter(const std::string& name, const ConfigNode& cfg);
const FusionExporter& fusion_exporter(const std::string& name, const ConfigNode& cfg);
const HeadExporter& head_exporter(const std::string& name, const ConfigNode& cfg);

/// The block name of a config entry: the scalar itself or the map's `type`.
std::string block_type_of(const ConfigNode& cfg);

/// Module `dotted` ("net", "proj.0") under `m`; throws Error naming `prefix` when it is missing.
torch::nn::Module& child_module(torch::nn::Module& m, const std::string& dotted,
                                const std::string& prefix);
/// Parameter or buffer `dotted` of `m` ("rank_weights", "factors.0").
torch::Tensor module_tensor(torch::nn::Module& m, const std::string& dotted,
                            const std::string& prefix);

}  // namespace mmfuse::onnx_export
