#include "mmfuse/serve/served_model.h"

#include <future>
#include <thread>

#include "mmfuse/core/error.h"
#include "mmfuse/retrieval/search.h"
#include "mmfuse/serve/errors.h"
#include "mmfuse/serve/thumbnails.h"
#include "mmfuse/translate/convert.h"

namespace mmfuse::serve {

using nlohmann::json;

namespace {

runtime::BatcherOptions batcher_options(const ServerOptions& o) {
  runtime::BatcherOptions b;
  b.max_batch = o.max_batch;
  b.max_delay = std::chrono::microseconds(static_cast<int64_t>(o.max_delay_ms * 1000));
  b.max_queue = o.max_queue;
  b.wait_for_expected_only = true;  // a lone request runs at once
  return b;
}

json v2_tensor(const std::string& name, const std::string& datatype, std::vector<int64_t> shape) {
  shape.insert(shape.begin(), -1);  // the batch dimension
  return {{"name", name}, {"datatype", datatype}, {"shape", shape}};
}

}  // namespace

ServedModel::ServedModel(std::string name, std::shared_ptr<const runtime::Run> run,
                         const ServerOptions& options, Metrics& metrics,
                         const std::string& index_dir)
    : name_(std::move(name)),
      predictor_(std::move(run)),
      signature_(runtime::signature(predictor_.run())),
      timeout_(static_cast<int64_t>(options.timeout_seconds * 1000)),
      preprocess_slots_(options.preprocess_threads > 0
                            ? options.preprocess_threads
                            : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
      index_dir_(index_dir) {
  const models::TaskKind kind = predictor_.run().task.kind;
  if (!index_dir.empty()) {
    if (kind != models::TaskKind::retrieval) {
      throw UsageError("--index " + name_ + "=" + index_dir + ": '" + name_ + "' is a " +
                       models::to_string(kind) + " run; indexes belong to retrieval runs");
    }
    index_ = std::make_unique<retrieval::VectorIndex>(retrieval::VectorIndex::load(index_dir));
    retrieval::check_index_fits(*index_, index_dir, predictor_.run());
  }
  if (kind != models::TaskKind::supervised) return;
  const std::string model = name_;
  batcher_ = std::make_unique<runtime::Batcher<runtime::Prediction>>(
      batcher_options(options),
      [this](const std::vector<runtime::Prepared>& batch) { return predictor_.predict(batch); },
      [&metrics, model](const runtime::BatchInfo& info) {
        metrics.observe_batch(model, info.size, info.queue_seconds);
      });
}

std::vector<runtime::Prediction> ServedModel::predict(
    const std::vector<runtime::Request>& requests) const {
  require_task(models::TaskKind::supervised, ":predict");
  std::vector<std::future<runtime::Prediction>> futures;
  futures.reserve(requests.size());
  for (std::size_t i = 0; i < requests.size(); ++i) {
    batcher_->expect();  // before waiting for a slot: the batch waits for it too
    runtime::Prepared prepared;
    acquire_slot();
    try {
      prepared = predictor_.prepare(requests[i], static_cast<int64_t>(i));
    } catch (...) {
      release_slot();
      batcher_->unexpect();
      throw;
    }
    release_slot();
    futures.push_back(batcher_->submit(std::move(prepared), /*expected=*/true));
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout_;
  std::vector<runtime::Prediction> out;
  out.reserve(futures.size());
  for (auto& f : futures) {
    if (f.wait_until(deadline) != std::future_status::ready) {
      throw Unavailable("no answer within " + std::to_string(timeout_.count() / 1000.0) +
                        " s (the server is overloaded); retry later");
    }
    out.push_back(f.get());
  }
  return out;
}

void ServedModel::require_task(models::TaskKind kind, const std::string& route) const {
  const models::TaskKind have = run().task.kind;
  if (have == kind) return;
  const char* serves = have == models::TaskKind::supervised  ? ":predict (and /v2/.../infer)"
                       : have == models::TaskKind::retrieval ? ":search"
                                                             : ":translate";
  throw UsageError("model '" + name_ + "' is a " + models::to_string(have) + " run; " + route +
                   " serves " + models::to_string(kind) + " runs, this one answers " + serves);
}

json ServedModel::search(const runtime::Request& query, int64_t k, bool thumbnails) const {
  require_task(models::TaskKind::retrieval, ":search");
  if (!index_) {
    throw UsageError("model '" + name_ +
                     "' has no index to search; start the server with --index " + name_ +
                     "=INDEX_DIR (built by `mmfuse index build --run RUN_DIR ...`)");
  }
  json answer;
  acquire_slot();
  try {
    answer = retrieval::search(predictor_, *index_, index_dir_, query, k);
  } catch (...) {
    release_slot();
    throw;
  }
  release_slot();
  if (thumbnails) {
    for (json& hit : answer["results"]) {
      const std::string uri = thumbnail_data_uri(hit, thumbnail_items_);
      if (!uri.empty()) hit["thumbnail"] = uri;
    }
  }
  return answer;
}

torch::Tensor ServedModel::translate(const runtime::Request& input) const {
  require_task(models::TaskKind::translate, ":translate");
  acquire_slot();
  try {
    torch::Tensor out = translate::generate(predictor_, input);
    release_slot();
    return out;
  } catch (...) {
    release_slot();
    throw;
  }
}

void ServedModel::acquire_slot() const {
  std::unique_lock<std::mutex> lock(slots_mu_);
  slots_cv_.wait(lock, [&] { return slots_used_ < preprocess_slots_; });
  ++slots_used_;
}

void ServedModel::release_slot() const {
  {
    std::lock_guard<std::mutex> lock(slots_mu_);
    --slots_used_;
  }
  slots_cv_.notify_one();
}

json ServedModel::v2_metadata() const {
  json inputs = json::array();
  for (const auto& in : signature_.inputs) {
    const std::string name(to_string(in.modality));
    if (in.modality == Modality::tabular) {
      inputs.push_back(v2_tensor(name, "FP32", in.item_shape));
    } else {
      inputs.push_back(v2_tensor(name, "BYTES", {}));
    }
  }
  json outputs = json::array();
  for (const auto& o : signature_.outputs) {
    outputs.push_back(v2_tensor(o.name, "FP32", o.shape));
    if (o.kind == runtime::OutputKind::classes) {
      outputs.push_back(v2_tensor(o.name + "_class", "BYTES", {}));
    }
  }
  return {{"name", name_},
          {"versions", {"1"}},
          {"platform", "mmfuse_libtorch"},
          {"inputs", inputs},
          {"outputs", outputs},
          {"parameters",
           {{"task", models::to_string(signature_.task)},
            {"signature", signature_.to_json()},
            {"model_hash", run().model_hash}}}};
}

}  // namespace mmfuse::serve
