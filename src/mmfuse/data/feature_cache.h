// On-disk (and in-RAM) cache of ModalityPipeline::extract() results.
//
// Key: XXH3-128 of (pipeline cache_key(), modality, the field's canonical JSON incl. any noise
// spec, the content hash of every file the field reads), so editing a file or a setting misses.
// Layout: `<dir>/<key[0:2]>/<key>.feat`, one file per entry written atomically (temp + rename):
//   "MMFC" | u32 version | i8 stored dtype | i8 original dtype | u32 ndim | i64 dims[ndim]
//   | u64 payload bytes | u64 XXH3-64 of payload | payload
// Float32 features are stored as float16 by default (half the disk: 60,000 112x112 AV-MNIST
// spectrograms take 1.5 GB instead of 3 GB; the round-off on values in [0, 1] is < 2.5e-4,
// see cache_test) and come back as float32. A corrupt entry (bad magic, size or checksum) is
// logged, recomputed and rewritten, never fatal.
// RAM: entries are also kept in memory until `ram_bytes` is used (first come, no eviction: with
// epoch-wise shuffled access any eviction policy would thrash), so later epochs skip the disk.
// With float16 storage they are held as float16 in RAM too (1.5 GB for all AV-MNIST audio).
// Returned tensors may be shared with the cache: never modify them in place.
// Thread-safe; several processes may share a folder (writes are atomic renames).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>

#include <torch/torch.h>

#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/data/pipeline.h"

namespace mmfuse::data {

struct FeatureCacheOptions {
  std::string dir;        ///< "" = no disk cache
  int64_t ram_bytes = 0;  ///< in-memory budget
  CacheDtype dtype = CacheDtype::float16;
};

struct FeatureCacheStats {
  int64_t ram_hits = 0, disk_hits = 0, misses = 0, corrupt = 0, ram_bytes = 0;
};

class FeatureCache {
 public:
  explicit FeatureCache(FeatureCacheOptions options);

  /// The entry key of `field` under `pipeline`. Throws InputError (file set) when a file the
  /// field reads is missing.
  static std::string key(const ModalityPipeline& pipeline, const Field& field);

  /// The cached features for `key`, else compute() (stored on disk and, within budget, in RAM).
  /// Exceptions from compute() propagate and nothing is stored.
  torch::Tensor get_or_compute(const std::string& key,
                               const std::function<torch::Tensor()>& compute);

  /// Path of an entry's file (for tests and tools).
  std::string entry_path(const std::string& key) const;
  FeatureCacheStats stats() const;
  const FeatureCacheOptions& options() const { return options_; }

 private:
  /// The entry's tensor, or undefined when absent or corrupt (corrupt: logged and counted).
  torch::Tensor read_entry(const std::string& path);
  void write_entry(const std::string& path, const torch::Tensor& t) const;
  void keep_in_ram(const std::string& key, const torch::Tensor& t);

  FeatureCacheOptions options_;
  mutable std::mutex mu_;
  struct RamEntry {
    torch::Tensor tensor;
    bool widen = false;  ///< held as float16, returned as float32
  };
  std::unordered_map<std::string, RamEntry> ram_;
  int64_t ram_used_ = 0;
  std::atomic<int64_t> ram_hits_{0}, disk_hits_{0}, misses_{0}, corrupt_{0};
};

}  // namespace mmfuse::data
