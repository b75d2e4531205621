#include "mmfuse/translate/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/train/optimizer.h"
#include "mmfuse/train/progress.h"
#include "mmfuse/train/step.h"
#include "mmfuse/train/train_config.h"
#include "mmfuse/translate/evaluate.h"
#include "mmfuse/translate/objectives.h"
#include "mmfuse/translate/run.h"

namespace mmfuse::translate {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

torch::Tensor masked_ce(const torch::Tensor& logits, const torch::Tensor& y) {  // y = -1: skipped
  return torch::nn::functional::cross_entropy(
      logits, y, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1));
}

// The networks trained beside the translator, each with its own optimizer: the GAN's
// discriminator and the class-consistency classifier (null when not configured).
struct Critics {
  ConvDiscriminator disc{nullptr};
  std::unique_ptr<torch::optim::Adam> disc_opt;
  TargetClassifier aux{nullptr};
  std::unique_ptr<torch::optim::Adam> aux_opt;
  double disc_loss_sum = 0, aux_loss_sum = 0;  // this epoch's

  // One discriminator step on real vs generated targets; -> the generator's adversarial loss.
  torch::Tensor adversarial(const torch::Tensor& real, const torch::Tensor& fake,
                            const torch::Tensor& code) {
    const auto cond = code.detach();
    auto d_loss = discriminator_loss(disc->forward(real, cond), disc->forward(fake.detach(), cond));
    disc_opt->zero_grad();
    d_loss.backward();
    disc_opt->step();
    disc_loss_sum += d_loss.item<double>();
    return generator_adversarial_loss(disc->forward(fake, cond));
  }

  // The auxiliary classifier learns the real targets (its own step), then the generated ones must
  // be recognised as the source's class y; -> that cross-entropy (its gradient reaches the
  // generator; the classifier's own gradients from it are cleared before its next step). The
  // generated ones are classified in eval mode, as a separate classifier would see them (batch
  // norm with the statistics of real targets, which generated ones do not update).
  torch::Tensor consistency(const torch::Tensor& real, const torch::Tensor& fake,
                            const torch::Tensor& y) {
    aux->train();
    auto a_loss = masked_ce(aux->logits(real), y);
    aux_opt->zero_grad();
    a_loss.backward();
    aux_opt->step();
    aux_loss_sum += a_loss.item<double>();
    aux->eval();
    return masked_ce(aux->logits(fake), y);
  }
};

Critics make_critics(const TranslateConfig& tcfg, const std::vector<int64_t>& target_shape,
                     const data::Dataset& dataset, const std::string& label,
                     const ConfigNode& config, const torch::Device& device) {
  Critics c;
  if (tcfg.objective == Objective::gan) {
    c.disc = ConvDiscriminator(
        ConvDiscriminatorOptions(target_shape, tcfg.latent).channels(tcfg.disc_channels));
    c.disc->to(device);
    c.disc_opt = std::make_unique<torch::optim::Adam>(
        c.disc->parameters(), torch::optim::AdamOptions(tcfg.disc_lr).betas({0.5, 0.999}));
  }
  if (tcfg.consistency_weight > 0) {
    if (label.empty()) {
      config["translate"]["consistency_weight"].fail("the data has no class target; set it to 0");
    }
    c.aux = TargetClassifier(
        TargetClassifierOptions(tcfg.target, target_shape, dataset.num_classes(label))
            .channels(tcfg.aux_channels)
            .encoder(tcfg.aux_encoder));
    c.aux->to(device);
    c.aux_opt =
        std::make_unique<torch::optim::Adam>(c.aux->parameters(), torch::optim::AdamOptions(1e-3));
  }
  return c;
}

// translate.output_basis: the principal components of up to 10,000 training targets.
void fit_output_basis(Translator& model, const std::shared_ptr<const data::Dataset>& dataset,
                      const std::shared_ptr<const data::SampleSet>& train_set,
                      const train::TrainConfig& tc, const TranslateConfig& tcfg,
                      const torch::Device& device) {
  data::Loader fit_loader(dataset, train_set, train::loader_options(tc, false));
  std::vector<torch::Tensor> targets;
  int64_t n = 0;
  while (n < 10000) {
    auto batch = fit_loader.next();
    if (!batch) break;
    if (auto p = paired(*batch, tcfg.source, tcfg.target, torch::kCPU)) {
      n += p->target.size(0);
      targets.push_back(p->target);
    }
  }
  if (targets.empty()) throw Error("translate.output_basis: no training pair has a target");
  model->fit_output_basis(torch::cat(targets));
  model->to(device);
}

}  // namespace

