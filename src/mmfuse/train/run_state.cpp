#include "mmfuse/train/run_state.h"

#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/eval/evaluator.h"
#include "mmfuse/train/run_report.h"

namespace mmfuse::train {

namespace fs = std::filesystem;
using nlohmann::json;

json RunState::to_json() const {
  return {{"position", position.to_json()},
          {"step", step},
          {"samples_seen", samples_seen},
          {"epoch_loss_sum", epoch_loss_sum},
          {"epoch_batches", epoch_batches},
          {"has_best", has_best},
          {"best_metric", best_metric},
          {"best_epoch", best_epoch},
          {"bad_epochs", bad_epochs},
          {"stopped_early", stopped_early},
          {"train_seconds", train_seconds},
          {"schedule", schedule},
          {"history", history},
          {"metrics_bytes", metrics_bytes}};
}

RunState RunState::from_json(const json& j) {
  RunState s;
  try {
    s.position = data::LoaderPosition::from_json(j.at("position"));
    s.step = j.at("step");
    s.samples_seen = j.at("samples_seen");
    s.epoch_loss_sum = j.at("epoch_loss_sum");
    s.epoch_batches = j.at("epoch_batches");
    s.has_best = j.at("has_best");
    s.best_metric = j.at("best_metric");
    s.best_epoch = j.at("best_epoch");
    s.bad_epochs = j.at("bad_epochs");
    s.stopped_early = j.at("stopped_early");
    s.train_seconds = j.at("train_seconds");
    s.schedule = j.at("schedule");
    s.history = j.at("history");
    s.metrics_bytes = j.at("metrics_bytes");
  } catch (const json::exception& e) {
    throw Error(std::string("checkpoint trainer state is incomplete: ") + e.what());
  }
  return s;
}

MetricsLog::MetricsLog(const std::string& path) : path_(path) {
  std::error_code ec;
  auto size = fs::file_size(path, ec);
  bytes_ = ec ? 0 : size;
}

void MetricsLog::write(const json& line) {
  std::ofstream out(path_, std::ios::app | std::ios::binary);
  const std::string text = line.dump() + "\n";
  out << text;
  out.flush();
  if (!out) throw Error(path_ + ": cannot append to the metrics log");
  bytes_ += text.size();
}

void truncate_metrics(const std::string& path, uint64_t bytes) {
  fs::create_directories(fs::path(path).parent_path().empty() ? fs::path(".")
                                                              : fs::path(path).parent_path());
  if (!fs::exists(path)) {
    std::ofstream(path, std::ios::binary);
    return;
  }
  std::error_code ec;
  fs::resize_file(path, bytes, ec);
  if (ec) throw Error(path + ": cannot truncate the metrics log: " + ec.message());
}

TrainResult finish_run(const RunOutcome& o, const RunState& st) {
  json summary;
  summary["run_dir"] = o.dir;
  summary["history"] = st.history;
  summary["best_epoch"] = st.best_epoch;
  summary["best_val_metric"] = st.best_metric;
  summary["stopped_early"] = st.stopped_early;
  summary["steps"] = st.step;
  summary["train_seconds"] = st.train_seconds;
  summary["train_samples_per_s"] =
      st.train_seconds > 0 ? static_cast<double>(st.samples_seen) / st.train_seconds : 0.0;
  summary["wall_seconds"] = o.wall_seconds;
  int64_t params = 0;
  for (const auto& p : o.model->parameters()) params += p.numel();
  summary["params"] = params;
  if (!st.history.empty()) summary["metric_name"] = st.history.back().value("val_metric_name", "");
  if (o.evaluate_test && o.test && !o.test->samples.empty()) {
    models::MultimodalModel model = o.model;
    data::Loader loader(o.dataset, o.test, o.eval_loader);
    auto result = eval::evaluate(model, loader, {{}, o.device});
    summary["test"] = result.to_json(o.dataset.get());
    spdlog::info("test {} = {:.4f} on {} samples", result.primary_name, result.primary,
                 result.samples);
  }
  write_file_atomic((fs::path(o.dir) / "summary.json").string(), summary.dump(2) + "\n");

  write_run_report(o.dir, summary, o.config.dump());
  return {o.dir, summary};
}

}  // namespace mmfuse::train
