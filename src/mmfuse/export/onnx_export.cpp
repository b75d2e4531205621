#include "mmfuse/export/onnx_export.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/export/exporters.h"
#include "mmfuse/models/build.h"
#include "mmfuse/runtime/run.h"

namespace mmfuse::onnx_export {
namespace {

OnnxType type_of(const OnnxValueInfo& v) {
  return v.int64 ? OnnxType::int64 : OnnxType::float32;
}

/// Declares the graph inputs of modality m and returns them as an encoder's inputs.
EncoderInputs declare_inputs(OnnxGraph& g, Modality m, const models::ModalityInput& in,
                             OnnxExport& out) {
  OnnxValueInfo data{std::string(to_string(m)), in.vocab_size > 0, {-1}};
  bool variable = false;
  for (int64_t d : in.item_shape) {
    data.dims.push_back(d);
    variable = variable || d < 0;
  }
  g.input(data.name, type_of(data), data.dims);
  out.inputs.push_back(data);
  EncoderInputs e{data.name, ""};
  // Token ids always come with their lengths: the Predictor pads them, the encoders mask the
  // padding.
  if (variable || in.vocab_size > 0) {
    OnnxValueInfo lengths{data.name + "_lengths", true, {-1}};
    g.input(lengths.name, OnnxType::int64, lengths.dims);
    out.inputs.push_back(lengths);
    e.lengths = lengths.name;
  }
  return e;
}

void require_output_folder(const std::string& out_path) {
  const std::filesystem::path parent = std::filesystem::absolute(out_path).parent_path();
  if (!std::filesystem::is_directory(parent)) {
    throw Error(out_path + ": the output folder " + parent.string() +
                " does not exist; create it first");
  }
}

}  // namespace

OnnxExport export_model(models::MultimodalModelImpl& model, const ConfigNode& model_cfg,
                        const models::ModelInputs& inputs, const OnnxExportOptions& options) {
  if (options.opset < 13 || options.opset > 17) {
    throw UsageError("--opset " + std::to_string(options.opset) +
                     " is not supported; the exporter writes opsets 13 to 17");
  }
  torch::NoGradGuard no_grad;
  OnnxGraph g(options.opset);
  OnnxExport out;
  std::vector<ExportedEncoding> encoded;
  for (Modality m : model.modalities()) {
    auto it = inputs.modalities.find(m);
    if (it == inputs.modalities.end()) {
      throw Error("the model encodes " + std::string(to_string(m)) +
                  " but the data has no such input");
    }
    const std::string name(to_string(m));
    ConfigNode cfg = model_cfg["encoders"][name];
    auto in = declare_inputs(g, m, it->second, out);
    BlockRef block{*model.encoder(m).module(), cfg, "encoders." + name};
    encoded.push_back(encoder_exporter(block_type_of(cfg), cfg)(g, block, in));
  }
  std::string z = encoded.front().pooled;
  if (model.fusion()) {
    ConfigNode cfg = model_cfg["fusion"];
    BlockRef block{*model.fusion().module(), cfg, "fusion"};
    z = fusion_exporter(block_type_of(cfg), cfg)(g, block, encoded);
  }
  if (model_cfg.has("high_level")) {
    auto& net = child_module(model, "high_level.net", "high_level");
    z = emit_sequential(g, "high_level.net", *net.as<torch::nn::Sequential>(), z);
  }
  for (const auto& spec : model.heads()) {
    ConfigNode cfg = model_cfg["heads"][spec.target];
    BlockRef block{*spec.head.module(), cfg, "heads." + spec.target};
    auto y = head_exporter(block_type_of(cfg), cfg)(g, block, z);
    OnnxValueInfo info{spec.target, false, {-1, spec.head->out_dim()}};
    g.output(info.name, y, OnnxType::float32, info.dims);
    out.outputs.push_back(info);
  }
  out.nodes = g.node_count();
  out.bytes = g.serialize("mmfuse model exported with opset " + std::to_string(options.opset));
  return out;
}

OnnxExport export_run(const std::string& run_dir, const std::string& out_path,
                      const OnnxExportOptions& options) {
  namespace fs = std::filesystem;
  if (!fs::is_regular_file(fs::path(run_dir) / "model.safetensors")) {
    throw Error(run_dir +
                ": not a finished run (model.safetensors is missing); train one with "
                "`mmfuse train` or pass the run's folder");
  }
  require_output_folder(out_path);
  runtime::RunLoadOptions load;
  load.onednn_gemm = false;
  auto run = runtime::load_run(run_dir, load);
  if (run->task.kind != models::TaskKind::supervised) {
    throw Error(run_dir + ": a " + models::to_string(run->task.kind) +
                " run cannot be exported to ONNX yet (only supervised runs: encoders, fusion, "
                "heads)");
  }
  auto model = run->heads();
  auto result =
      export_model(*model, run->config["model"], models::model_inputs(*run->dataset), options);
  write_file_atomic(out_path, result.bytes);
  return result;
}

OnnxExport export_config(const std::string& config_path, const std::string& out_path,
                         const OnnxExportOptions& options) {
  require_output_folder(out_path);
  ConfigNode root = ConfigNode::load_file(config_path);
  models::ModelInputs inputs;
  torch::manual_seed(0);
  auto model = models::build_model_from_config(root, {}, &inputs);
  model->eval();
  auto result = export_model(*model, root["model"], inputs, options);
  write_file_atomic(out_path, result.bytes);
  return result;
}

std::string describe(const OnnxValueInfo& v) {
  std::string s = v.name + (v.int64 ? " int64 [" : " float32 [");
  for (std::size_t i = 0; i < v.dims.size(); ++i) {
    if (i) s += ", ";
    s += v.dims[i] >= 0 ? std::to_string(v.dims[i]) : (i == 0 ? "batch" : "T");
  }
  return s + "]";
}

}  // namespace mmfuse::onnx_export