json run_translate_training(const train::TrainRequest& req) {
  if (req.resume) throw UsageError("translation runs cannot be resumed yet; start a new run");
  if (req.config_path.empty()) throw UsageError("translate train needs --config C");
  ConfigNode config = train::load_run_config(req.config_path, req.overrides);
  const std::string dir = req.run_dir.empty()
                              ? (fs::path("runs") / fs::path(req.config_path).stem()).string()
                              : req.run_dir;
  {
    ConfigNode saved = config;
    saved.set_override("data=" + fs::absolute(train::data_spec_path(config)).string());
    write_file_atomic((fs::path(dir) / "config.yaml").string(), saved.dump() + "\n");
    config = ConfigNode::load_file((fs::path(dir) / "config.yaml").string());
  }
  if (req.threads) config.set_override("train.threads=" + std::to_string(*req.threads));
  if (req.device) config.set_override("train.device=" + *req.device);
  const auto tc = train::TrainConfig::from_config(config["train"]);
  const auto tcfg = TranslateConfig::from_config(config["translate"]);
  if (tc.threads > 0) at::set_num_threads(tc.threads);
  torch::manual_seed(tc.seed);
  const torch::Device device(tc.device);

  data::DatasetOptions dopt;
  dopt.threads = std::max(1, tc.loader_threads);
  auto dataset =
      data::Dataset::create(data::DatasetSpec::load(train::data_spec_path(config)), dopt);
  dataset->save((fs::path(dir) / "dataset.json").string());
  const auto train_set = train::limited(dataset->train_samples(), tc.limit_train);
  auto val_set = dataset->read_split(data::Split::val);

  Translator model = build_translator(config, *dataset);
  model->to(device);
  auto optimizer = train::make_optimizer(tc.optimizer, model->parameters());
  const auto& tshape = model->target_shape();
  const int64_t elements = tshape[0] * tshape[1] * tshape[2];
  const std::string label = first_class_target(*dataset);
  Critics critics = make_critics(tcfg, tshape, *dataset, label, config, device);
  if (tcfg.output_basis > 0) fit_output_basis(model, dataset, train_set, tc, tcfg, device);
  data::Loader train_loader(dataset, train_set, train::loader_options(tc, true));
  data::Loader val_loader(dataset, val_set, train::loader_options(tc, false));
  train::LrSchedule schedule(tc.schedule, train::base_learning_rate(tc.optimizer),
                             train_loader.batches_per_epoch(), tc.epochs);
  const std::string best_path = (fs::path(dir) / "checkpoints" / "best.safetensors").string();
  std::ofstream metrics((fs::path(dir) / "metrics.jsonl").string(), std::ios::trunc);
  train::Progress progress(req.progress ? stderr : nullptr);
  json history = json::array(), best_entry = json::object();
  double best = INFINITY;
  int64_t best_epoch = 0, step = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double train_s = 0;

  for (int64_t epoch = 0; epoch < tc.epochs; ++epoch) {
    model->train();
    if (critics.disc) critics.disc->train();
    critics.disc_loss_sum = critics.aux_loss_sum = 0;
    train_loader.seek({epoch, 0});
    progress.start_epoch(epoch + 1, tc.epochs, train_loader.batches_per_epoch());
    const auto te = std::chrono::steady_clock::now();
    double sum_loss = 0;
    int64_t batches = 0, b_index = 0;
    while (auto batch = train_loader.next()) {
      ++b_index;
      auto pair = paired(*batch, tcfg.source, tcfg.target, device);
      if (!pair) continue;
      train::set_learning_rate(*optimizer, schedule.lr_at(step));
      auto out = model->forward(pair->source);
      auto loss = tcfg.recon_weight * reconstruction_loss(out.logits, pair->target, tcfg.recon);
      if (tcfg.objective == Objective::vae) {
        loss = loss + tcfg.kl_weight * kl_divergence(out.mu, out.logvar, elements);
      }
      torch::Tensor y;  // [B] the source's class, -1 = unlabelled
      if (!label.empty()) y = batch->targets.at(label).index_select(0, pair->rows).to(device);
      if (out.class_logits.defined()) {
        loss = loss + tcfg.class_weight * masked_ce(out.class_logits, y);
      }
      const auto fake = torch::sigmoid(out.logits);  // [B, C, H, W] in [0, 1]
      if (critics.aux && y.ge(0).any().item<bool>()) {
        loss = loss + tcfg.consistency_weight * critics.consistency(pair->target, fake, y);
      }
      if (critics.disc) {
        loss = loss + tcfg.adv_weight * critics.adversarial(pair->target, fake, out.code);
      }
      const double value =
          train::checked_step(loss, *optimizer, model->parameters(), tc.grad_clip_norm, epoch, step,
                              "the best weights so far are in " + best_path);
      ++step;
      ++batches;
      sum_loss += value;
      progress.step(b_index, value, pair->source.data.size(0));
    }
    train_s += seconds_since(te);
    const auto val = reconstruction_metrics(model, val_loader, tcfg, device, label, critics.aux);
    const double score = tcfg.select_recognition ? -val.aux_recognition : val.mse;  // lower wins
    schedule.on_epoch_end(-score);
    const bool improved = score < best;
    json entry = {{"type", "epoch"},
                  {"epoch", epoch + 1},
                  {"step", step},
                  {"train_loss", sum_loss / std::max<int64_t>(1, batches)},
                  {"val_mse", val.mse},
                  {"val_bce", val.bce},
                  {"epoch_seconds", seconds_since(te)}};
    if (val.class_accuracy >= 0) entry["val_class_accuracy"] = val.class_accuracy;
    if (val.aux_recognition >= 0) entry["val_aux_recognition"] = val.aux_recognition;
    const double n_batches = static_cast<double>(std::max<int64_t>(1, batches));
    if (critics.disc) entry["train_disc_loss"] = critics.disc_loss_sum / n_batches;
    if (critics.aux) entry["train_aux_class_loss"] = critics.aux_loss_sum / n_batches;
    metrics << entry.dump() << "\n" << std::flush;
    history.push_back(entry);
    if (improved) {
      best = score;
      best_entry = entry;
      best_epoch = epoch + 1;
      save_module(*model, best_path, {{"epoch", std::to_string(epoch + 1)}});
    }
    progress.end_epoch("val mse " + std::to_string(val.mse) +
                       (val.aux_recognition >= 0
                            ? ", recognition " + std::to_string(val.aux_recognition)
                            : std::string()) +
                       (improved ? " (best)" : ""));
  }
  if (tc.select_best && fs::exists(best_path)) load_module(*model, best_path);
  save_module(*model, (fs::path(dir) / "model.safetensors").string(), {{"config", config.dump()}});
  if (critics.disc) {
    save_module(*critics.disc, (fs::path(dir) / "discriminator.safetensors").string());
  }
  if (critics.aux) {
    save_module(*critics.aux, (fs::path(dir) / "aux_classifier.safetensors").string());
  }
  json summary = {{"task", "translate"},
                  {"objective", to_string(tcfg.objective)},
                  {"source", std::string(to_string(tcfg.source))},
                  {"target", std::string(to_string(tcfg.target))},
                  {"history", history},
                  {"best_epoch", best_epoch},
                  {"selected_by", tcfg.select_recognition ? "val_aux_recognition" : "val_mse"},
                  {"best_val_mse", best_entry.value("val_mse", static_cast<double>(INFINITY))},
                  {"train_seconds", train_s},
                  {"wall_seconds", seconds_since(t0)},
                  {"train_samples", train_set->samples.size()}};
  if (best_entry.contains("val_aux_recognition")) {
    summary["best_val_aux_recognition"] = best_entry["val_aux_recognition"];
  }
  write_file_atomic((fs::path(dir) / "summary.json").string(), summary.dump(2) + "\n");
  return summary;
}

}  // namespace mmfuse::translate
