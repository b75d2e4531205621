#include "mmfuse/train/run_state.h"

#include <filesystem>
#include <fstream>

#include "mmfuse/core/error.h"

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
          {"best_entry", best_entry},
          {"task_state", task_state},
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
    s.best_entry = j.value("best_entry", nlohmann::json::object());
    s.task_state = j.value("task_state", nlohmann::json::object());
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

}  // namespace mmfuse::train
