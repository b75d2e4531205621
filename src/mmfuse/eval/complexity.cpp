#include "mmfuse/eval/complexity.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

#include "mmfuse/core/memory.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/models/summary.h"

namespace mmfuse::eval {

nlohmann::json Complexity::to_json() const {
  nlohmann::json j = {{"params", params},
                      {"flops_per_sample", flops_per_sample},
                      {"latency_ms_batch1", latency_ms_batch1},
                      {"latency_ms_batch" + std::to_string(batch_size), latency_ms_batchn},
                      {"peak_rss_mb", peak_rss_mb}};
  if (train_seconds >= 0) j["train_seconds"] = train_seconds;
  return j;
}

double median(std::vector<double> v) {
  if (v.empty()) return 0.0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}

double peak_rss_mb() {
  if (const ProcessMemory m = process_memory(); m.known) {
    return static_cast<double>(m.peak_bytes) / static_cast<double>(kMiB);  // VmHWM
  }
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

namespace {

// Median milliseconds of a forward pass over the first `repeats` batches of `size`.
double forward_ms(models::MultimodalModel& model, std::shared_ptr<const data::Dataset> ds,
                  std::shared_ptr<const data::SampleSet> samples, int64_t size, int repeats) {
  data::LoaderOptions lo;
  lo.batch_size = size;
  lo.shuffle = false;
  lo.threads = 0;
  data::Loader loader(ds, samples, lo);
  std::vector<data::Batch> batches;
  while (static_cast<int>(batches.size()) < repeats) {
    auto b = loader.next();
    if (!b) break;
    batches.push_back(std::move(*b));
  }
  std::vector<double> ms;
  if (!batches.empty()) (void)model->forward(batches.front());  // warm-up
  for (auto& b : batches) {
    const auto start = std::chrono::steady_clock::now();
    (void)model->forward(b);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  return median(ms);
}

}  // namespace

Complexity measure_complexity(models::MultimodalModel& model,
                              std::shared_ptr<const data::Dataset> dataset,
                              std::shared_ptr<const data::SampleSet> samples, int64_t batch_size,
                              int repeats) {
  Complexity c;
  const bool was_training = model->is_training();
  model->eval();
  torch::NoGradGuard no_grad;
  auto summary = models::summarize_modules(*model);
  c.params = summary.params;
  {  // FLOPs of one real sample (the first), through the same batch path as inference.
    data::LoaderOptions lo;
    lo.batch_size = 1;
    lo.shuffle = false;
    lo.threads = 0;
    data::Loader loader(dataset, samples, lo);
    if (auto b = loader.next()) {
      c.flops_per_sample = models::count_flops([&] { (void)model->forward(*b); }).total;
    }
  }
  c.batch_size = batch_size;
  c.latency_ms_batch1 = forward_ms(model, dataset, samples, 1, repeats);
  c.latency_ms_batchn = forward_ms(model, dataset, samples, batch_size, repeats);
  c.peak_rss_mb = peak_rss_mb();
  if (was_training) model->train();
  return c;
}

}  // namespace mmfuse::eval
