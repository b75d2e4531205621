// ONNX export checked in ONNX Runtime: the six AV-MNIST models (built from their configs with
// seeded weights and randomised BatchNorm statistics), a conformance pass over the block
// registries, and export errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "export/ort_util.h"
#include "mmfuse/core/error.h"
#include "mmfuse/export/exporters.h"
#include "mmfuse/export/onnx_export.h"
#include "mmfuse/models/build.h"

namespace mmfuse::onnx_export {
namespace {

using ::testing::HasSubstr;
using testing::OrtRun;
using testing::TensorMap;

constexpr double kTolerance = 1e-4;

/// Non-trivial BatchNorm statistics and affine terms, so folding them is really checked.
void randomize_batch_norms(torch::nn::Module& model) {
  torch::NoGradGuard no_grad;
  for (const auto& m : model.modules(/*include_self=*/false)) {
    for (auto& item : m->named_buffers(/*recurse=*/false)) {
      if (item.key() == "running_mean") item.value().normal_(0.0, 0.2);
      if (item.key() == "running_var") item.value().uniform_(0.5, 1.5);
    }
    if (m->as<torch::nn::BatchNorm2d>() || m->as<torch::nn::BatchNorm1d>()) {
      for (auto& item : m->named_parameters(/*recurse=*/false)) {
        if (item.key() == "weight") item.value().uniform_(0.5, 1.5);
        if (item.key() == "bias") item.value().normal_(0.0, 0.2);
      }
    }
  }
}

/// A batch's inputs as the graph takes them (lengths varied so masking matters).
TensorMap graph_inputs(data::Batch& batch) {
  TensorMap out;
  for (Modality m : kAllModalities) {
    if (!batch.has(m)) continue;
    auto& mb = *batch.inputs[index_of(m)];
    const std::string name(to_string(m));
    out[name] = mb.data;
    if (mb.lengths.defined()) {
      const int64_t steps = mb.data.size(1);
      for (int64_t i = 0; i < mb.lengths.size(0); ++i) {
        mb.lengths[i] = std::max<int64_t>(1, steps - 3 * i);
      }
      out[name + "_lengths"] = mb.lengths;
    }
  }
  return out;
}

/// Exports `model` to a file in `dir`, runs it in ONNX Runtime on example batches of 1 and 4,
/// and checks every head's output against the module path; returns the largest difference.
double check_against_onnxruntime(models::MultimodalModelImpl& model, const ConfigNode& model_cfg,
                                 const models::ModelInputs& inputs, const std::string& file,
                                 const std::string& dir) {
  model.eval();
  auto exported = export_model(model, model_cfg, inputs);
  std::ofstream(file, std::ios::binary) << exported.bytes;
  std::vector<OrtRun> runs;
  std::vector<TensorMap> expected;
  for (int64_t n : {1, 4}) {
    auto batch = models::example_batch(inputs, n, /*seq_len=*/9);
    TensorMap feeds, all = graph_inputs(batch);
    for (const auto& in : exported.inputs) feeds[in.name] = all.at(in.name);
    runs.push_back({file, feeds});
    torch::NoGradGuard no_grad;
    TensorMap want;
    for (const auto& [target, y] : model.forward(batch).outputs) want[target] = y;
    expected.push_back(want);
  }
  auto got = testing::run_onnxruntime(runs, dir);
  if (got.size() != runs.size()) return INFINITY;
  double worst = 0;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    EXPECT_EQ(got[r].size(), expected[r].size()) << file;
    for (const auto& [target, want] : expected[r]) {
      EXPECT_GT(want.abs().max().item<double>(), 1e-3) << "trivial output " << target;
      if (!got[r].count(target)) {
        ADD_FAILURE() << file << ": no output " << target;
        return INFINITY;
      }
      worst = std::max(worst, testing::max_abs_diff(got[r][target], want));
    }
  }
  return worst;
}

class AvmnistExport : public ::testing::TestWithParam<std::string> {};

TEST_P(AvmnistExport, MatchesOnnxRuntimeAtBatch1And4) {
  MMFUSE_REQUIRE_ONNXRUNTIME();
  testing::TempDir dir;
  auto root = ConfigNode::load_file(std::string(MMFUSE_SOURCE_DIR) + "/configs/avmnist/" +
                                    GetParam() + ".yaml");
  torch::manual_seed(0);
  models::ModelInputs inputs;
  auto model = models::build_model_from_config(root, {}, &inputs);
  randomize_batch_norms(*model);
  const double diff =
      check_against_onnxruntime(*model, root["model"], inputs, dir.file("m.onnx"), dir.str());
  EXPECT_LE(diff, kTolerance) << GetParam();
  // The graph's inputs are the modalities with the Predictor's item shapes, batch dynamic.
  auto exported = export_model(*model, root["model"], inputs);
  for (const auto& in : exported.inputs) {
    const auto& shape = inputs.modalities.at(modality_from_string(in.name)).item_shape;
    EXPECT_EQ(in.dims.front(), -1);
    EXPECT_EQ(std::vector<int64_t>(in.dims.begin() + 1, in.dims.end()), shape) << in.name;
  }
  ASSERT_EQ(exported.outputs.size(), 1u);
  EXPECT_EQ(exported.outputs[0].name, "digit");
  EXPECT_EQ(exported.outputs[0].dims, (std::vector<int64_t>{-1, 10}));
}

INSTANTIATE_TEST_SUITE_P(Models, AvmnistExport,
                         ::testing::Values("image", "audio", "lf", "tf", "lrtf", "xattn"));

// ------------------------------------------------------------------------- conformance

/// Small inputs every conformance model is built for.
models::ModelInputs conformance_inputs(heads::TaskKind kind = heads::TaskKind::classification) {
  models::ModelInputs in;
  in.modalities[Modality::image] = {{1, 16, 16}, 0, {}};
  in.modalities[Modality::audio] = {{1, 12, 16}, 0, {}};
  in.modalities[Modality::text] = {{-1}, 20, {}};
  in.modalities[Modality::tabular] = {{6}, 0, {}};
  in.targets["y"] = {kind, kind == heads::TaskKind::embedding ? 4 : 3};
  return in;
}

/// The model config used to check each exportable block; a registered block that exports must
/// have one here. concat and gated run with their options here, as they are by default inside
/// the composite.
const std::map<std::string, std::string>& conformance_models() {
  static const std::map<std::string, std::string> m = {
      {"encoder lenet", "encoders: {image: {type: lenet, channels: 2, extra_blocks: 1}}"},
      {"encoder gru", "encoders: {text: {type: gru, hidden_size: 5, embedding_dim: 4}}"},
      {"encoder lstm",
       "encoders: {text: {type: lstm, hidden_size: 5, embedding_dim: 4, num_layers: 2, "
       "bidirectional: true, pooling: mean}}"},
      {"encoder embedding", "encoders: {text: {type: embedding, dim: 6, pooling: max}}"},
      {"encoder mlp",
       "encoders: {tabular: {type: mlp, hidden: [8, 5], norm: batch, activation: gelu}}"},
      {"encoder identity", "encoders: {tabular: {type: identity}}"},
      {"fusion concat",
       "fusion: {type: concat, normalize: l2, scale: {image: 0.5}, power: {image: 0.5}}"},
      {"fusion tensor", "fusion: {type: tensor}"},
      {"fusion low_rank", "fusion: {type: low_rank, rank: 3, out: 5}"},
      {"fusion gated", "fusion: {type: gated, dim: 4, gate_from: projections}"},
      {"fusion composite",
       "fusion: {type: composite, combine: [concat, {type: low_rank, rank: 2, out: 4}], "
       "merge: {type: gated, dim: 3}}"},
      {"fusion cross_attention",
       "fusion: {type: cross_attention, dim: 8, heads: 2, positions: per_modality}"},
      {"head linear", "heads: {y: {type: linear}}"},
      {"head mlp", "heads: {y: {type: mlp, hidden: 7}}"},
      {"head projection", "heads: {y: {type: projection, hidden: 5}}"},
  };
  return m;
}

/// The whole model section around one block's snippet.
std::string conformance_model_yaml(const std::string& family, const std::string& snippet) {
  std::string yaml = snippet + "\n";
  if (family == "fusion") {
    const bool tokens = snippet.find("cross_attention") != std::string::npos;
    yaml += tokens ? "encoders: {image: {type: lenet, channels: 2, extra_blocks: 1}, "
                     "audio: {type: lenet, channels: 3, extra_blocks: 1}}\n"
                   : "encoders: {image: {type: lenet, channels: 2, extra_blocks: 1}, "
                     "text: {type: gru, hidden_size: 4, embedding_dim: 3}, "
                     "tabular: {type: mlp, hidden: [5]}}\n";
  }
  if (family == "encoder") yaml += "heads: {y: {type: mlp, hidden: 6}}\n";
  if (family == "fusion") yaml += "heads: {y: {type: linear}}\n";
  if (family == "head") yaml += "encoders: {tabular: {type: mlp, hidden: [5]}}\n";
  return yaml;
}

template <class Reg>
std::vector<std::string> registered_names(const Reg& r) {
  std::vector<std::string> out;
  for (const auto& e : r.entries()) out.push_back(e.name);
  return out;
}

TEST(OnnxConformance, EveryRegisteredBlockExportsAndMatchesOrIsListedUnsupported) {
  MMFUSE_REQUIRE_ONNXRUNTIME();
  testing::TempDir dir;
  const std::map<std::string, std::vector<std::string>> families = {
      {"encoder", registered_names(encoders::encoder_registry())},
      {"fusion", registered_names(fusion::fusion_registry())},
      {"head", registered_names(heads::head_registry())}};
  int exported = 0, unsupported = 0;
  for (const auto& [family, names] : families) {
    for (const auto& name : names) {
      const std::string key = family + " " + name;
      auto listed = std::find_if(
          unsupported_blocks().begin(), unsupported_blocks().end(),
          [&](const UnsupportedBlock& u) { return u.family == family && u.name == name; });
      if (listed != unsupported_blocks().end()) {
        // Its lookup fails naming the config path, the block and the documented reason.
        auto cfg = ConfigNode::parse("model: {encoders: {image: {type: " + name + "}}}", "c.yaml");
        auto at = cfg["model"]["encoders"]["image"];
        try {
          if (family == "encoder") encoder_exporter(name, at);
          if (family == "fusion") fusion_exporter(name, at);
          if (family == "head") head_exporter(name, at);
          ADD_FAILURE() << key << " is listed unsupported but its lookup succeeded";
        } catch (const ConfigError& e) {
          EXPECT_THAT(e.what(), HasSubstr("c.yaml: model.encoders.image: " + family + " '" + name +
                                          "' cannot be exported yet: " + listed->reason));
        }
        EXPECT_EQ(conformance_models().count(key), 0u) << key << " is both tested and unsupported";
        ++unsupported;
        continue;
      }
      auto it = conformance_models().find(key);
      if (it == conformance_models().end()) {
        ADD_FAILURE() << key << " is registered but neither exported with a conformance model "
                      << "here nor listed in unsupported_blocks()";
        continue;
      }
      auto kind =
          name == "projection" ? heads::TaskKind::embedding : heads::TaskKind::classification;
      auto inputs = conformance_inputs(kind);
      auto model_cfg = ConfigNode::parse(conformance_model_yaml(family, it->second), key);
      torch::manual_seed(1);
      auto model = models::build_model(model_cfg, inputs);
      randomize_batch_norms(*model);
      const double diff = check_against_onnxruntime(
          *model, model_cfg, inputs, dir.file(family + "_" + name + ".onnx"), dir.str());
      EXPECT_LE(diff, kTolerance) << key;
      ++exported;
    }
  }
  EXPECT_EQ(unsupported, int(unsupported_blocks().size()));
  EXPECT_GE(exported, 15);
}

// ------------------------------------------------------------------------------ errors

TEST(OnnxExportErrors, AnUnsupportedBlockNamesItselfAndItsConfigPath) {
  auto inputs = conformance_inputs();
  auto cfg = ConfigNode::parse(
      "encoders: {image: {type: lenet, channels: 2, extra_blocks: 1}, tabular: {type: identity}}\n"
      "fusion: {type: composite, combine: [concat, {type: weighted_sum, dim: 4}]}\n"
      "heads: {y: {type: linear}}\n",
      "m.yaml");
  auto model = models::build_model(cfg, inputs);
  model->eval();
  try {
    export_model(*model, cfg, inputs);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("m.yaml: fusion.combine"));
    EXPECT_THAT(e.what(), HasSubstr("fusion 'weighted_sum' cannot be exported yet"));
  }
}

TEST(OnnxExportErrors, OpsetOutsideTheSupportedRangeIsRefused) {
  auto inputs = conformance_inputs();
  auto cfg = ConfigNode::parse(conformance_model_yaml("head", "heads: {y: {type: linear}}"));
  auto model = models::build_model(cfg, inputs);
  OnnxExportOptions o;
  o.opset = 11;
  EXPECT_THROW(export_model(*model, cfg, inputs, o), UsageError);
  o.opset = 17;
  EXPECT_GT(export_model(*model, cfg, inputs, o).nodes, 0);
}

}  // namespace
}  // namespace mmfuse::onnx_export
