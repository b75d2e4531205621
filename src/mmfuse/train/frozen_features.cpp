#include "mmfuse/train/frozen_features.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"
#include "mmfuse/train/session.h"
#include "mmfuse/train/transfer.h"

namespace mmfuse::train {

namespace {

std::string frozen_row_locator(const data::Sample& s) {
  return s.manifest + ":" + std::to_string(s.line);
}

}  // namespace

FrozenFeatures::FrozenFeatures(std::shared_ptr<const data::Dataset> dataset, Modality modality,
                               encoders::EncoderBlock encoder, const std::string& encoder_options,
                               const std::string& dir)
    : dataset_(std::move(dataset)), modality_(modality), encoder_(std::move(encoder)) {
  if (!encoder_) throw Error("frozen features need an encoder");
  fingerprint_ = runtime::module_fingerprint(*encoder_.module(), encoder_options);
  const data::ModalityPipeline& p = dataset_->pipeline(modality_);
  preprocessing_ = p.cache_key() + "\n" + p.state().dump();
  data::FeatureCacheOptions o;
  o.dir = dir;
  o.dtype = data::CacheDtype::float32;  // rows are small: keep them exact
  store_ = std::make_unique<data::FeatureCache>(o);
}

std::string FrozenFeatures::key(const data::Sample& s) const {
  const auto& field = s.field(modality_);
  if (!field) throw Error("sample '" + s.id + "' has no " + std::string(to_string(modality_)));
  Hasher h;
  h.field("mmfuse-frozen-features-v1");
  h.field(data::FeatureCache::key(dataset_->pipeline(modality_), *field));
  h.field(preprocessing_);
  h.field(fingerprint_);
  return h.hex();
}

FrozenFeatureStats FrozenFeatures::prepare(
    const std::vector<std::shared_ptr<const data::SampleSet>>& sets, int64_t batch_size) {
  FrozenFeatureStats stats;
  std::vector<const data::Sample*> todo;
  std::vector<std::string> todo_keys;
  for (const auto& set : sets) {
    if (!set) continue;
    for (const auto& s : set->samples) {
      if (!s.has(modality_) || rows_.count(frozen_row_locator(s))) continue;
      const std::string k = key(s);
      bool missing = false;
      torch::Tensor t = store_->get_or_compute(k, [&] {
        missing = true;
        return torch::Tensor();  // undefined: nothing is stored
      });
      if (missing || !t.defined()) {
        todo.push_back(&s);
        todo_keys.push_back(k);
      } else {
        rows_[frozen_row_locator(s)] = t;
        ++stats.read;
      }
    }
  }
  compute_rows(todo, todo_keys, batch_size);
  stats.computed = static_cast<int64_t>(todo.size());
  return stats;
}

void FrozenFeatures::compute_rows(const std::vector<const data::Sample*>& samples,
                                  const std::vector<std::string>& keys, int64_t batch_size) {
  if (samples.empty()) return;
  torch::NoGradGuard no_grad;
  torch::nn::Module& module = *encoder_.module();
  // Each module's own mode, restored after (batch norm kept in eval by train.transfer.bn_eval).
  std::vector<std::pair<torch::nn::Module*, bool>> modes{{&module, module.is_training()}};
  for (const auto& m : module.modules(/*include_self=*/false)) {
    modes.emplace_back(m.get(), m->is_training());
  }
  module.eval();  // batch norm statistics and dropout as when frozen
  torch::Device device = torch::kCPU;
  for (const auto& p : module.parameters()) device = p.device();
  const data::ModalityPipeline& p = dataset_->pipeline(modality_);
  for (std::size_t begin = 0; begin < samples.size();
       begin += static_cast<std::size_t>(batch_size)) {
    const std::size_t end = std::min(samples.size(), begin + static_cast<std::size_t>(batch_size));
    std::vector<torch::Tensor> items;
    for (std::size_t i = begin; i < end; ++i) {
      items.push_back(dataset_->item(*samples[i], modality_, nullptr));  // no augmentation
    }
    const torch::Tensor pooled =
        encoder_->encode(p.collate(items).to(device)).pooled.to(torch::kCPU);  // [b, D]
    for (std::size_t i = begin; i < end; ++i) {
      const torch::Tensor r = pooled[static_cast<int64_t>(i - begin)].clone();  // [D]
      rows_[frozen_row_locator(*samples[i])] = store_->get_or_compute(keys[i], [&] { return r; });
    }
  }
  for (const auto& [m, training] : modes) m->train(training);  // pre-order: parents first
}

torch::Tensor FrozenFeatures::row(const data::Sample& s) const {
  auto it = rows_.find(frozen_row_locator(s));
  if (it != rows_.end()) return it->second;
  torch::Tensor t = store_->get_or_compute(key(s), [] { return torch::Tensor(); });
  if (!t.defined()) {
    throw Error("frozen features: no encoding of sample '" + s.id + "' (" + s.manifest + ":" +
                std::to_string(s.line) + "); prepare() its split first");
  }
  return t;
}

// ---------------------------------------------------------------- ServedEncoder

ServedEncoderImpl::ServedEncoderImpl(encoders::EncoderBlock inner)
    : WrappedEncoder(std::move(inner)) {
  reset();
}

nn::Encoded ServedEncoderImpl::encode(const data::ModalityBatch& input) {
  if (input.data.dim() != 2 || input.data.size(1) != out_dim()) {
    throw Error("a served frozen encoder expects its own outputs [B, " + std::to_string(out_dim()) +
                "], got a batch of shape " + c10::str(input.data.sizes()));
  }
  nn::Encoded e;
  e.pooled = input.data;  // [B, D]
  e.present = input.present;
  return e;
}

// ---------------------------------------------------------------- serving

FrozenFeatureConfig FrozenFeatureConfig::from_config(const ConfigNode& transfer) {
  FrozenFeatureConfig c;
  if (transfer.is_null()) return c;
  c.enabled = transfer.get<bool>("cache_features", true);
  if (transfer.has("feature_cache")) {
    c.dir = resolve_path(parent_dir(transfer.source()), transfer.get<std::string>("feature_cache"));
  }
  return c;
}

FrozenFeatureServing::FrozenFeatureServing(Session& session)
    : s_(session),
      config_(FrozenFeatureConfig::from_config(session.config.root["train"]["transfer"])) {
  for (const auto& c : s_.module->named_children()) {
    if (c.key() == "encoders")
      encoders_ = std::dynamic_pointer_cast<torch::nn::ModuleDictImpl>(c.value());
  }
}

FrozenFeatureServing::~FrozenFeatureServing() {
  for (Modality m : kAllModalities) {
    try {
      stop(m);
    } catch (const std::exception& e) {
      spdlog::warn("frozen features: {}", e.what());
    }
  }
}

void FrozenFeatureServing::update(int64_t epoch) {
  if (!encoders_) return;
  const TransferOptions& t = s_.config.train.transfer;
  for (Modality m : s_.dataset->modalities()) {
    const std::string name(to_string(m));
    if (!encoders_->contains(name)) continue;
    const auto& spec = s_.dataset->spec().modalities[index_of(m)];
    const bool augmented =
        (spec && spec->options.has("augment")) || s_.config.train.feature_noise[index_of(m)] > 0;
    const bool serve = config_.enabled && frozen_in(t, epoch) && !augmented &&
                       fully_frozen(*s_.module, "encoders." + name + ".", t.freeze);
    if (serve && !served_[index_of(m)]) {
      start(m, (*encoders_)[name]);
    } else if (!serve && served_[index_of(m)]) {
      spdlog::info("epoch {}: the {} encoder trains again: encoded live", epoch + 1, name);
      stop(m);
    }
  }
}

void FrozenFeatureServing::start(Modality m, const std::shared_ptr<torch::nn::Module>& encoder) {
  const std::string name(to_string(m));
  const ConfigNode opts = s_.config.root["model"]["encoders"][name];
  const std::string dir =
      config_.dir.empty() ? s_.dataset->spec().cache.dir + "/frozen" : config_.dir;
  const auto t0 = std::chrono::steady_clock::now();
  auto rows = std::make_shared<FrozenFeatures>(s_.dataset, m, encoders::EncoderBlock(encoder),
                                               opts.is_null() ? std::string() : opts.dump(), dir);
  const FrozenFeatureStats st = rows->prepare({s_.train, s_.val_shard, s_.test_shard});
  spdlog::info(
      "the frozen {} encoder's outputs are served from {} ({} computed, {} read, {:.1f} s)", name,
      dir, st.computed, st.read,
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  data::set_precomputed(*s_.dataset, m, rows);
  encoders_->update({{name, ServedEncoder(encoders::EncoderBlock(encoder)).ptr()}});
  served_[index_of(m)] = rows;
}

void FrozenFeatureServing::stop(Modality m) {
  if (!served_[index_of(m)]) return;
  const std::string name(to_string(m));
  auto served = std::dynamic_pointer_cast<ServedEncoderImpl>((*encoders_)[name]);
  if (served) encoders_->update({{name, served->inner().module()}});
  data::set_precomputed(*s_.dataset, m, nullptr);
  served_[index_of(m)].reset();
}

}  // namespace mmfuse::train
