#include "mmfuse/export/exporters.h"

#include "mmfuse/core/error.h"

namespace mmfuse::onnx_export {

const BlockExporters& block_exporters() {
  static const BlockExporters exporters = [] {
    BlockExporters e;
    add_encoder_exporters(e);
    add_fusion_exporters(e);
    add_head_exporters(e);
    return e;
  }();
  return exporters;
}

const std::vector<UnsupportedBlock>& unsupported_blocks() {
  static const std::vector<UnsupportedBlock> list = {
      {"encoder", "resnet", "its residual stages have no exporter yet"},
      {"encoder", "mobilenet_v2", "its inverted-residual stages have no exporter yet"},
      {"encoder", "yamnet", "its depthwise-separable stages have no exporter yet"},
      {"encoder", "bert",
       "its attention stack and tokenizer-dependent inputs have no exporter yet"},
      {"encoder", "transformer", "its self-attention stack has no exporter yet"},
      {"encoder", "embedding_bag", "bag-of-words inputs have no exporter yet"},
      {"encoder", "frame_sequence", "per-frame sub-encoders have no exporter yet"},
      {"fusion", "early_concat", "token-level concatenation has no exporter yet"},
      {"fusion", "weighted_sum", "no exporter yet"},
      {"fusion", "product", "no exporter yet"},
      {"fusion", "bilinear", "no exporter yet"},
      {"fusion", "film", "no exporter yet"},
      {"fusion", "modality_attention", "no exporter yet"},
      {"fusion", "transformer", "its self-attention stack has no exporter yet"},
      {"fusion", "sequential", "no exporter yet"},
      {"fusion", "late", "no exporter yet"},
      {"fusion", "adversarial", "no exporter yet"},
      {"fusion", "pipeline", "no exporter yet"},
      {"fusion", "max_pool", "no exporter yet"},
  };
  return list;
}

namespace {
template <class Fn>
const Fn& find_exporter(const std::map<std::string, Fn>& map, const char* family,
                        const std::string& name, const ConfigNode& cfg) {
  auto it = map.find(name);
  if (it != map.end()) return it->second;
  for (const auto& u : unsupported_blocks()) {
    if (u.family == family && u.name == name) {
      cfg.fail(std::string(family) + " '" + name + "' cannot be exported yet: " + u.reason);
    }
  }
  cfg.fail(std::string(family) + " '" + name +
           "' cannot be exported: no ONNX exporter is registered under that name");
}
}  // namespace

const EncoderExporter& encoder_exporter(const std::string& name, const ConfigNode& cfg) {
  return find_exporter(block_exporters().encoders, "encoder", name, cfg);
}
const FusionExporter& fusion_exporter(const std::string& name, const ConfigNode& cfg) {
  return find_exporter(block_exporters().fusions, "fusion", name, cfg);
}
const HeadExporter& head_exporter(const std::string& name, const ConfigNode& cfg) {
  return find_exporter(block_exporters().heads, "head", name, cfg);
}

std::string block_type_of(const ConfigNode& cfg) {
  if (cfg.is_scalar()) return cfg.as<std::string>();
  if (cfg.is_map()) return cfg.get<std::string>("type");
  cfg.fail("expected a block name or a map with `type`");
}

torch::nn::Module& child_module(torch::nn::Module& m, const std::string& dotted,
                                const std::string& prefix) {
  for (const auto& item : m.named_modules("", /*include_self=*/false)) {
    if (item.key() == dotted) return *item.value();
  }
  throw Error(prefix + ": the module has no child '" + dotted +
              "'; the exporter does not match this block's layout");
}

torch::Tensor module_tensor(torch::nn::Module& m, const std::string& dotted,
                            const std::string& prefix) {
  for (const auto& p : m.named_parameters(/*recurse=*/true)) {
    if (p.key() == dotted) return p.value();
  }
  for (const auto& b : m.named_buffers(/*recurse=*/true)) {
    if (b.key() == dotted) return b.value();
  }
  throw Error(prefix + ": the module has no tensor '" + dotted +
              "'; the exporter does not match this block's layout");
}

}  // namespace mmfuse::onnx_export
