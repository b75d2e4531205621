#include "mmfuse/data/feature_cache.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"
#include "mmfuse/data/field.h"

namespace mmfuse::data {

namespace {

constexpr char kMagic[4] = {'M', 'M', 'F', 'C'};
constexpr uint32_t kCacheVersion = 1;

template <class T>
void put(std::string& out, const T& v) {
  out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

// Reads a T at `pos`; false when the buffer is too short.
template <class T>
bool get(const std::string& in, std::size_t& pos, T& v) {
  if (pos + sizeof v > in.size()) return false;
  std::memcpy(&v, in.data() + pos, sizeof v);
  pos += sizeof v;
  return true;
}

bool is_supported(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat:
    case torch::kHalf:
    case torch::kDouble:
    case torch::kLong:
    case torch::kInt:
    case torch::kByte:
    case torch::kBool:
      return true;
    default:
      return false;
  }
}

}  // namespace

FeatureCache::FeatureCache(FeatureCacheOptions options) : options_(std::move(options)) {}

std::string FeatureCache::key(const ModalityPipeline& pipeline, const Field& field) {
  Hasher h;
  h.field("mmfuse-feature-cache-v1");
  h.field(pipeline.cache_key());
  h.field(to_string(pipeline.modality()));
  h.field(field_to_json(field).dump());
  for (const auto& file : field_files(field)) h.field(hash_file(file));
  return h.hex();
}

std::string FeatureCache::entry_path(const std::string& key) const {
  return (std::filesystem::path(options_.dir) / key.substr(0, 2) / (key + ".feat")).string();
}

torch::Tensor FeatureCache::get_or_compute(const std::string& key,
                                           const std::function<torch::Tensor()>& compute) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = ram_.find(key);
    if (it != ram_.end()) {
      ++ram_hits_;
      lru_.splice(lru_.begin(), lru_, it->second.lru);
      return it->second.widen ? it->second.tensor.to(torch::kFloat) : it->second.tensor;
    }
  }
  const bool disk = !options_.dir.empty();
  std::string path = disk ? entry_path(key) : std::string();
  if (disk) {
    torch::Tensor t = read_entry(path);
    if (t.defined()) {
      ++disk_hits_;
      keep_in_ram(key, t);
      return t;
    }
  }
  ++misses_;
  torch::Tensor t = compute();
  if (disk && t.defined() && is_supported(t.scalar_type())) {
    try {
      write_entry(path, t);
    } catch (const std::exception& e) {
      spdlog::warn("feature cache: cannot write {}: {} (continuing without caching it)", path,
                   e.what());
    }
  }
  // What later reads return: the stored (possibly float16-rounded) values, so a cached and a
  // fresh epoch see the same numbers.
  if (t.defined() && options_.dtype == CacheDtype::float16 && t.scalar_type() == torch::kFloat) {
    t = t.to(torch::kHalf).to(torch::kFloat);
  }
  keep_in_ram(key, t);
  return t;
}

int64_t FeatureCache::entry_bytes(const std::string& key, const torch::Tensor& held) {
  constexpr int64_t kAlign = 64;  // c10's CPU allocator alignment
  const auto storage = static_cast<int64_t>(held.storage().nbytes());
  return (storage + kAlign - 1) / kAlign * kAlign + static_cast<int64_t>(key.capacity()) +
         kRamEntryOverhead;
}

void FeatureCache::evict_for(int64_t incoming) {
  while (!lru_.empty() && ram_used_ + incoming > options_.ram_bytes) {
    auto it = ram_.find(lru_.back());
    ram_used_ -= it->second.bytes;
    ram_.erase(it);
    lru_.pop_back();
    ++ram_evictions_;
  }
}

void FeatureCache::keep_in_ram(const std::string& key, const torch::Tensor& t) {
  if (!t.defined() || options_.ram_bytes <= 0) return;
  const bool widen = options_.dtype == CacheDtype::float16 && t.scalar_type() == torch::kFloat;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (ram_.count(key)) return;
  }
  // A compact copy: a view must not pin the larger storage it points into.
  torch::Tensor held = widen ? t.to(torch::kHalf) : t;
  if (!held.is_contiguous() || held.storage().nbytes() != held.nbytes() ||
      held.storage_offset() != 0) {
    held = held.clone(at::MemoryFormat::Contiguous);
  }
  const int64_t bytes = entry_bytes(key, held);
  if (bytes > options_.ram_bytes) return;  // would not fit even alone
  std::lock_guard<std::mutex> lock(mu_);
  if (ram_.count(key)) return;  // another thread kept it meanwhile
  evict_for(bytes);
  lru_.push_front(key);
  ram_.emplace(key, RamEntry{std::move(held), widen, bytes, lru_.begin()});
  ram_used_ += bytes;
}

