#include "mmfuse/train/trainer.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <optional>

#include "mmfuse/core/error.h"
#include "mmfuse/core/memory.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/nn/dnnl_gemm.h"
#include "mmfuse/train/frozen_features.h"
#include "mmfuse/train/progress.h"
#include "mmfuse/train/session.h"

namespace mmfuse::train {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// The loop's state around a Session: loaders, schedule, log and progress.
struct Loop {
  Session& s;
  const TrainRequest& req;
  data::Loader loader;
  LrSchedule schedule;
  std::optional<MetricsLog> log;  // process 0 only
  Progress progress;

  Loop(Session& session, const TrainRequest& request, FrozenFeatureServing& frozen)
      : s(session),
        req(request),
        loader(s.dataset, s.train, train_loader_options()),
        schedule(s.config.train.schedule, s.config.train.optimizer.lr, loader.batches_per_epoch(),
                 s.config.train.epochs),
        progress(request.progress && s.dp->is_main() ? stderr : nullptr),
        frozen_features(frozen) {
    if (loader.batches_per_epoch() < 1) {
      throw ConfigError("train.batch_size: " + std::to_string(s.config.train.batch_size) +
                        " leaves no full batch of the " + std::to_string(s.train->samples.size()) +
                        " training samples");
    }
    if (s.resumed) schedule.load_state(s.state.schedule);
    if (s.dp->is_main()) {
      truncate_metrics(s.metrics_path, s.resumed ? s.state.metrics_bytes : 0);
      log.emplace(s.metrics_path);
    }
  }

  data::LoaderOptions train_loader_options() const {
    auto o = loader_options(s.config.train, true);
    o.shard_rank = s.dp->rank();
    o.shard_count = s.dp->world_size();
    s.task->adjust_loader(o);
    return o;
  }

  uint64_t log_bytes() const { return log ? log->bytes() : 0; }
  void write(const json& line) {
    if (log) log->write(line);
  }

  FrozenFeatureServing& frozen_features;

