#include "mmfuse/optimize/calibration.h"

#include <algorithm>
#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/data/loader.h"

namespace mmfuse::optimize {

namespace {

// max |a - b| / max |b| over pairs of logits.
double relative_logit_change(const std::vector<torch::Tensor>& a,
                             const std::vector<torch::Tensor>& b) {
  double diff = 0, scale = 0;
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) {
    diff = std::max(diff, (a[i] - b[i]).abs().max().item<double>());
    scale = std::max(scale, b[i].abs().max().item<double>());
  }
  return scale > 0 ? diff / scale : diff;
}

}  // namespace

std::vector<data::Batch> split_batches(const runtime::Run& run, data::Split split, int64_t n,
                                       int64_t batch, int threads) {
  const std::string what = std::string(data::to_string(split)) + " split";
  std::shared_ptr<const data::SampleSet> all;
  try {
    all =
        split == data::Split::train ? run.dataset->train_samples() : run.dataset->read_split(split);
  } catch (const std::exception& e) {
    throw Error(run.dir + ": cannot read the " + what + " (" + e.what() +
                "); it must be readable where the run's data spec points");
  }
  if (!all || all->samples.empty()) {
    throw Error(run.dir + ": the " + what + " has no samples; " +
                (split == data::Split::train
                     ? "static calibration needs training samples (or use --int8 dynamic)"
                     : "add a " + what + " to the data spec"));
  }
  auto subset = std::make_shared<data::SampleSet>();
  subset->split = split;
  const auto total = static_cast<int64_t>(all->samples.size());
  if (n <= 0 || n >= total) {
    subset->samples = all->samples;
  } else {
    torch::manual_seed(0);
    auto pick = std::get<0>(torch::randperm(total, torch::kLong).narrow(0, 0, n).sort());
    for (int64_t i = 0; i < n; ++i)
      subset->samples.push_back(all->samples[pick[i].item<int64_t>()]);
  }
  data::LoaderOptions lo;
  lo.batch_size = batch;
  lo.shuffle = false;
  lo.train = false;
  lo.threads = threads;
  data::Loader loader(run.dataset, subset, lo);
  std::vector<data::Batch> out;
  while (auto b = loader.next()) out.push_back(std::move(*b));
  return out;
}

std::map<std::string, nn::quant::LayerObservation> calibrate_model(
    models::MultimodalModel& model, const std::vector<data::Batch>& batches) {
  torch::NoGradGuard no_grad;
  model->eval();
  nn::quant::Calibrator calibrator(*model.ptr());
  for (const auto& b : batches) model->forward(b);
  return calibrator.observations();
}

BatchScores score_batches(models::MultimodalModel& model, const std::vector<data::Batch>& batches,
                          const std::string& target) {
  torch::NoGradGuard no_grad;
  model->eval();
  BatchScores s;
  int64_t correct = 0, total = 0;
  for (const auto& b : batches) {
    auto logits = model->forward(b).outputs.at(target);
    auto y = b.targets.at(target);
    correct += (logits.argmax(1) == y.reshape({-1})).sum().item<int64_t>();
    total += logits.size(0);
    s.logits.push_back(logits);
  }
  s.accuracy = total > 0 ? 100.0 * static_cast<double>(correct) / static_cast<double>(total) : 0;
  return s;
}

nlohmann::json LayerSensitivity::to_json() const {
  return {{"layer", name},
          {"kind", kind},
          {"accuracy_drop_points", accuracy_drop},
          {"logit_change", logit_change},
          {"quantizable", quantizable},
          {"kept_float", kept_float},
          {"reason", reason}};
}

std::vector<LayerSensitivity> layer_sensitivity(
    models::MultimodalModel& model, const std::map<std::string, nn::quant::LayerObservation>& obs,
    const OptimizeOptions& options, const std::vector<data::Batch>& val,
    const std::string& target) {
  const auto layers = nn::quant::quantizable_layers(*model.ptr());
  const auto fp32 = score_batches(model, val, target);
  std::vector<LayerSensitivity> out;
  for (const auto& l : layers) {
    LayerSensitivity s;
    s.name = l.name;
    s.kind = l.kind;
    const auto& asked = options.float_layers;
    if (std::find(asked.begin(), asked.end(), l.name) != asked.end()) {
      s.kept_float = true;
      s.reason = "kept in float32 as asked";
      out.push_back(s);
      continue;
    }
    nn::quant::QuantizeOptions qo;
    qo.mode = *options.int8;
    qo.percentile = options.percentile;
    for (const auto& other : layers) {
      if (other.name != l.name) qo.float_layers.push_back(other.name);
    }
    auto q = nn::quant::quantize_module(*model.ptr(), obs, qo);
    if (q->quantized.empty()) {
      s.quantizable = false;
      s.kept_float = true;
      s.reason = q->float_layers.at(l.name);
      out.push_back(s);
      continue;
    }
    const auto int8 = score_batches(model, val, target);
    q.reset();
    s.accuracy_drop = fp32.accuracy - int8.accuracy;
    s.logit_change = relative_logit_change(int8.logits, fp32.logits);
    if (options.max_layer_drop >= 0 && s.accuracy_drop > options.max_layer_drop) {
      s.kept_float = true;
      s.reason = "alone it costs more than " + std::to_string(options.max_layer_drop) +
                 " validation accuracy points";
    }
    out.push_back(s);
  }
  return out;
}

}  // namespace mmfuse::optimize
