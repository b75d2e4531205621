#include "mmfuse/train/session.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/eval/run_report.h"
#include "mmfuse/nn/pretrained.h"
#include "mmfuse/train/memory_report.h"
#include "mmfuse/train/step.h"

namespace mmfuse::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

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

// The run's config: the run directory's own when resuming, else the request's, saved there
// (by process 0) with the data path made absolute so the run directory is self-contained.
RunConfig run_config(const TrainRequest& req, const std::string& dir, bool resume, bool main) {
  if (resume) return RunConfig::load((fs::path(dir) / "config.yaml").string());
  ConfigNode saved = req.config->root;
  saved.set_override("data=" + fs::absolute(req.config->data).string());
  nn::resolve_pretrained_files(saved["model"]["encoders"]);
  nn::resolve_pretrained_files(saved["model"]["heads"]);
  const std::string path = (fs::path(dir) / "config.yaml").string();
  if (main) write_file_atomic(path, saved.dump() + "\n");
  RunConfig c = RunConfig::from_config(ConfigNode::parse(saved.dump() + "\n", path));
  return c;
}

// Process 0 fits the preprocessing on the training split and saves it; the others load it.
std::shared_ptr<data::Dataset> open_dataset(Session& s, const TrainRequest& req) {
  const std::string& fitted = req.fitted_dataset;
  const std::string state_file = (fs::path(s.dir) / "dataset.json").string();
  data::DatasetOptions dopt;
  dopt.threads = std::max(1, s.config.train.loader_threads);
  if (s.config.train.memory.set())
    dopt.ram_cache_cap_bytes = s.config.train.memory.cache_cap_bytes();
  std::shared_ptr<data::Dataset> ds;
  if (s.resumed && fs::exists(state_file)) return data::Dataset::load(state_file, dopt);
  if (!fitted.empty()) {
    if (s.dp->is_main()) write_file_atomic(state_file, read_file(fitted));
    s.dp->barrier();
    return data::Dataset::load(state_file, dopt);
  }
  if (s.dp->is_main()) {
    data::DatasetSpec spec = data::DatasetSpec::load(s.config.data);
    if (req.folds) spec = spec.with_folds(*req.folds);
    if (req.pool_val) spec = spec.with_val_pooled();
    ds = data::Dataset::create(std::move(spec), dopt);
    ds->save(state_file);
  }
  s.dp->barrier();
  return ds ? ds : data::Dataset::load(state_file, dopt);
}

// Whether the data has a val split; without one the config must not need it (an error says what
// to set).
bool has_val_split(const data::DatasetSpec& spec, const TrainConfig& tc) {
  if (spec.has_val_split()) return true;
  std::string needs;
  if (tc.select_best) needs = "train.select: best";
  if (tc.patience > 0) needs = "train.early_stopping";
  if (tc.schedule.kind == ScheduleKind::plateau) needs = "train.schedule: plateau";
  if (!needs.empty()) {
    throw UsageError("the data " + spec.path + " has no val split, which " + needs +
                     " needs: set train.select: last, without early stopping or a plateau "
                     "schedule, to train for train.epochs without validation");
  }
  return false;
}

bool resuming(const TrainRequest& req, const std::string& dir) {
  if (req.resume) return true;
  const bool restarted = req.distributed.restart_count > 0;
  return restarted && fs::exists(fs::path(dir) / "checkpoints" / "last.safetensors");
}

}  // namespace

CheckpointParts Session::parts() {
  return {module.get(), optimizer.get(), task->companions()};
}

void Session::checkpoint(const data::LoaderPosition& position, const LrSchedule& schedule,
                         uint64_t metrics_bytes) {
  state.position = position;
  state.schedule = schedule.state();
  state.metrics_bytes = metrics_bytes;
  state.task_state = task->state();
  auto rngs = dp->gather_rng_states();
  if (dp->is_main()) save_checkpoint(last_ckpt, parts(), state.to_json(), rngs);
}