  void step(const data::Batch& batch, int64_t epoch, int64_t batch_index);
  void epoch();
  void end_epoch(int64_t epoch, double epoch_seconds);
};

// One optimizer step on `batch` (this process's part of the global batch).
void Loop::step(const data::Batch& batch, int64_t epoch, int64_t batch_index) {
  RunState& st = s.state;
  const TrainConfig& tc = s.config.train;
  set_learning_rate(*s.optimizer, schedule.lr_at(st.step), s.lr_multipliers);
  const nn::SmallProductsOnDnnl small_products;  // the step's small products and their gradients
  StepLoss sl;
  if (batch.size() > 0) sl = s.task->loss(batch.to(s.device), s.ctx);
  if (!sl.loss.defined()) sl.samples = 0;
  const double local = sl.samples > 0 ? sl.loss.item<double>() : 0.0;
  const StepTotals t = s.dp->totals(local, sl.samples);
  if (!t.finite) {
    throw Error("loss became " + std::string(std::isnan(local) ? "NaN" : "Inf") + " at epoch " +
                std::to_string(epoch + 1) + " step " + std::to_string(st.step) +
                "; the last good checkpoint is kept at " + s.last_ckpt +
                " (lower the learning rate or enable train.grad_clip_norm)");
  }
  if (t.samples == 0) return;  // no process had anything to learn from this batch
  s.optimizer->zero_grad();
  s.dp->begin_backward(sl.samples);
  if (sl.samples > 0) sl.loss.backward();
  s.dp->end_backward(t.samples);
  if (tc.grad_clip_norm > 0) {
    torch::nn::utils::clip_grad_norm_(s.module->parameters(), tc.grad_clip_norm);
  }
  s.optimizer->step();
  if (req.after_step) {
    torch::NoGradGuard no_grad;
    req.after_step(*s.module);
  }
  ++st.step;
  st.samples_seen += t.samples;
  st.epoch_loss_sum += t.loss;
  ++st.epoch_batches;
  progress.step(batch_index, t.loss, t.samples);
  if (st.step % tc.log_every_steps == 0) {
    write({{"type", "step"},
           {"epoch", epoch + 1},
           {"step", st.step},
           {"loss", t.loss},
           {"parts", sl.parts},
           {"lr", schedule.lr_at(st.step - 1)}});
  }
  if (tc.checkpoint_every_steps > 0 && st.step % tc.checkpoint_every_steps == 0) {
    s.checkpoint(loader.position(), schedule, log_bytes());
  }
  if (!s.resumed && st.step == tc.kill_after_steps && s.dp->rank() == tc.kill_rank) {
    std::raise(SIGKILL);
  }
}

// The rest of the current epoch, then its validation.
void Loop::epoch() {
  RunState& st = s.state;
  const int64_t epoch = st.position.epoch;
  const bool from_start = st.position.batch == 0;
  if (from_start) st.epoch_loss_sum = 0.0, st.epoch_batches = 0;
  s.module->train();
  const int64_t frozen = apply_freeze(*s.module, s.config.train.transfer, epoch);
  if (frozen > 0 && from_start) {
    spdlog::info("epoch {}: {} parameters frozen (train.transfer.freeze)", epoch + 1, frozen);
  }
  frozen_features.update(epoch);  // after the freeze, before the workers start
  loader.seek(st.position);       // (re)starts the workers: they see the frozen features as set
  s.task->start_epoch(from_start);
  progress.start_epoch(epoch + 1, s.config.train.epochs, loader.batches_per_epoch());
  const auto t_epoch = Clock::now();
  int64_t batch_index = st.position.batch;
  while (auto batch = loader.next()) step(*batch, epoch, ++batch_index);
  end_epoch(epoch, seconds_since(t_epoch));
}

// Validation (when there is a val split), the epoch's metrics line, best/last checkpoints and
// early stopping.
void Loop::end_epoch(int64_t epoch, double epoch_seconds) {
  RunState& st = s.state;
  const TrainConfig& tc = s.config.train;
  st.train_seconds += epoch_seconds;
  std::optional<Validation> val;
  if (s.val_shard) val = s.task->validate(s.val_shard, s.ctx);
  s.loader_queue_peak_bytes = loader.queue_stats().peak_bytes;
  const ProcessMemory mem = process_memory();
  if (val) schedule.on_epoch_end(val->metric);
  const bool improved = val && (!st.has_best || val->metric > st.best_metric + tc.min_delta);
  json entry = {{"type", "epoch"},
                {"epoch", epoch + 1},
                {"step", st.step},
                {"train_loss", st.epoch_loss_sum / std::max<int64_t>(1, st.epoch_batches)},
                {"epoch_seconds", epoch_seconds}};
  if (val) entry["val_metric"] = val->metric, entry["val_metric_name"] = val->metric_name;
  if (mem.known) entry["peak_rss_mb"] = mem.peak_bytes / kMiB;
  if (val) entry.update(val->fields);
  entry.update(s.task->epoch_fields());
  write(entry);
  st.history.push_back(entry);
  if (improved) {
    st.has_best = true;
    st.best_metric = val->metric;
    st.best_epoch = epoch + 1;
    st.best_entry = entry;
    st.bad_epochs = 0;
    if (s.dp->is_main())
      save_module(*s.module, s.best_ckpt, {{"epoch", std::to_string(epoch + 1)}});
  } else if (val && tc.patience > 0 && ++st.bad_epochs >= tc.patience) {
    st.stopped_early = true;
  }
  progress.end_epoch(!val ? std::string("no val split")
                          : val->metric_name + " " + std::to_string(val->metric) +
                                (improved ? " (best)" : ""));
  s.checkpoint({epoch + 1, 0}, schedule, log_bytes());
}

}  // namespace

TrainResult run_training(const TrainRequest& req) {
  auto session = open_session(req);
  const auto t_start = Clock::now();
  FrozenFeatureServing frozen(*session);  // kept through the final evaluation
  {
    Loop loop(*session, req, frozen);
    while (session->state.position.epoch < session->config.train.epochs &&
           !session->state.stopped_early) {
      loop.epoch();
    }
  }
  return finish_session(*session, req, seconds_since(t_start));
}

}  // namespace mmfuse::train
