#include "mmfuse/data/loader.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <tuple>

#include "mmfuse/data/batch_targets.h"
#include "mmfuse/data/precomputed.h"
#include "mmfuse/data/sampling.h"

namespace mmfuse::data {

LoaderPosition LoaderPosition::from_json(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("epoch") || !j.contains("batch")) {
    throw InputError("loader position: expected {\"epoch\": int, \"batch\": int}, got " + j.dump());
  }
  return {j.at("epoch").get<int64_t>(), j.at("batch").get<int64_t>()};
}

Loader::Loader(std::shared_ptr<const Dataset> dataset, std::shared_ptr<const SampleSet> samples,
               LoaderOptions options)
    : ds_(std::move(dataset)), samples_(std::move(samples)), opt_(options) {
  if (opt_.batch_size < 1) {
    throw UsageError("loader: batch_size must be >= 1, got " + std::to_string(opt_.batch_size));
  }
  if (opt_.modality_dropout < 0 || opt_.modality_dropout >= 1) {
    throw UsageError("loader: modality_dropout must be in [0, 1), got " +
                     std::to_string(opt_.modality_dropout));
  }
  if (opt_.shard_count < 1 || opt_.shard_rank < 0 || opt_.shard_rank >= opt_.shard_count) {
    throw UsageError("loader: expected 0 <= shard_rank < shard_count, got shard_rank " +
                     std::to_string(opt_.shard_rank) + " and shard_count " +
                     std::to_string(opt_.shard_count));
  }
  opt_.prefetch = std::max(opt_.prefetch, 1);
}

Loader::~Loader() {
  stop();
}

int64_t Loader::batches_per_epoch() const {
  const int64_t n = size(), b = opt_.batch_size * opt_.shard_count;
  return opt_.drop_last ? n / b : (n + b - 1) / b;
}

void Loader::seek(LoaderPosition pos) {
  if (pos.epoch < 0 || pos.batch < 0 || pos.batch > batches_per_epoch()) {
    throw UsageError("loader: cannot seek to epoch " + std::to_string(pos.epoch) + ", batch " +
                     std::to_string(pos.batch) + " (an epoch has " +
                     std::to_string(batches_per_epoch()) + " batches)");
  }
  stop();
  pos_ = pos;
}

void Loader::start() {
  if (order_epoch_ != pos_.epoch) {
    order_ = epoch_order(size(), opt_.shuffle, opt_.seed, pos_.epoch);
    order_epoch_ = pos_.epoch;
  }
  running_ = true;
  if (opt_.threads <= 0) return;
  std::lock_guard<std::mutex> lock(mu_);
  stopping_ = false;
  claim_ = pos_.batch;
  ready_.clear();
  ready_bytes_ = 0;
  decoding_ = 0;
  for (int t = 0; t < opt_.threads; ++t) workers_.emplace_back([this] { worker(); });
}

void Loader::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
  ready_.clear();
  ready_bytes_ = 0;
  decoding_ = 0;
  running_ = false;
}

void Loader::worker() {
  torch::NoGradGuard no_grad;
  const int64_t total = batches_per_epoch();
  const int64_t epoch = pos_.epoch;
  while (true) {
    int64_t b;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || claim_ >= total || may_claim(total); });
      if (stopping_ || claim_ >= total) return;
      b = claim_++;
      ++decoding_;
    }
    Result r;
    try {
      r.batch = make_batch(epoch, b);
    } catch (...) {
      r.error = std::current_exception();
    }
    store_ready(b, std::move(r));
    cv_.notify_all();
  }
}

bool Loader::may_claim(int64_t total) const {
  if (claim_ >= total || claim_ >= pos_.batch + opt_.prefetch) return false;
  if (claim_ == pos_.batch || opt_.prefetch_bytes <= 0) return true;  // the one the consumer needs
  if (last_bytes_ < 0) return false;  // size unknown until the first batch is decoded
  return ready_bytes_ + (decoding_ + 1) * last_bytes_ <= opt_.prefetch_bytes;
}

void Loader::store_ready(int64_t b, Result r) {
  const int64_t bytes = r.batch ? r.batch->nbytes() : 0;
  std::lock_guard<std::mutex> lock(mu_);
  ready_[b] = std::move(r);
  ready_bytes_ += bytes;
  --decoding_;
  if (bytes > 0) last_bytes_ = bytes;
  queue_.peak_bytes = std::max(queue_.peak_bytes, ready_bytes_);
  queue_.peak_batches = std::max(queue_.peak_batches, static_cast<int64_t>(ready_.size()));
}

LoaderQueueStats Loader::queue_stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  LoaderQueueStats s = queue_;
  s.bytes = ready_bytes_;
  return s;
}

std::optional<Batch> Loader::next() {
  while (true) {
    if (pos_.batch >= batches_per_epoch()) {
      stop();
      pos_ = {pos_.epoch + 1, 0};
      return std::nullopt;
    }
    if (!running_) start();
    Result r;
    if (opt_.threads <= 0) {
      try {
        r.batch = make_batch(pos_.epoch, pos_.batch);
      } catch (...) {
        r.error = std::current_exception();
      }
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return ready_.count(pos_.batch) > 0; });
      r = std::move(ready_[pos_.batch]);
      ready_.erase(pos_.batch);
      if (r.batch) ready_bytes_ -= r.batch->nbytes();
    }
    if (r.error) {
      stop();  // the position stays at the failing batch
      std::rethrow_exception(r.error);
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++pos_.batch;
    }
    cv_.notify_all();
    if (r.batch) return r.batch;
  }
}

