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
// RAM: entries are also kept in memory, least recently used evicted first, so that the bytes
// held never exceed `ram_bytes`. Held bytes are counted as the memory an entry really pins: its
// own compact storage (a view of a larger tensor is copied first, so it cannot pin the rest)
// rounded up to the CPU allocator's alignment, plus the key and a fixed per-entry overhead
// (kRamEntryOverhead: tensor, storage and map bookkeeping). With float16 storage entries are
// held as float16 in RAM too. Off by default (the spec's cache.ram_mb is 0): on AV-MNIST the
// disk cache plus the OS page cache serve an epoch as fast (docs/BENCHMARKS.md, memory).
// Returned tensors may be shared with the cache: never modify them in place.
// Thread-safe; several processes may share a folder (writes are atomic renames).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>

#include <torch/torch.h>

#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/data/pipeline.h"

namespace mmfuse::data {

struct FeatureCacheOptions {
  std::string dir;        ///< "" = no disk cache
  int64_t ram_bytes = 0;  ///< in-memory budget in bytes, as held_bytes() counts them (0: none)
  CacheDtype dtype = CacheDtype::float16;
};

struct FeatureCacheStats {
  int64_t ram_hits = 0, disk_hits = 0, misses = 0, corrupt = 0;
  int64_t ram_bytes = 0;      ///< bytes held in RAM (entry_bytes() summed); <= the budget
  int64_t ram_entries = 0;    ///< entries held in RAM
  int64_t ram_evictions = 0;  ///< entries dropped to stay within the budget
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

  /// Bytes a RAM entry of `held` (the tensor as kept: compact, possibly float16) under `key`
  /// counts against the budget.
  static int64_t entry_bytes(const std::string& key, const torch::Tensor& held);
  /// Per-entry bookkeeping counted besides the storage and the key (TensorImpl, StorageImpl,
  /// hash-map and list nodes, allocator headers; measured at about 400 bytes on glibc).
  static constexpr int64_t kRamEntryOverhead = 512;

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
  /// Drops least recently used entries until `incoming` more bytes fit. Requires: mu_ held.
  void evict_for(int64_t incoming);

  struct RamEntry {
    torch::Tensor tensor;
    bool widen = false;  ///< held as float16, returned as float32
    int64_t bytes = 0;   ///< entry_bytes() of this entry
    std::list<std::string>::iterator lru;
  };
  std::unordered_map<std::string, RamEntry> ram_;
  std::list<std::string> lru_;  ///< keys, most recently used first
  int64_t ram_used_ = 0;
  int64_t ram_evictions_ = 0;
  std::atomic<int64_t> ram_hits_{0}, disk_hits_{0}, misses_{0}, corrupt_{0};
};

}  // namespace mmfuse::data
