#include "mmfuse/train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/data/text/text_pipeline.h"
#include "mmfuse/eval/evaluator.h"
#include "mmfuse/models/build.h"
#include "mmfuse/train/checkpoint.h"
#include "mmfuse/train/losses.h"
#include "mmfuse/train/progress.h"
#include "mmfuse/train/run_state.h"
#include "mmfuse/train/step.h"
#include "mmfuse/train/train_config.h"

namespace mmfuse::train {

namespace fs = std::filesystem;
using nlohmann::json;

models::ModelInputs model_inputs(const data::Dataset& ds) {
  models::ModelInputs in;
  for (Modality m : ds.modalities()) {
    models::ModalityInput mi;
    mi.item_shape = ds.item_shape(m);
    if (auto* text = dynamic_cast<const data::text::TextPipeline*>(&ds.pipeline(m))) {
      if (text->state().value("output", std::string()) == "ids") mi.vocab_size = text->vocab_size();
    }
    in.modalities[m] = mi;
  }
  for (const auto& t : ds.targets()) {
    models::TargetSpec spec;
    if (t.kind == data::TargetKind::class_label) {
      spec.kind = heads::TaskKind::classification;
      spec.size = ds.num_classes(t.name);
    } else {
      spec.kind = heads::TaskKind::regression;
      spec.size = ds.regression_width(t.name);
    }
    in.targets[t.name] = spec;
  }
  return in;
}

namespace {

std::string default_run_dir(const std::string& config_path) {
  return (fs::path("runs") / fs::path(config_path).stem()).string();
}

// Everything a run needs, built from the resolved config.
struct Run {
  ConfigNode config;
  TrainConfig tc;
  std::string dir;
  torch::Device device = torch::kCPU;
  std::shared_ptr<data::Dataset> dataset;
  std::shared_ptr<const data::SampleSet> train, val, test;
  models::MultimodalModel model{nullptr};
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::map<std::string, LossOptions> losses;
};

void apply_threads(const TrainConfig& tc) {
  if (tc.threads > 0) at::set_num_threads(tc.threads);
  if (tc.deterministic) {
#if TORCH_VERSION_MAJOR >= 2 || (TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR >= 11)
    at::globalContext().setDeterministicAlgorithms(true, /*warn_only=*/true);
#else
    at::globalContext().setDeterministicAlgorithms(true);
#endif
  }
}

Run setup(const TrainRequest& req) {
  Run r;
  if (req.resume) {
    r.dir = req.run_dir;
    r.config = ConfigNode::load_file((fs::path(r.dir) / "config.yaml").string());
  } else {
    if (req.config_path.empty()) throw UsageError("--config is required (or --resume RUN_DIR)");
    r.config = load_run_config(req.config_path, req.overrides);
    r.dir = req.run_dir.empty() ? default_run_dir(req.config_path) : req.run_dir;
    // Saved with the data path made absolute, so the run dir is self-contained.
    ConfigNode saved = r.config;
    saved.set_override("data=" + fs::absolute(data_spec_path(r.config)).string());
    write_file_atomic((fs::path(r.dir) / "config.yaml").string(), saved.dump() + "\n");
    r.config = ConfigNode::load_file((fs::path(r.dir) / "config.yaml").string());
  }
  if (req.threads) r.config.set_override("train.threads=" + std::to_string(*req.threads));
  if (req.device) r.config.set_override("train.device=" + *req.device);
  r.tc = TrainConfig::from_config(r.config["train"]);
  r.device = torch::Device(r.tc.device);
  apply_threads(r.tc);
  torch::manual_seed(r.tc.seed);

  const std::string state_file = (fs::path(r.dir) / "dataset.json").string();
  data::DatasetOptions dopt;
  dopt.threads = std::max(1, r.tc.loader_threads);
  if (req.resume && fs::exists(state_file)) {
    r.dataset = data::Dataset::load(state_file, dopt);
  } else {
    r.dataset = data::Dataset::create(data::DatasetSpec::load(data_spec_path(r.config)), dopt);
    r.dataset->save(state_file);
  }
  r.train = limited(r.dataset->train_samples(), r.tc.limit_train);
  r.val = r.dataset->read_split(data::Split::val);
  if (!r.dataset->spec().manifests(data::Split::test).empty()) {
    r.test = r.dataset->read_split(data::Split::test);
  }
  if (r.train->samples.empty()) throw Error("the training split has no usable samples");
  r.model = models::build_model(r.config["model"], model_inputs(*r.dataset));
  r.model->to(r.device);
  r.optimizer = make_optimizer(r.tc.optimizer, r.model->parameters());
  for (const auto& h : r.model->heads()) {
    r.losses[h.target] = LossOptions::from_config(r.tc.losses[h.target], h.spec.kind, h.spec.size);
  }
  return r;
}

}  // namespace

TrainResult run_training(const TrainRequest& req) {
  Run r = setup(req);
  const std::string ckpt_dir = (fs::path(r.dir) / "checkpoints").string();
  const std::string last_ckpt = (fs::path(ckpt_dir) / "last.safetensors").string();
  const std::string best_ckpt = (fs::path(ckpt_dir) / "best.safetensors").string();
  const std::string metrics_path = (fs::path(r.dir) / "metrics.jsonl").string();

  data::Loader train_loader(r.dataset, r.train, loader_options(r.tc, true));
  data::Loader val_loader(r.dataset, r.val, loader_options(r.tc, false));
  const int64_t steps_per_epoch = train_loader.batches_per_epoch();
  LrSchedule schedule(r.tc.schedule, base_learning_rate(r.tc.optimizer), steps_per_epoch,
                      r.tc.epochs);

  RunState st;
  if (req.resume) {
    if (!fs::exists(last_ckpt)) throw Error(last_ckpt + ": no checkpoint to resume from");
    st = RunState::from_json(load_checkpoint(last_ckpt, *r.model, *r.optimizer));
    schedule.load_state(st.schedule);
    truncate_metrics(metrics_path, st.metrics_bytes);
    spdlog::info("resuming {} at epoch {} batch {} (step {})", r.dir, st.position.epoch + 1,
                 st.position.batch, st.step);
  } else {
    truncate_metrics(metrics_path, 0);
  }
  MetricsLog log(metrics_path);
  Progress progress(req.progress ? stderr : nullptr);
  const auto weights = r.model->loss_weights();
  auto checkpoint = [&](data::LoaderPosition pos) {
    st.position = pos;
    st.schedule = schedule.state();
    st.metrics_bytes = log.bytes();
    save_checkpoint(last_ckpt, *r.model, *r.optimizer, st.to_json());
  };

  const auto t_start = std::chrono::steady_clock::now();
  while (st.position.epoch < r.tc.epochs && !st.stopped_early) {
    const int64_t epoch = st.position.epoch;
    if (st.position.batch == 0) st.epoch_loss_sum = 0.0, st.epoch_batches = 0;
    train_loader.seek(st.position);
    r.model->train();
    progress.start_epoch(epoch + 1, r.tc.epochs, steps_per_epoch);
    const auto t_epoch = std::chrono::steady_clock::now();
    int64_t batch_index = st.position.batch;
    while (auto batch = train_loader.next()) {
      ++batch_index;
      set_learning_rate(*r.optimizer, schedule.lr_at(st.step));
      auto b = batch->to(r.device);
      auto out = r.model->forward(b);
      torch::Tensor loss = torch::zeros({}, torch::TensorOptions().device(r.device));
      json parts;
      for (const auto& [target, y] : out.outputs) {
        auto t = b.targets.find(target);
        if (t == b.targets.end()) continue;
        auto l = task_loss(r.losses.at(target), y, t->second);
        loss = loss + weights.at(target) * l;
        parts[target] = l.item<double>();
      }
      for (const auto& [name, l] : out.losses) {
        loss = loss + l;
        parts[name] = l.item<double>();
      }
      const double loss_value =
          checked_step(loss, *r.optimizer, r.model->parameters(), r.tc.grad_clip_norm, epoch,
                       st.step, "the last good checkpoint is kept at " + last_ckpt);
      ++st.step;
      st.samples_seen += b.size();
      st.epoch_loss_sum += loss_value;
      ++st.epoch_batches;
      progress.step(batch_index, loss_value, b.size());
      if (st.step % r.tc.log_every_steps == 0) {
        log.write({{"type", "step"},
                   {"epoch", epoch + 1},
                   {"step", st.step},
                   {"loss", loss_value},
                   {"parts", parts},
                   {"lr", schedule.lr_at(st.step - 1)}});
      }
      if (r.tc.checkpoint_every_steps > 0 && st.step % r.tc.checkpoint_every_steps == 0) {
        checkpoint(train_loader.position());
      }
      if (!req.resume && st.step == r.tc.kill_after_steps) std::raise(SIGKILL);
    }
    const double epoch_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t_epoch).count();
    st.train_seconds += epoch_s;
    auto val = eval::evaluate(r.model, val_loader, {{}, r.device});
    schedule.on_epoch_end(val.primary);
    const bool improved = !st.has_best || val.primary > st.best_metric + r.tc.min_delta;
    json entry = {{"type", "epoch"},
                  {"epoch", epoch + 1},
                  {"step", st.step},
                  {"train_loss", st.epoch_loss_sum / std::max<int64_t>(1, st.epoch_batches)},
                  {"val_loss", val.loss},
                  {"val_metric", val.primary},
                  {"val_metric_name", val.primary_name},
                  {"epoch_seconds", epoch_s}};
    log.write(entry);
    st.history.push_back(entry);
    if (improved) {
      st.has_best = true;
      st.best_metric = val.primary;
      st.best_epoch = epoch + 1;
      st.bad_epochs = 0;
      save_module(*r.model, best_ckpt, {{"epoch", std::to_string(epoch + 1)}});
    } else if (r.tc.patience > 0 && ++st.bad_epochs >= r.tc.patience) {
      st.stopped_early = true;
    }
    progress.end_epoch(val.primary_name + " " + std::to_string(val.primary) +
                       (improved ? " (best)" : ""));
    checkpoint({epoch + 1, 0});
  }
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  if (r.tc.select_best && fs::exists(best_ckpt)) load_module(*r.model, best_ckpt);
  const std::string model_path = (fs::path(r.dir) / "model.safetensors").string();
  save_module(*r.model, model_path, {{"config", r.config.dump()}});

  RunOutcome outcome{r.dir,    r.config, r.dataset,
                     r.model,  r.test,   loader_options(r.tc, false),
                     r.device, wall_s,   req.evaluate_test};
  return finish_run(outcome, st);
}

}  // namespace mmfuse::train
