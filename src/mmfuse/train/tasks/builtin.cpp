#include "mmfuse/train/tasks/builtin.h"

#include "mmfuse/core/error.h"

namespace mmfuse::train {

void TaskRegistry::add(models::TaskKind kind, TaskFactory factory) {
  factories_[kind] = std::move(factory);
}

std::unique_ptr<TrainTask> TaskRegistry::make(const RunConfig& config,
                                              const data::Dataset& dataset) const {
  auto it = factories_.find(config.task.kind);
  if (it == factories_.end()) {
    throw Error("no training task is registered for task: " + models::to_string(config.task.kind));
  }
  return it->second(config, dataset);
}

std::vector<models::TaskKind> TaskRegistry::kinds() const {
  std::vector<models::TaskKind> out;
  for (const auto& [k, f] : factories_) out.push_back(k);
  return out;
}

const TaskRegistry& task_registry() {
  static const TaskRegistry registry = [] {
    TaskRegistry r;
    r.add(models::TaskKind::supervised, make_supervised_task);
    r.add(models::TaskKind::retrieval, make_retrieval_task);
    r.add(models::TaskKind::translate, make_translate_task);
    return r;
  }();
  return registry;
}

}  // namespace mmfuse::train