std::unique_ptr<Session> open_session(const TrainRequest& req) {
  auto s = std::make_unique<Session>();
  if (!req.resume && !req.config) throw UsageError("--config is required (or --resume RUN_DIR)");
  s->dir = !req.run_dir.empty()
               ? req.run_dir
               : (fs::path("runs") / fs::path(req.config->root.source()).stem()).string();
  s->last_ckpt = (fs::path(s->dir) / "checkpoints" / "last.safetensors").string();
  s->best_ckpt = (fs::path(s->dir) / "checkpoints" / "best.safetensors").string();
  s->metrics_path = (fs::path(s->dir) / "metrics.jsonl").string();
  s->resumed = resuming(req, s->dir);
  if (s->resumed && !fs::exists(s->last_ckpt)) {
    throw Error(s->last_ckpt + ": no checkpoint to resume from");
  }
  s->config = run_config(req, s->dir, s->resumed, req.distributed.rank == 0);
  TrainConfig& tc = s->config.train;
  if (req.threads) tc.threads = *req.threads;
  if (req.device) tc.device = *req.device;
  if (req.memory_budget_mb) tc.memory.total_mb = *req.memory_budget_mb;
  s->device = torch::Device(tc.device);
  DistributedOptions dist = req.distributed;
  dist.timeout = std::chrono::milliseconds(static_cast<int64_t>(tc.timeout_s * 1000));
  GradientReducerOptions ro;
  ro.bucket_mb = tc.bucket_mb;
  ro.overlap = tc.overlap;
  s->dp = std::make_unique<DataParallel>(dist, s->device, ro);
  apply_threads(tc);
  torch::manual_seed(tc.seed);
  s->dataset = open_dataset(*s, req);
  s->train = limited(s->dataset->train_samples(), tc.limit_train);
  if (s->train->samples.empty()) throw Error("the training split has no usable samples");
  if (has_val_split(s->dataset->spec(), tc)) {
    s->val_shard = s->dp->shard(s->dataset->read_split(data::Split::val));
  }
  if (req.evaluate_test && !s->dataset->spec().manifests(data::Split::test).empty()) {
    s->test_shard = s->dp->shard(s->dataset->read_split(data::Split::test));
  }
  s->task = task_registry().make(s->config, *s->dataset);
  // Other processes draw other random numbers (dropout masks); process 0 keeps the stream of a
  // one-process run. The weights themselves come from process 0 (broadcast below).
  if (s->dp->rank() > 0) torch::manual_seed(tc.seed + 7919 * static_cast<uint64_t>(s->dp->rank()));
  s->module = s->task->model().module();
  s->module->to(s->device);
  ParamGroups groups = param_groups(*s->module, tc.transfer);
  std::vector<torch::optim::OptimizerParamGroup> optimizer_groups;
  for (auto& g : groups.params) optimizer_groups.emplace_back(std::move(g));
  s->optimizer = make_optimizer(tc.optimizer, std::move(optimizer_groups));
  s->lr_multipliers = groups.multipliers;
  s->ctx.config = &s->config;
  s->ctx.dataset = s->dataset;
  s->ctx.train_samples = s->train;
  s->ctx.device = s->device;
  s->ctx.collective = &s->dp->collective();
  s->ctx.average_gradients = s->dp->averager();
  if (s->resumed) {
    s->state = RunState::from_json(load_checkpoint(s->last_ckpt, s->parts(), s->dp->rank()));
    s->task->load_state(s->state.task_state);
    spdlog::info("resuming {} at epoch {} batch {} (step {})", s->dir, s->state.position.epoch + 1,
                 s->state.position.batch, s->state.step);
  } else {
    s->task->prepare(s->ctx);
    if (req.on_model_built) req.on_model_built(*s->module);
  }
  s->dp->broadcast(*s->module);
  for (auto& c : s->task->companions()) s->dp->broadcast(*c.module);
  s->dp->watch(s->module->parameters());
  return s;
}

TrainResult finish_session(Session& s, const TrainRequest& req, double wall_seconds) {
  const TrainConfig& tc = s.config.train;
  s.dp->barrier();  // best.safetensors is complete
  if (tc.select_best && fs::exists(s.best_ckpt)) load_module(*s.module, s.best_ckpt);
  const RunState& st = s.state;
  json summary = {
      {"task", models::to_string(s.config.task.kind)},
      {"run_dir", s.dir},
      {"history", st.history},
      {"selected", tc.select_best ? "best" : "last"},
      {"stopped_early", st.stopped_early},
      {"steps", st.step},
      {"processes", s.dp->world_size()},
      {"train_samples", s.train->samples.size()},
      {"train_seconds", st.train_seconds},
      {"train_samples_per_s", st.train_seconds > 0 ? st.samples_seen / st.train_seconds : 0.0},
      {"wall_seconds", wall_seconds}};
  int64_t params = 0;
  for (const auto& p : s.module->parameters()) params += p.numel();
  summary["params"] = params;
  if (st.has_best)
    summary["best_epoch"] = st.best_epoch, summary["best_val_metric"] = st.best_metric;
  summary["selected_epoch"] = tc.select_best && st.has_best ? st.best_epoch : st.position.epoch;
  if (!st.history.empty()) summary["metric_name"] = st.history.back().value("val_metric_name", "");
  if (s.val_shard) summary["val"] = s.task->evaluate(s.val_shard, s.ctx);
  if (req.evaluate_test && s.test_shard) {
    summary["test"] = s.task->evaluate(s.test_shard, s.ctx);
  }
  s.task->summarize(summary, st.best_entry);
  const MemoryReport memory =
      training_memory(*s.module, *s.optimizer, *s.dataset, s.loader_queue_peak_bytes, tc.memory);
  summary["memory"] = memory.to_json();
  if (s.dp->is_main()) spdlog::info("memory: {}", memory.summary());
  if (s.dp->is_main()) {
    save_module(
        *s.module, (fs::path(s.dir) / "model.safetensors").string(),
        {{"config", s.config.root.dump()}, {"task", models::to_string(s.config.task.kind)}});
    s.task->save_artifacts(s.dir);
    write_file_atomic((fs::path(s.dir) / "summary.json").string(), summary.dump(2) + "\n");
    eval::write_run_report(s.dir, summary, s.config.root.dump());
  }
  s.dp->barrier();
  return {s.dir, summary};
}

}  // namespace mmfuse::train