std::optional<std::array<torch::Tensor, kNumModalities>> Loader::read_row(
    const Sample& s, int64_t epoch, int64_t index, const PrecomputedRows& pre) const {
  const auto& mods = ds_->modalities();
  Rng rng = sample_rng(opt_.seed, epoch, index);
  std::array<bool, kNumModalities> use{};
  for (Modality m : mods) use[index_of(m)] = s.has(m);
  if (opt_.train) use = drop_modalities(use, opt_.modality_dropout, rng);
  std::array<torch::Tensor, kNumModalities> row;
  try {
    for (Modality m : mods) {
      if (!use[index_of(m)]) continue;
      if (pre[index_of(m)]) {
        row[index_of(m)] = pre[index_of(m)]->row(s);  // [D], a frozen encoder's output
        continue;
      }
      Rng* aug = opt_.train ? &rng : nullptr;
      torch::Tensor x;
      if (opt_.features_override) {
        x = ds_->item_from(
            s, m,
            [&] {
              torch::Tensor f = opt_.features_override(s, m, rng);
              return f.defined() ? f : ds_->features(s, m);
            },
            aug);
      } else {
        x = ds_->item(s, m, aug);
      }
      if (opt_.train) x = add_feature_noise(x, opt_.feature_noise[index_of(m)], rng);
      row[index_of(m)] = x;
    }
  } catch (const InputError& e) {
    if (!ds_->skip_bad()) throw;
    record_bad(e, s.id);
    return std::nullopt;
  }
  return row;
}

std::optional<Batch> Loader::make_batch(int64_t epoch, int64_t b) const {
  torch::NoGradGuard no_grad;
  std::vector<int64_t> other;
  const std::vector<int64_t>* order = &order_;
  if (order_epoch_ != epoch) {
    other = epoch_order(size(), opt_.shuffle, opt_.seed, epoch);
    order = &other;
  }
  const int64_t global_begin = b * opt_.batch_size * opt_.shard_count;
  const int64_t begin = std::min<int64_t>(global_begin + opt_.shard_rank * opt_.batch_size, size());
  const int64_t end = std::min<int64_t>(begin + opt_.batch_size, size());
  const auto& mods = ds_->modalities();

  PrecomputedRows pre;
  for (Modality m : mods) pre[index_of(m)] = precomputed_for(*ds_, m);
  std::vector<const Sample*> kept;
  std::array<std::vector<torch::Tensor>, kNumModalities> items;
  for (int64_t k = begin; k < end; ++k) {
    const int64_t index = (*order)[static_cast<std::size_t>(k)];
    const Sample& s = samples_->samples[static_cast<std::size_t>(index)];
    auto row = read_row(s, epoch, index, pre);
    if (!row) continue;  // a bad sample, skipped and recorded
    kept.push_back(&s);
    for (Modality m : mods) items[index_of(m)].push_back((*row)[index_of(m)]);
  }
  if (kept.empty()) {
    if (opt_.shard_count == 1) return std::nullopt;
    return Batch{};  // every rank takes every step, this one with no samples
  }

  Batch batch;
  for (const Sample* s : kept) batch.ids.push_back(s->id);
  for (Modality m : mods) {
    batch.inputs[index_of(m)] = pre[index_of(m)] ? collate_precomputed(items[index_of(m)])
                                                 : ds_->pipeline(m).collate(items[index_of(m)]);
  }
  batch.targets = collate_targets(*ds_, kept);
  return batch;
}

void Loader::record_bad(const InputError& e, const std::string& id) const {
  std::lock_guard<std::mutex> lock(bad_mu_);
  if (bad_seen_.emplace(e.manifest(), e.line()).second) bad_.push_back(BadSample::from(e, id));
}

std::vector<BadSample> Loader::bad() const {
  std::lock_guard<std::mutex> lock(bad_mu_);
  std::vector<BadSample> out = bad_;  // workers meet them in any order; list them in file order
  std::sort(out.begin(), out.end(), [](const BadSample& a, const BadSample& b) {
    return std::tie(a.manifest, a.line) < std::tie(b.manifest, b.line);
  });
  return out;
}

std::shared_ptr<const SampleSet> shard(const std::shared_ptr<const SampleSet>& samples, int rank,
                                       int count) {
  if (count < 1 || rank < 0 || rank >= count) {
    throw UsageError("shard: expected 0 <= rank < count, got rank " + std::to_string(rank) +
                     " and count " + std::to_string(count));
  }
  if (count == 1) return samples;
  const auto n = static_cast<int64_t>(samples->samples.size());
  const int64_t base = n / count, extra = n % count;
  const int64_t begin = rank * base + std::min<int64_t>(rank, extra);
  const int64_t end = begin + base + (rank < extra ? 1 : 0);
  auto part = std::make_shared<SampleSet>();
  part->split = samples->split;
  part->samples.assign(samples->samples.begin() + begin, samples->samples.begin() + end);
  if (rank == 0) part->bad = samples->bad;
  return part;
}

}  // namespace mmfuse::data
