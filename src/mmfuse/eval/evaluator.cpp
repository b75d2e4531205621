#include "mmfuse/eval/evaluator.h"

#include <chrono>

namespace mmfuse::eval {

namespace F = torch::nn::functional;

namespace {

double mean_loss(heads::TaskKind kind, const torch::Tensor& out, const torch::Tensor& target,
                 int64_t* count) {
  if (kind == heads::TaskKind::classification) {
    auto known = target >= 0;
    *count = known.sum().item<int64_t>();
    if (*count == 0) return 0.0;
    return F::cross_entropy(out, target,
                            F::CrossEntropyFuncOptions().ignore_index(-1).reduction(torch::kSum))
        .item<double>();
  }
  auto t = target.to(out.dtype());
  if (t.dim() == 1 && out.dim() == 2) t = t.unsqueeze(1);
  auto known = ~torch::isnan(t);
  *count = known.sum().item<int64_t>();
  if (*count == 0) return 0.0;
  auto diff = torch::where(known, out - torch::nan_to_num(t), torch::zeros_like(out));
  return diff.square().sum().item<double>();
}

}  // namespace

void drop_modality(data::Batch& batch, Modality m) {
  auto& slot = batch.inputs[index_of(m)];
  if (!slot) return;
  slot->data = torch::zeros_like(slot->data);
  slot->present = torch::zeros_like(slot->present);
  if (slot->lengths.defined()) slot->lengths = torch::ones_like(slot->lengths);
}

namespace {

// Outputs and targets of one head over a pass (this process's shard).
struct HeadOutputs {
  std::vector<torch::Tensor> outputs, targets;
  double loss_sum = 0;
  int64_t loss_count = 0;
};

}  // namespace

EvalResult evaluate(models::MultimodalModel& model, data::Loader& loader,
                    const EvalOptions& options) {
  return evaluate(model, BatchSource([&loader] { return loader.next(); }), options);
}

EvalResult evaluate(models::MultimodalModel& model, const BatchSource& next_batch,
                    const EvalOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  const Collective& group = options.collective ? *options.collective : single_process();
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  const auto heads = model->heads();
  std::map<std::string, HeadOutputs> collected;
  EvalResult result;
  while (auto batch = next_batch()) {
    if (options.transform) options.transform(*batch);
    auto b = batch->to(options.device);
    auto out = options.forward ? options.forward(b) : model->forward(b);
    result.samples += b.size();
    for (const auto& h : heads) {
      auto t = b.targets.find(h.target);
      if (t == b.targets.end()) continue;
      const auto& y = out.outputs.at(h.target);
      HeadOutputs& c = collected[h.target];
      int64_t n = 0;
      c.loss_sum += mean_loss(h.spec.kind, y, t->second, &n);
      c.loss_count += n;
      c.outputs.push_back(y.to(torch::kCPU, torch::kFloat));
      c.targets.push_back(t->second.to(torch::kCPU));
    }
  }
  std::vector<double> sums = {static_cast<double>(result.samples)};
  for (const auto& h : heads) {
    sums.push_back(collected[h.target].loss_sum);
    sums.push_back(static_cast<double>(collected[h.target].loss_count));
  }
  group.sum(sums);
  result.samples = static_cast<int64_t>(sums[0]);
  const auto weights = model->loss_weights();
  bool have_primary = false;
  std::size_t k = 1;
  for (const auto& h : heads) {
    TargetResult tr;
    tr.kind = h.spec.kind;
    const double sum = sums[k++], n = sums[k++];
    tr.loss = n > 0 ? sum / n : 0.0;
    result.loss += weights.count(h.target) ? weights.at(h.target) * tr.loss : tr.loss;
    HeadOutputs& c = collected[h.target];
    if (h.spec.kind == heads::TaskKind::classification ||
        h.spec.kind == heads::TaskKind::regression) {
      // Every process contributes (possibly no rows), so the gathers line up.
      const auto y =
          group.gather(c.outputs.empty() ? torch::zeros({0, h.spec.size}) : torch::cat(c.outputs));
      const bool cls = h.spec.kind == heads::TaskKind::classification;
      const auto none = cls ? torch::zeros({0}, torch::kLong) : torch::zeros({0, h.spec.size});
      const auto t = group.gather(c.targets.empty() ? none : torch::cat(c.targets));
      if (cls) {
        ClassificationMetrics metrics(h.spec.size, options.top_k);
        if (y.size(0) > 0) metrics.add(y, t);
        tr.classification = metrics.report();
        if (!have_primary) {
          result.primary = tr.classification.accuracy;
          result.primary_name = h.target + " accuracy";
          have_primary = true;
        }
      } else {
        RegressionMetrics metrics;
        if (y.size(0) > 0) metrics.add(y, t);
        tr.regression = metrics.report();
      }
    }
    result.targets[h.target] = tr;
  }
  if (!have_primary) {
    for (const auto& [name, tr] : result.targets) {
      if (tr.kind == heads::TaskKind::regression) {
        result.primary = -tr.regression.mae;
        result.primary_name = name + " -MAE";
        break;
      }
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (was_training) model->train();
  return result;
}

nlohmann::json EvalResult::to_json(const data::Dataset* dataset) const {
  nlohmann::json t = nlohmann::json::object();
  for (const auto& [name, tr] : targets) {
    nlohmann::json j = {{"loss", tr.loss}};
    if (tr.kind == heads::TaskKind::classification) {
      std::vector<std::string> names;
      if (dataset) names = dataset->label_map(name).names();
      j["kind"] = "classification";
      j["class_names"] = names;
      j["report"] = tr.classification.to_json(names);
    } else {
      j["kind"] = "regression";
      j["report"] = tr.regression.to_json();
    }
    t[name] = j;
  }
  return {{"samples", samples},           {"loss", loss},       {"primary", primary},
          {"primary_name", primary_name}, {"seconds", seconds}, {"targets", t}};
}

}  // namespace mmfuse::eval
