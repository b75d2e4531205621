#include "mmfuse/retrieval/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/retrieval/contrastive.h"
#include "mmfuse/retrieval/evaluate.h"
#include "mmfuse/retrieval/positives.h"
#include "mmfuse/train/checkpoint.h"
#include "mmfuse/train/optimizer.h"
#include "mmfuse/train/progress.h"
#include "mmfuse/train/run_state.h"
#include "mmfuse/train/step.h"
#include "mmfuse/train/train_config.h"

namespace mmfuse::retrieval {

namespace fs = std::filesystem;
using nlohmann::json;

bool is_retrieval_request(const train::TrainRequest& req) {
  if (req.resume) return is_retrieval_run(req.run_dir);
  if (req.config_path.empty()) return false;
  return is_retrieval_config(train::load_run_config(req.config_path, req.overrides));
}

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

train::TrainResult run_retrieval_training(const train::TrainRequest& req) {
  if (req.resume) {
    throw UsageError("--resume is not supported for retrieval runs yet; train again with --config");
  }
  ConfigNode config = train::load_run_config(req.config_path, req.overrides);
  const std::string dir = req.run_dir.empty()
                              ? (fs::path("runs") / fs::path(req.config_path).stem()).string()
                              : req.run_dir;
  {  // saved with the data path made absolute, so the run dir is self-contained
    ConfigNode saved = config;
    saved.set_override("data=" + fs::absolute(train::data_spec_path(config)).string());
    write_file_atomic((fs::path(dir) / "config.yaml").string(), saved.dump() + "\n");
    config = ConfigNode::load_file((fs::path(dir) / "config.yaml").string());
  }
  if (req.threads) config.set_override("train.threads=" + std::to_string(*req.threads));
  if (req.device) config.set_override("train.device=" + *req.device);
  const RetrievalConfig rc = RetrievalConfig::from_config(config);
  const train::TrainConfig tc = train::TrainConfig::from_config(config["train"]);
  if (tc.device != "cpu") throw ConfigError("train.device: retrieval runs train on cpu only");
  if (tc.threads > 0) at::set_num_threads(tc.threads);
  torch::manual_seed(tc.seed);

  data::DatasetOptions dopt;
  dopt.threads = std::max(1, tc.loader_threads);
  auto dataset = data::Dataset::create(data::DatasetSpec::load(train::data_spec_path(config)), dopt);
  dataset->save((fs::path(dir) / "dataset.json").string());
  auto train_set = train::limited(dataset->train_samples(), tc.limit_train);
  auto val_set = dataset->read_split(data::Split::val);
  if (val_set->samples.empty()) {
    throw Error("the validation split is empty; retrieval runs select their epoch on it (add "
                "splits.val to the dataset spec)");
  }
  const QueryGroups groups = rc.positives == Positives::same_query
                                 ? QueryGroups(*train_set, rc.query)
                                 : QueryGroups();
  if (rc.positives == Positives::same_query) {
    spdlog::info("positives: same_query ({} groups among {} training pairs)", groups.size(),
                 train_set->samples.size());
  }
  TwoTower model = build_two_tower(rc, config["model"], train::model_inputs(*dataset));
  auto optimizer = train::make_optimizer(tc.optimizer, model->parameters());
  const InfoNceOptions loss_opt = InfoNceOptions().max_scale(rc.max_scale);

  data::LoaderOptions lo;
  lo.batch_size = tc.batch_size;
  lo.shuffle = true;
  lo.train = true;
  lo.drop_last = true;  // InfoNCE needs several pairs per batch; a last batch of 1 teaches nothing
  lo.seed = tc.seed;
  lo.threads = tc.loader_threads;
  data::Loader loader(dataset, train_set, lo);
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  if (steps_per_epoch < 1) {
    throw ConfigError("train.batch_size: " + std::to_string(tc.batch_size) + " exceeds the " +
                      std::to_string(train_set->samples.size()) + " training samples");
  }
  train::LrSchedule schedule(tc.schedule, train::base_learning_rate(tc.optimizer),
                             steps_per_epoch, tc.epochs);
  EmbedOptions eo;
  eo.threads = tc.loader_threads;

  const std::string ckpt_dir = (fs::path(dir) / "checkpoints").string();
  const std::string last_ckpt = (fs::path(ckpt_dir) / "last.safetensors").string();
  const std::string best_ckpt = (fs::path(ckpt_dir) / "best.safetensors").string();
  train::truncate_metrics((fs::path(dir) / "metrics.jsonl").string(), 0);
  train::MetricsLog log((fs::path(dir) / "metrics.jsonl").string());
  train::Progress progress(req.progress ? stderr : nullptr);

  json history = json::array();
  double best = -1.0, train_seconds = 0.0;
  int64_t best_epoch = 0, step = 0, bad_epochs = 0;
  const auto t_start = std::chrono::steady_clock::now();
  for (int64_t epoch = 0; epoch < tc.epochs; ++epoch) {
    model->train();
    progress.start_epoch(epoch + 1, tc.epochs, steps_per_epoch);
    const auto t_epoch = std::chrono::steady_clock::now();
    double loss_sum = 0.0;
    int64_t batches = 0;
    while (auto batch = loader.next()) {
      train::set_learning_rate(*optimizer, schedule.lr_at(step));
      torch::Tensor labels;
      if (!rc.labels.empty()) labels = batch->targets.at(rc.labels);
      if (rc.positives == Positives::same_query) labels = groups.labels(batch->ids);
      auto [q, c] = model->forward(*batch);
      auto loss = info_nce(q, c, model->log_scale, labels, loss_opt);
      const double value =
          train::checked_step(loss, *optimizer, model->parameters(), tc.grad_clip_norm, epoch,
                              step, "the last good checkpoint is kept at " + last_ckpt);
      ++step, ++batches;
      loss_sum += value;
      progress.step(batches, value, batch->size());
      if (step % tc.log_every_steps == 0) {
        log.write({{"type", "step"},
                   {"epoch", epoch + 1},
                   {"step", step},
                   {"loss", value},
                   {"logit_scale", model->log_scale.exp().item<double>()},
                   {"lr", schedule.lr_at(step - 1)}});
      }
    }
    const double epoch_s = seconds_since(t_epoch);
    train_seconds += epoch_s;
    const json val = evaluate_retrieval(model, dataset, val_set, rc, eo);
    const double metric = val["select"].get<double>();
    schedule.on_epoch_end(metric);
    const bool improved = best_epoch == 0 || metric > best + tc.min_delta;
    json entry = {{"type", "epoch"},
                  {"epoch", epoch + 1},
                  {"step", step},
                  {"train_loss", loss_sum / std::max<int64_t>(1, batches)},
                  {"val_metric", metric},
                  {"val_metric_name", rc.select_metric_name()},
                  {"val", val},
                  {"logit_scale", model->log_scale.exp().item<double>()},
                  {"epoch_seconds", epoch_s}};
    log.write(entry);
    history.push_back(entry);
    if (improved) {
      best = metric, best_epoch = epoch + 1, bad_epochs = 0;
      save_module(*model, best_ckpt, {{"epoch", std::to_string(epoch + 1)}});
    }
    progress.end_epoch("val " + rc.select_metric_name() + " " + std::to_string(metric) +
                       (improved ? " (best)" : ""));
    train::save_checkpoint(last_ckpt, *model, *optimizer,
                           {{"epoch", epoch + 1}, {"step", step}, {"history", history}});
    if (!improved && tc.patience > 0 && ++bad_epochs >= tc.patience) break;
  }
  if (tc.select_best) load_module(*model, best_ckpt);
  save_module(*model, (fs::path(dir) / "model.safetensors").string(),
              {{"config", config.dump()}, {"task", "retrieval"}});

  json summary = {{"task", "retrieval"},
                  {"run_dir", dir},
                  {"modalities", json::array({std::string(to_string(rc.query)),
                                               std::string(to_string(rc.candidate))})},
                  {"dim", rc.dim},
                  {"history", history},
                  {"best_epoch", best_epoch},
                  {"select_metric", rc.select_metric_name()},
                  {"selected", tc.select_best ? "best" : "last"},
                  {"train_seconds", train_seconds},
                  {"wall_seconds", seconds_since(t_start)},
                  {"logit_scale", model->log_scale.exp().item<double>()}};
  summary["val"] = evaluate_retrieval(model, dataset, val_set, rc, eo);
  if (req.evaluate_test && !dataset->spec().manifests(data::Split::test).empty()) {
    summary["test"] = evaluate_retrieval(model, dataset, dataset->read_split(data::Split::test), rc, eo);
  }
  write_file_atomic((fs::path(dir) / "summary.json").string(), summary.dump(2) + "\n");
  spdlog::info("retrieval run {} done: best epoch {} ({} {:.4f})", dir, best_epoch,
               rc.select_metric_name(), best);
  return {dir, summary};
}

}  // namespace mmfuse::retrieval
