// task: supervised — one head per target (class, multilabel, regression), trained on the sum of
// their weighted losses (train.losses) plus any loss the fusion adds (e.g. adversarial); the
// epoch is selected by the first class target's validation accuracy (else -MAE).
#include <optional>

#include "mmfuse/eval/evaluator.h"
#include "mmfuse/runtime/plan.h"
#include "mmfuse/train/losses.h"
#include "mmfuse/train/tasks/builtin.h"

namespace mmfuse::train {

namespace {

class SupervisedTask : public TrainTask {
 public:
  SupervisedTask(const RunConfig& config, const data::Dataset& dataset)
      : model_(models::build_task_model(config.task, config.root, dataset)) {
    for (const auto& h : model_.heads->heads()) {
      losses_[h.target] =
          LossOptions::from_config(config.train.losses[h.target], h.spec.kind, h.spec.size);
    }
    weights_ = model_.heads->loss_weights();
  }

  models::TaskModel& model() override { return model_; }

  StepLoss loss(const data::Batch& batch, const TaskContext& ctx) override {
    auto out = model_.heads->forward(batch);
    StepLoss s;
    s.samples = batch.size();
    s.loss = torch::zeros({}, torch::TensorOptions().device(ctx.device));
    for (const auto& [target, y] : out.outputs) {
      auto t = batch.targets.find(target);
      if (t == batch.targets.end()) continue;
      auto l = task_loss(losses_.at(target), y, t->second);
      s.loss = s.loss + weights_.at(target) * l;
      s.parts[target] = l.item<double>();
    }
    for (const auto& [name, l] : out.losses) {
      s.loss = s.loss + l;
      s.parts[name] = l.item<double>();
    }
    return s;
  }

  Validation validate(const std::shared_ptr<const data::SampleSet>& val,
                      const TaskContext& ctx) override {
    const auto r = run_eval(val, ctx);
    Validation v;
    v.metric = r.primary;
    v.metric_name = r.primary_name;
    v.fields = {{"val_loss", r.loss}};
    return v;
  }

  nlohmann::json evaluate(const std::shared_ptr<const data::SampleSet>& samples,
                          const TaskContext& ctx) override {
    return run_eval(samples, ctx).to_json(ctx.dataset.get());
  }

 private:
  eval::EvalResult run_eval(const std::shared_ptr<const data::SampleSet>& samples,
                            const TaskContext& ctx) {
    data::Loader loader(ctx.dataset, samples, loader_options(ctx.config->train, false));
    eval::EvalOptions eo;
    eo.device = ctx.device;
    eo.collective = ctx.collective;
    // On the CPU this evaluation's weights are compiled into the inference plan (batch norm
    // folded into the convolutions, layouts kept), as a loaded run is evaluated: the module
    // path's separate batch-norm passes made the final validation and test passes of an `lf`
    // epoch take 14 s of its 46 s.
    std::optional<runtime::InferencePlan> plan;
    if (ctx.device.is_cpu()) {
      const bool was_training = model_.heads->is_training();
      model_.heads->eval();
      plan.emplace(model_.heads);
      if (was_training) model_.heads->train();  // evaluate() switches modes itself
      eo.forward = [&plan](const data::Batch& b) { return plan->forward(b); };
    }
    return eval::evaluate(model_.heads, loader, eo);
  }

  models::TaskModel model_;
  std::map<std::string, LossOptions> losses_;
  std::map<std::string, double> weights_;
};

}  // namespace

std::unique_ptr<TrainTask> make_supervised_task(const RunConfig& config,
                                                const data::Dataset& dataset) {
  return std::make_unique<SupervisedTask>(config, dataset);
}

}  // namespace mmfuse::train