torch::Tensor FeatureCache::read_entry(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const std::exception& e) {
    ++corrupt_;
    spdlog::warn("feature cache: unreadable entry {} ({}); recomputing", path, e.what());
    return {};
  }
  auto corrupt = [&](const std::string& why) {
    ++corrupt_;
    spdlog::warn("feature cache: corrupt entry {} ({}); recomputing", path, why);
    return torch::Tensor();
  };
  std::size_t pos = 0;
  uint32_t version = 0, ndim = 0;
  int8_t stored = 0, original = 0;
  uint64_t payload = 0, checksum = 0;
  if (bytes.size() < 4 || std::memcmp(bytes.data(), kMagic, 4) != 0) return corrupt("bad magic");
  pos = 4;
  if (!get(bytes, pos, version) || version != kCacheVersion) return corrupt("unknown version");
  if (!get(bytes, pos, stored) || !get(bytes, pos, original) || !get(bytes, pos, ndim) ||
      ndim > 16) {
    return corrupt("truncated header");
  }
  auto stored_type = static_cast<c10::ScalarType>(stored);
  auto original_type = static_cast<c10::ScalarType>(original);
  if (!is_supported(stored_type) || !is_supported(original_type)) return corrupt("bad dtype");
  std::vector<int64_t> dims(ndim);
  int64_t numel = 1;
  for (auto& d : dims) {
    if (!get(bytes, pos, d) || d < 0) return corrupt("truncated header");
    numel *= d;
  }
  if (!get(bytes, pos, payload) || !get(bytes, pos, checksum)) return corrupt("truncated header");
  const auto expected = static_cast<uint64_t>(numel) * c10::elementSize(stored_type);
  if (payload != expected || bytes.size() - pos != payload) {
    return corrupt("size " + std::to_string(bytes.size() - pos) + " bytes, expected " +
                   std::to_string(expected));
  }
  if (XXH3_64bits(bytes.data() + pos, payload) != checksum) return corrupt("checksum mismatch");
  torch::Tensor t = torch::empty(dims, torch::TensorOptions().dtype(stored_type));
  std::memcpy(t.data_ptr(), bytes.data() + pos, payload);
  return stored_type == original_type ? t : t.to(original_type);
}

void FeatureCache::write_entry(const std::string& path, const torch::Tensor& tensor) const {
  torch::Tensor t = tensor.detach().cpu().contiguous();
  const auto original = t.scalar_type();
  if (options_.dtype == CacheDtype::float16 && original == torch::kFloat) t = t.to(torch::kHalf);
  const uint64_t payload = static_cast<uint64_t>(t.numel()) * t.element_size();
  std::string out;
  out.reserve(64 + payload);
  out.append(kMagic, 4);
  put(out, kCacheVersion);
  put(out, static_cast<int8_t>(t.scalar_type()));
  put(out, static_cast<int8_t>(original));
  put(out, static_cast<uint32_t>(t.dim()));
  for (int64_t d : t.sizes()) put(out, d);
  put(out, payload);
  put(out, static_cast<uint64_t>(XXH3_64bits(t.data_ptr(), payload)));
  out.append(static_cast<const char*>(t.data_ptr()), payload);
  write_file_atomic(path, out);
}

FeatureCacheStats FeatureCache::stats() const {
  FeatureCacheStats s;
  s.ram_hits = ram_hits_;
  s.disk_hits = disk_hits_;
  s.misses = misses_;
  s.corrupt = corrupt_;
  std::lock_guard<std::mutex> lock(mu_);
  s.ram_bytes = ram_used_;
  s.ram_entries = static_cast<int64_t>(ram_.size());
  s.ram_evictions = ram_evictions_;
  return s;
}

}  // namespace mmfuse::data
