// Loader: batches of one split, decoded and augmented ahead of the consumer by a worker pool.
//
//   Loader loader(ds, ds->train_samples(), {.batch_size = 40, .train = true, .seed = 7});
//   while (auto batch = loader.next()) { ... loader.position() ... }   // one epoch
//   // later, after a restart: loader.seek(saved_position); -> the identical remaining batches
//
// Determinism: the order of epoch e is a shuffle seeded by (seed, e); sample i's augmentation
// (pipeline augment(), modality dropout, feature noise) uses an Rng seeded by (seed, e, i).
// Batches therefore do not depend on `threads` or timing.
// Bad samples (InputError while decoding): in skip_bad mode they are left out of their batch
// (a batch left empty is skipped) and listed by bad(); in strict mode next() throws.
// Threads: workers run extraction under NoGradGuard and leave torch's intra-op thread count
// alone (at::set_num_threads is process-wide); with several workers call
// at::set_num_threads(1..2) in the trainer so workers and torch do not oversubscribe the cores.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/dataset.h"

namespace mmfuse::data {

struct LoaderOptions {
  int64_t batch_size = 32;
  bool shuffle = true;
  uint64_t seed = 0;
  /// Training: pipeline augment() plus the generic augmentations below. Off for val/test.
  bool train = false;
  bool drop_last = false;
  /// Decode workers; 0 decodes on the calling thread inside next().
  int threads = 2;
  /// Batches decoded ahead of the consumer (bounded queue).
  int prefetch = 4;
  /// Training only: drop each modality of a sample with this probability (never all of them).
  double modality_dropout = 0.0;
  /// Training only: std of Gaussian noise added to float features, by index_of(Modality).
  std::array<double, kNumModalities> feature_noise{};
  /// Evaluation of corrupted inputs (robustness): when set, called for every (sample, modality)
  /// with the sample's Rng (seeded by seed, epoch and index: deterministic whatever `threads`).
  /// A defined result replaces the sample's features (before finalize, bypassing the cache);
  /// an undefined one keeps the clean features. Called from the worker threads.
  std::function<torch::Tensor(const Sample&, Modality, Rng&)> features_override;
};

/// Where a loader stands: the next batch next() returns is batch `batch` of epoch `epoch`.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;
  nlohmann::json to_json() const { return {{"epoch", epoch}, {"batch", batch}}; }
  static LoaderPosition from_json(const nlohmann::json& j);
  bool operator==(const LoaderPosition& o) const { return epoch == o.epoch && batch == o.batch; }
};

class Loader {
 public:
  /// Requires: `samples` read through `dataset` (read_split / train_samples).
  Loader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const SampleSet> samples,
         LoaderOptions options);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  int64_t size() const { return static_cast<int64_t>(samples_->samples.size()); }
  int64_t batches_per_epoch() const;
  /// Moves to `pos` (workers restart from there).
  void seek(LoaderPosition pos);
  /// The next batch of the current epoch; nullopt at its end, after which position() is
  /// {epoch + 1, 0} and the following next() starts that epoch.
  std::optional<Batch> next();
  LoaderPosition position() const { return pos_; }
  /// Bad samples met so far, each listed once.
  std::vector<BadSample> bad() const;

  /// Batch `b` of `epoch`, built on the calling thread (what next() returns for it).
  /// nullopt when every sample of it is bad (skip_bad).
  std::optional<Batch> make_batch(int64_t epoch, int64_t b) const;

 private:
  struct Result {
    std::optional<Batch> batch;
    std::exception_ptr error;
  };
  void start();
  void stop();
  void worker();
  void record_bad(const InputError& e, const std::string& id) const;

  std::shared_ptr<const Dataset> ds_;
  std::shared_ptr<const SampleSet> samples_;
  LoaderOptions opt_;
  LoaderPosition pos_;
  std::vector<int64_t> order_;  ///< sample order of pos_.epoch
  int64_t order_epoch_ = -1;

  // Worker pool state (guarded by mu_).
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  bool running_ = false, stopping_ = false;
  int64_t claim_ = 0;  ///< next batch index a worker takes
  std::map<int64_t, Result> ready_;

  mutable std::mutex bad_mu_;
  mutable std::vector<BadSample> bad_;
  mutable std::set<std::pair<std::string, int64_t>> bad_seen_;
};

}  // namespace mmfuse::data
