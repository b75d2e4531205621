// task: retrieval — two towers trained with a symmetric contrastive loss (InfoNCE with a learned
// temperature); the epoch is selected by validation recall (paired) or precision (labels).
//
// Data-parallel runs use the negatives of the whole global batch, as one process would: each
// process gathers the other processes' embeddings (without gradient), splices its own rows (with
// gradient) into place and computes the global loss; the learned scale gets its gradient on the
// first process only, and the loss is scaled by N / n_local, so that the loop's sample-weighted
// gradient average equals the one-process gradient of the global batch.
#include <spdlog/spdlog.h>

#include "mmfuse/core/error.h"
#include "mmfuse/eval/retrieval_eval.h"
#include "mmfuse/train/contrastive.h"
#include "mmfuse/train/positives.h"
#include "mmfuse/train/tasks/builtin.h"

namespace mmfuse::train {

namespace {

// The global batch of `local` [n, ...] (rank order) with this process's rows attached.
torch::Tensor global_rows(const torch::Tensor& local, const Collective& group) {
  if (group.world_size() == 1) return local;
  const auto sizes = group.gather(torch::tensor({local.size(0)}, torch::kLong));
  int64_t offset = 0;
  for (int r = 0; r < group.rank(); ++r) offset += sizes[r].item<int64_t>();
  const auto all = group.gather(local.detach().to(torch::kCPU)).to(local.device());
  return torch::cat({all.narrow(0, 0, offset), local,
                     all.narrow(0, offset + local.size(0), all.size(0) - offset - local.size(0))});
}

class RetrievalTask : public TrainTask {
 public:
  RetrievalTask(const RunConfig& config, const data::Dataset& dataset)
      : rc_(*config.task.retrieval),
        model_(models::build_task_model(config.task, config.root, dataset)) {
    loss_options_ = InfoNceOptions().max_scale(rc_.max_scale);
  }

  models::TaskModel& model() override { return model_; }

  void adjust_loader(data::LoaderOptions& o) const override {
    o.drop_last = true;  // InfoNCE needs several pairs per batch; a last batch of 1 teaches nothing
  }

  void prepare(const TaskContext& ctx) override {
    if (rc_.positives == models::Positives::same_query) (void)groups(ctx);
  }

  StepLoss loss(const data::Batch& batch, const TaskContext& ctx) override {
    const Collective& group = *ctx.collective;
    torch::Tensor labels;
    if (!rc_.labels.empty()) labels = batch.targets.at(rc_.labels);
    if (rc_.positives == models::Positives::same_query) labels = groups(ctx).labels(batch.ids);
    auto [q, c] = model_.towers->forward(batch);
    StepLoss s;
    s.samples = batch.size();
    if (group.world_size() == 1) {
      s.loss = info_nce(q, c, model_.towers->log_scale, labels, loss_options_);
    } else {
      q = global_rows(q, group);
      c = global_rows(c, group);
      if (labels.defined()) labels = group.gather(labels.to(torch::kCPU)).to(q.device());
      const auto scale =
          group.rank() == 0 ? model_.towers->log_scale : model_.towers->log_scale.detach();
      const double n = static_cast<double>(q.size(0)) / std::max<int64_t>(1, batch.size());
      s.loss = info_nce(q, c, scale, labels, loss_options_) * n;
      s.parts["global_loss"] = s.loss.item<double>() / n;
    }
    s.parts["logit_scale"] = model_.towers->log_scale.exp().item<double>();
    return s;
  }

  Validation validate(const std::shared_ptr<const data::SampleSet>& val,
                      const TaskContext& ctx) override {
    const auto j = evaluate(val, ctx);
    Validation v;
    v.metric = j["select"].get<double>();
    v.metric_name = rc_.select_metric_name();
    v.fields = {{"val", j}, {"logit_scale", model_.towers->log_scale.exp().item<double>()}};
    return v;
  }

  nlohmann::json evaluate(const std::shared_ptr<const data::SampleSet>& samples,
                          const TaskContext& ctx) override {
    eval::EmbedOptions eo;
    eo.threads = ctx.config->train.loader_threads;
    eo.collective = ctx.collective;
    return eval::evaluate_retrieval(model_.towers, ctx.dataset, samples, rc_, eo);
  }

  void summarize(nlohmann::json& summary, const nlohmann::json& best) const override {
    summary["modalities"] = {std::string(to_string(rc_.query)),
                             std::string(to_string(rc_.candidate))};
    summary["dim"] = rc_.dim;
    summary["select_metric"] = rc_.select_metric_name();
    summary["logit_scale"] = model_.towers->log_scale.exp().item<double>();
  }

 private:
  // The training pairs grouped by query (same_query positives only), built on first use.
  const QueryGroups& groups(const TaskContext& ctx) {
    if (!groups_) {
      groups_ = std::make_unique<QueryGroups>(*ctx.train_samples, rc_.query);
      spdlog::info("positives: same_query ({} groups among {} training pairs)", groups_->size(),
                   ctx.train_samples->samples.size());
    }
    return *groups_;
  }

  models::RetrievalConfig rc_;
  models::TaskModel model_;
  InfoNceOptions loss_options_;
  std::unique_ptr<QueryGroups> groups_;
};

}  // namespace

std::unique_ptr<TrainTask> make_retrieval_task(const RunConfig& config,
                                               const data::Dataset& dataset) {
  return std::make_unique<RetrievalTask>(config, dataset);
}

}  // namespace mmfuse::train
