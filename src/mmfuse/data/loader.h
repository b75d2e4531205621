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
// (a batch left empty is skipped, except when sharded: see below) and listed by bad(); in strict
// mode next() throws.
// Data parallel (shard_count W > 1, B = batch_size per rank): batch b of an epoch is the global
// batch order[b*B*W, (b+1)*B*W) of the seeded epoch order, and rank r gets its contiguous slice
// [r*B, (r+1)*B) (shorter or empty in the last global batch). Batch indices, batches_per_epoch()
// and positions count global batches, so every rank takes the same number of steps and a resumed
// run seeks every rank the same way. A rank whose slice is empty (or all bad) still gets a Batch
// for that step, of size() 0 (no inputs, no targets): it skips forward and backward but joins the
// step's collectives. Concatenating the ranks' batches in rank order gives the single-process
// batch of size B*W (same ids, same augmented features), whatever W.
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

class PrecomputedEncodings;

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
  /// Byte budget of the decoded batches waiting in the queue (Batch::nbytes(); 0: bounded by
  /// `prefetch` only). A worker starts a batch ahead only when the queue, the batches being
  /// decoded and this one (each sized as the last decoded batch) fit; the batch the consumer
  /// waits for is always decoded. So with batches of equal size the queue holds at most the
  /// budget plus that one batch, and a budget below one batch means no read-ahead.
  int64_t prefetch_bytes = 0;
  /// Training only: drop each modality of a sample with this probability (never all of them).
  double modality_dropout = 0.0;
  /// Training only: std of Gaussian noise added to float features, by index_of(Modality).
  std::array<double, kNumModalities> feature_noise{};
  /// Evaluation of corrupted inputs (robustness): when set, called for every (sample, modality)
  /// with the sample's Rng (seeded by seed, epoch and index: deterministic whatever `threads`).
  /// A defined result replaces the sample's features (before finalize, bypassing the cache);
  /// an undefined one keeps the clean features. Called from the worker threads.
  std::function<torch::Tensor(const Sample&, Modality, Rng&)> features_override;
  /// Data parallel: this process's rank in [0, shard_count) (see the top of this file).
  int shard_rank = 0;
  /// Data parallel: the number of ranks sharing each global batch of batch_size * shard_count.
  int shard_count = 1;
};

/// What the prefetch queue held (for memory reports and tests).
struct LoaderQueueStats {
  int64_t bytes = 0;         ///< decoded batches waiting now
  int64_t peak_bytes = 0;    ///< most bytes waiting at once
  int64_t peak_batches = 0;  ///< most batches waiting at once
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
  /// Global batches of batch_size * shard_count samples: ceil(size / that), floor with drop_last.
  int64_t batches_per_epoch() const;
  /// Moves to `pos` (workers restart from there).
  void seek(LoaderPosition pos);
  /// The next batch of the current epoch; nullopt at its end, after which position() is
  /// {epoch + 1, 0} and the following next() starts that epoch. Sharded: this rank's slice of the
  /// next global batch, possibly of size() 0, never skipped.
  std::optional<Batch> next();
  LoaderPosition position() const { return pos_; }
  LoaderQueueStats queue_stats() const;
  /// Bad samples met so far, each listed once.
  std::vector<BadSample> bad() const;

  /// Batch `b` of `epoch` (this rank's slice of it when sharded), built on the calling thread
  /// (what next() returns for it). nullopt when every sample of it is bad (skip_bad) and
  /// shard_count is 1; sharded, an empty Batch instead.
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
  /// A frozen encoder's precomputed rows per modality (null: read the sample's features).
  using PrecomputedRows = std::array<std::shared_ptr<const PrecomputedEncodings>, kNumModalities>;
  /// Sample `s` (at `index` of the set) as one item per modality it uses this epoch (modality
  /// dropout, augmentation and feature noise drawn from its epoch's stream); nullopt when it is
  /// bad and the dataset skips bad samples (recorded).
  std::optional<std::array<torch::Tensor, kNumModalities>> read_row(
      const Sample& s, int64_t epoch, int64_t index, const PrecomputedRows& pre) const;

  std::shared_ptr<const Dataset> ds_;
  std::shared_ptr<const SampleSet> samples_;
  LoaderOptions opt_;
  LoaderPosition pos_;
  std::vector<int64_t> order_;  ///< sample order of pos_.epoch
  int64_t order_epoch_ = -1;

  // Worker pool state (guarded by mu_).
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::thread> workers_;
  bool running_ = false, stopping_ = false;
  int64_t claim_ = 0;  ///< next batch index a worker takes
  std::map<int64_t, Result> ready_;
  int64_t ready_bytes_ = 0;  ///< Batch::nbytes() summed over ready_
  int64_t decoding_ = 0;     ///< batches being decoded by workers
  int64_t last_bytes_ = -1;  ///< Batch::nbytes() of the last decoded batch (-1: none yet)
  LoaderQueueStats queue_;   ///< peaks (bytes is ready_bytes_)
  /// Whether a worker may start batch claim_ now. Requires: mu_ held.
  bool may_claim(int64_t total) const;
  void store_ready(int64_t b, Result r);

  mutable std::mutex bad_mu_;
  mutable std::vector<BadSample> bad_;
  mutable std::set<std::pair<std::string, int64_t>> bad_seen_;
};

/// Rank `rank`'s contiguous part of `samples` out of `count` (sizes differ by at most one, the
/// first parts being the longer): for sharded validation and test, whose outputs gathered in
/// rank order (Communicator::all_gather_cat) are back in the original order. The bad-sample list
/// goes to part 0 only, so that it is reported once.
std::shared_ptr<const SampleSet> shard(const std::shared_ptr<const SampleSet>& samples, int rank,
                                       int count);

}  // namespace mmfuse::data
