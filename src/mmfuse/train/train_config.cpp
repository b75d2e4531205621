#include "mmfuse/train/train_config.h"

#include "mmfuse/core/fs.h"

namespace mmfuse::train {

TrainConfig TrainConfig::from_config(const ConfigNode& t) {
  TrainConfig c;
  t.check_keys({"epochs",          "batch_size",       "seed",
                "deterministic",   "threads",          "loader_threads",
                "device",          "limit_train",      "optimizer",
                "schedule",        "transfer",         "grad_clip_norm",
                "select",          "early_stopping",   "checkpoint_every_steps",
                "log_every_steps", "modality_dropout", "feature_noise",
                "losses",          "kill_after_steps", "kill_rank",
                "distributed",     "memory_budget_mb"});
  c.epochs = t.get<int64_t>("epochs", c.epochs);
  if (c.epochs < 0) t["epochs"].fail("expected epochs >= 0 (0: the initial weights, evaluated)");
  c.batch_size = t.get<int64_t>("batch_size", c.batch_size);
  if (c.batch_size < 1) t["batch_size"].fail("expected a batch size >= 1");
  c.seed = t.get<uint64_t>("seed", c.seed);
  c.deterministic = t.get<bool>("deterministic", c.deterministic);
  c.threads = t.get<int>("threads", c.threads);
  c.loader_threads = t.get<int>("loader_threads", c.loader_threads);
  if (c.threads < 0 || c.loader_threads < 0) t["threads"].fail("thread counts must be >= 0");
  c.device = t.get<std::string>("device", c.device);
  try {
    torch::Device d(c.device);
    (void)d;
  } catch (const std::exception&) {
    t["device"].fail("unknown device '" + c.device + "'; use cpu, cuda or cuda:N");
  }
  c.limit_train = t.get<int64_t>("limit_train", 0);
  c.optimizer = OptimizerOptions::from_config(t["optimizer"]);
  c.schedule = ScheduleOptions::from_config(t["schedule"]);
  c.transfer = TransferOptions::from_config(t["transfer"]);
  c.grad_clip_norm = t.get<double>("grad_clip_norm", 0.0);
  const auto select = t.get<std::string>("select", "best");
  if (select != "best" && select != "last") t["select"].fail("expected 'best' or 'last'");
  c.select_best = select == "best";
  if (auto es = t["early_stopping"]; !es.is_null()) {
    es.check_keys({"patience", "min_delta"});
    c.patience = es.get<int64_t>("patience", 0);
    c.min_delta = es.get<double>("min_delta", 0.0);
  }
  c.checkpoint_every_steps = t.get<int64_t>("checkpoint_every_steps", 0);
  c.log_every_steps = std::max<int64_t>(1, t.get<int64_t>("log_every_steps", 50));
  c.modality_dropout = t.get<double>("modality_dropout", 0.0);
  if (c.modality_dropout < 0.0 || c.modality_dropout >= 1.0) {
    t["modality_dropout"].fail("expected a probability in [0, 1)");
  }
  if (auto fn = t["feature_noise"]; !fn.is_null()) {
    for (const auto& key : fn.keys()) {
      Modality m;
      try {
        m = modality_from_string(key);
      } catch (const ConfigError&) {
        fn[key].fail("unknown modality; known: image, audio, text, tabular");
      }
      c.feature_noise[index_of(m)] = fn.get<double>(key);
    }
  }
  c.losses = t["losses"];
  c.kill_after_steps = t.get<int64_t>("kill_after_steps", 0);
  c.kill_rank = t.get<int>("kill_rank", 0);
  c.memory.total_mb = t.get<int64_t>("memory_budget_mb", 0);
  if (c.memory.total_mb < 0) {
    t["memory_budget_mb"].fail("expected a budget in MiB >= 0 (0: none)");
  }
  if (auto d = t["distributed"]; !d.is_null()) {
    d.check_keys({"bucket_mb", "overlap", "timeout_s"});
    c.bucket_mb = d.get<double>("bucket_mb", c.bucket_mb);
    if (!(c.bucket_mb > 0)) d["bucket_mb"].fail("expected a bucket size > 0 (MB)");
    c.overlap = d.get<bool>("overlap", c.overlap);
    c.timeout_s = d.get<double>("timeout_s", c.timeout_s);
    if (!(c.timeout_s > 0)) d["timeout_s"].fail("expected a timeout > 0 (seconds)");
  }
  return c;
}

ConfigNode load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  ConfigNode root = ConfigNode::load_file(path);
  for (const auto& o : overrides) root.set_override(o);
  return root;
}

RunConfig RunConfig::from_config(const ConfigNode& root) {
  RunConfig c;
  c.root = root;
  c.data = data_spec_path(root);
  c.task = models::TaskSpec::from_config(root);
  c.train = TrainConfig::from_config(root["train"]);
  return c;
}

RunConfig RunConfig::load(const std::string& path, const std::vector<std::string>& overrides) {
  return from_config(load_run_config(path, overrides));
}

std::string data_spec_path(const ConfigNode& root) {
  if (!root.has("data"))
    root["data"].fail("missing: the dataset spec to train on (data: path.yaml)");
  return resolve_path(parent_dir(root.source()), root.get<std::string>("data"));
}

data::LoaderOptions loader_options(const TrainConfig& tc, bool train) {
  data::LoaderOptions o;
  o.batch_size = tc.batch_size;
  o.shuffle = train;
  o.train = train;
  o.seed = tc.seed;
  o.threads = tc.loader_threads;
  o.prefetch_bytes = tc.memory.queue_cap_bytes();
  if (train) {
    o.modality_dropout = tc.modality_dropout;
    o.feature_noise = tc.feature_noise;
  }
  return o;
}

}  // namespace mmfuse::train
