#include "mmfuse/runtime/frozen_memo.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"

namespace mmfuse::runtime {

namespace {

// Parameters and buffers with their names, in registration order.
void hash_named_tensors(Hasher& h, const torch::OrderedDict<std::string, torch::Tensor>& tensors) {
  for (const auto& item : tensors) {
    const torch::Tensor t = item.value().detach().to(torch::kCPU).contiguous();
    h.field(item.key());
    h.field(std::string(c10::toString(t.scalar_type())));
    for (int64_t d : t.sizes()) h.field(std::to_string(d));
    h.update(std::string_view(static_cast<const char*>(t.data_ptr()),
                              static_cast<std::size_t>(t.nbytes())));
  }
}

// One store per folder for the whole process, so the members of an ensemble share their rows in
// memory as well as on disk.
std::shared_ptr<data::FeatureCache> memo_store(const std::string& dir) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<data::FeatureCache>> stores;
  constexpr int64_t kRamBytes = int64_t{256} << 20;
  std::lock_guard<std::mutex> lock(mutex);
  auto& store = stores[dir];
  if (!store) {
    data::FeatureCacheOptions o;
    o.dir = dir;
    o.ram_bytes = kRamBytes;
    o.dtype = data::CacheDtype::float32;  // rows are small: keep them exact
    store = std::make_shared<data::FeatureCache>(o);
  }
  return store;
}

}  // namespace

std::string module_fingerprint(const torch::nn::Module& module, const std::string& options) {
  Hasher h;
  h.field("mmfuse-frozen-encoder-v1");
  h.field(options);
  hash_named_tensors(h, module.named_parameters(true));
  hash_named_tensors(h, module.named_buffers(true));
  return h.hex();
}

bool fully_frozen(const torch::nn::Module& module, const std::string& prefix,
                  const std::vector<std::string>& freeze) {
  bool any = false;
  for (const auto& p : module.named_parameters(true)) {
    if (p.key().compare(0, prefix.size(), prefix) != 0) continue;
    any = true;
    const bool covered = std::any_of(freeze.begin(), freeze.end(), [&](const std::string& f) {
      return p.key().compare(0, f.size(), f) == 0;
    });
    if (!covered) return false;
  }
  return any;
}

// ---------------------------------------------------------------- MemoEncoder

MemoEncoderImpl::MemoEncoderImpl(encoders::EncoderBlock inner, const std::string& options,
                                 const std::string& dir)
    : WrappedEncoder(std::move(inner)), dir_(dir) {
  fingerprint_ = module_fingerprint(*inner_.module(), options);
  store_ = memo_store(dir_);
  reset();
}

std::string MemoEncoderImpl::row_key(const torch::Tensor& row) const {
  Hasher h;
  h.field("mmfuse-frozen-memo-v1");
  h.field(fingerprint_);
  h.field(std::string(c10::toString(row.scalar_type())));
  for (int64_t d : row.sizes()) h.field(std::to_string(d));
  h.update(std::string_view(static_cast<const char*>(row.data_ptr()),
                            static_cast<std::size_t>(row.nbytes())));
  return h.hex();
}

