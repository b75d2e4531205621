// task: translate — a cross-modal translator (models/translator.h) trained on the reconstruction
// of the target (plus the VAE's KL term, a class head, the consistency classifier's and the
// discriminator's terms, as configured); the epoch is selected by the lowest validation MSE or,
// with translate.select: recognition, by how often the consistency classifier recognises the
// source's class in generated validation targets.
#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/eval/translation_metrics.h"
#include "mmfuse/train/tasks/builtin.h"
#include "mmfuse/train/tasks/critics.h"
#include "mmfuse/train/translate_objectives.h"

namespace mmfuse::train {

namespace {

class TranslateTask : public TrainTask {
 public:
  TranslateTask(const RunConfig& config, const data::Dataset& dataset)
      : cfg_(*config.task.translate),
        model_(models::build_task_model(config.task, config.root, dataset)),
        label_(models::first_class_target(dataset)),
        critics_(cfg_, model_.translator->target_shape(),
                 label_.empty() ? 0 : dataset.num_classes(label_), config.root["translate"],
                 torch::Device(config.train.device)) {
    const auto& shape = model_.translator->target_shape();
    elements_ = shape[0] * shape[1] * shape[2];
  }

  models::TaskModel& model() override { return model_; }

  void prepare(const TaskContext& ctx) override {
    if (cfg_.output_basis > 0) fit_output_basis(ctx);
  }

  void start_epoch(bool from_start) override {
    critics_.train();
    if (from_start) critics_.reset_epoch();
  }

  StepLoss loss(const data::Batch& batch, const TaskContext& ctx) override {
    auto pair = eval::paired(batch, cfg_.source, cfg_.target, ctx.device);
    if (!pair) {
      critics_.skip_step(ctx);
      return {};
    }
    auto out = model_.translator->forward(pair->source);
    StepLoss s;
    s.samples = pair->target.size(0);
    s.loss = cfg_.recon_weight * reconstruction_loss(out.logits, pair->target, cfg_.recon);
    if (cfg_.objective == models::Objective::vae) {
      s.loss = s.loss + cfg_.kl_weight * kl_divergence(out.mu, out.logvar, elements_);
    }
    torch::Tensor y;  // [B] the source's class, -1 = unlabelled
    if (!label_.empty()) y = batch.targets.at(label_).index_select(0, pair->rows).to(ctx.device);
    if (out.class_logits.defined()) {
      s.loss = s.loss + cfg_.class_weight * masked_cross_entropy(out.class_logits, y);
    }
    const auto fake = torch::sigmoid(out.logits);  // [B, C, H, W] in [0, 1]
    if (critics_.has_classifier()) {
      auto c = critics_.consistency(pair->target, fake, y, ctx);
      if (c.defined()) s.loss = s.loss + cfg_.consistency_weight * c;
    }
    if (critics_.has_discriminator()) {
      s.loss = s.loss + cfg_.adv_weight * critics_.adversarial(pair->target, fake, out.code, ctx);
    }
    critics_.end_batch();
    return s;
  }

  Validation validate(const std::shared_ptr<const data::SampleSet>& val,
                      const TaskContext& ctx) override {
    const auto m = metrics(val, ctx);
    Validation v;
    v.metric = cfg_.select_recognition ? m.aux_recognition : -m.mse;
    v.metric_name = cfg_.select_recognition ? "val_aux_recognition" : "-val_mse";
    v.fields = {{"val_mse", m.mse}, {"val_bce", m.bce}};
    if (m.class_accuracy >= 0) v.fields["val_class_accuracy"] = m.class_accuracy;
    if (m.aux_recognition >= 0) v.fields["val_aux_recognition"] = m.aux_recognition;
    return v;
  }

  nlohmann::json epoch_fields() const override { return critics_.epoch_fields(); }
  std::vector<Companion> companions() override { return critics_.companions(); }
  nlohmann::json state() const override { return critics_.state(); }
  void load_state(const nlohmann::json& s) override { critics_.load_state(s); }

  nlohmann::json evaluate(const std::shared_ptr<const data::SampleSet>& samples,
                          const TaskContext& ctx) override {
    const auto m = metrics(samples, ctx);
    nlohmann::json j = {{"samples", m.samples}, {"mse", m.mse}, {"bce", m.bce}};
    if (m.class_accuracy >= 0) j["class_accuracy"] = m.class_accuracy;
    if (m.aux_recognition >= 0) j["aux_recognition"] = m.aux_recognition;
    return j;
  }

  void summarize(nlohmann::json& summary, const nlohmann::json& best) const override {
    summary["objective"] = models::to_string(cfg_.objective);
    summary["source"] = std::string(to_string(cfg_.source));
    summary["target"] = std::string(to_string(cfg_.target));
    summary["selected_by"] = cfg_.select_recognition ? "val_aux_recognition" : "val_mse";
    summary["best_val_mse"] = best.value("val_mse", static_cast<double>(INFINITY));
    if (best.contains("val_aux_recognition")) {
      summary["best_val_aux_recognition"] = best["val_aux_recognition"];
    }
  }

  void save_artifacts(const std::string& run_dir) const override { critics_.save(run_dir); }

 private:
  eval::ReconMetrics metrics(const std::shared_ptr<const data::SampleSet>& samples,
                             const TaskContext& ctx) {
    data::Loader loader(ctx.dataset, samples, loader_options(ctx.config->train, false));
    eval::ReconOptions ro;
    ro.device = ctx.device;
    ro.label = label_;
    ro.collective = ctx.collective;
    if (critics_.has_classifier()) {
      auto aux = critics_.classifier();
      aux->eval();
      ro.recognise = [aux](const torch::Tensor& x) mutable { return aux->logits(x); };
    }
    auto m = eval::reconstruction_metrics(model_.translator, loader, cfg_, ro);
    return m;
  }

  // translate.output_basis: the principal components of up to 10,000 training targets (the same
  // first samples on every process, so every process fits the same basis).
  void fit_output_basis(const TaskContext& ctx) {
    data::Loader loader(ctx.dataset, ctx.train_samples, loader_options(ctx.config->train, false));
    std::vector<torch::Tensor> targets;
    int64_t n = 0;
    while (n < 10000) {
      auto batch = loader.next();
      if (!batch) break;
      if (auto p = eval::paired(*batch, cfg_.source, cfg_.target, torch::kCPU)) {
        n += p->target.size(0);
        targets.push_back(p->target);
      }
    }
    if (targets.empty()) throw Error("translate.output_basis: no training pair has a target");
    model_.translator->fit_output_basis(torch::cat(targets));
    model_.translator->to(ctx.device);
  }

  models::TranslateConfig cfg_;
  models::TaskModel model_;
  std::string label_;
  Critics critics_;
  int64_t elements_ = 0;
};

}  // namespace

std::unique_ptr<TrainTask> make_translate_task(const RunConfig& config,
                                               const data::Dataset& dataset) {
  return std::make_unique<TranslateTask>(config, dataset);
}

}  // namespace mmfuse::train