nn::Encoded MemoEncoderImpl::encode(const data::ModalityBatch& input) {
  if (!active_ || input.lengths.defined() || input.data.dim() < 2) return inner_->encode(input);
  const int64_t b = input.data.size(0);
  const torch::Tensor data = input.data.to(torch::kCPU).contiguous();  // [B, ...]
  const torch::Tensor present = input.present.defined() ? input.present.to(torch::kCPU)
                                                        : torch::ones({b}, torch::kBool);  // [B]
  std::vector<torch::Tensor> rows(static_cast<std::size_t>(b));
  std::vector<std::string> keys(static_cast<std::size_t>(b));
  std::vector<int64_t> missing;  // absent samples too: computed, never stored
  const auto is_present = present.accessor<bool, 1>();
  for (int64_t i = 0; i < b; ++i) {
    const auto at = static_cast<std::size_t>(i);
    if (is_present[i]) {
      keys[at] = row_key(data[i]);
      rows[at] = store_->get_or_compute(keys[at], [] { return torch::Tensor(); });
    }
    if (rows[at].defined()) {
      ++counts_.read;
    } else {
      missing.push_back(i);
    }
  }
  if (!missing.empty()) {
    const torch::Tensor index = torch::tensor(missing, torch::kLong);
    data::ModalityBatch sub;
    sub.data = input.data.index_select(0, index.to(input.data.device()));
    if (input.present.defined()) {
      sub.present = input.present.index_select(0, index.to(input.present.device()));
    }
    const torch::Tensor pooled = inner_->encode(sub).pooled.to(torch::kCPU);  // [m, D]
    for (std::size_t j = 0; j < missing.size(); ++j) {
      const auto at = static_cast<std::size_t>(missing[j]);
      torch::Tensor row = pooled[static_cast<int64_t>(j)].clone();  // [D]
      if (!keys[at].empty()) {
        row = store_->get_or_compute(keys[at], [&] { return row; });
        ++counts_.computed;
      }
      rows[at] = row;
    }
  }
  nn::Encoded e;
  e.pooled = torch::stack(rows).to(input.data.device());  // [B, D]
  e.present = input.present;
  return e;
}

// ---------------------------------------------------------------- wrapping a loaded model

std::vector<std::string> memoize_frozen_encoders(torch::nn::Module& model,
                                                 const ConfigNode& run_config,
                                                 const std::string& default_dir) {
  const ConfigNode transfer = run_config["train"]["transfer"];
  if (transfer.is_null() || !transfer.get<bool>("cache_features", true)) return {};
  if (transfer.get<int64_t>("freeze_epochs", 0) != 0) return {};  // thawed: weights moved
  const auto freeze = transfer.get<std::vector<std::string>>("freeze", {});
  if (freeze.empty()) return {};
  if (const auto* mm = dynamic_cast<const models::MultimodalModelImpl*>(&model)) {
    if (const auto fusion = mm->fusion(); fusion && fusion->needs_tokens()) return {};
  }
  const std::string dir =
      transfer.has("feature_cache")
          ? resolve_path(parent_dir(transfer.source()), transfer.get<std::string>("feature_cache"))
          : default_dir;
  std::vector<std::string> wrapped;
  for (const auto& c : model.named_children()) {
    auto* dict = c.key() == "encoders" ? c.value()->as<torch::nn::ModuleDict>() : nullptr;
    if (!dict) continue;
    for (const std::string& name : dict->keys()) {
      if (!fully_frozen(model, "encoders." + name + ".", freeze)) continue;
      const encoders::EncoderBlock frozen((*dict)[name]);
      const ConfigNode opts = run_config["model"]["encoders"][name];
      MemoEncoder memo(frozen, opts.is_null() ? std::string() : opts.dump(), dir);
      memo->train(model.is_training());
      dict->update({{name, memo.ptr()}});
      wrapped.push_back(name);
    }
  }
  return wrapped;
}

std::map<std::string, MemoStats> memo_stats(const torch::nn::Module& module) {
  std::map<std::string, MemoStats> out;
  for (const auto& item : module.named_modules()) {
    const auto* memo = dynamic_cast<const MemoEncoderImpl*>(item.value().get());
    if (!memo) continue;
    const std::string& path = item.key();  // "encoders.image", "fusion.members.0.encoders.image"
    const std::string name = path.substr(path.rfind('.') + 1);
    const MemoStats s = memo->stats();
    out[name].computed += s.computed;
    out[name].read += s.read;
  }
  return out;
}

MemoBypass::MemoBypass(torch::nn::Module& module) {
  for (const auto& m : module.modules()) {
    if (auto* memo = dynamic_cast<MemoEncoderImpl*>(m.get())) {
      memo->set_active(false);
      memos_.push_back(memo);
    }
  }
}

MemoBypass::~MemoBypass() {
  for (MemoEncoderImpl* memo : memos_) memo->set_active(true);
}

}  // namespace mmfuse::runtime
