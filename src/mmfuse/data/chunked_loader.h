// ChunkedLoader: the batches of a whole manifest, read a chunk of samples at a time.
//
// A Loader needs its split's samples in memory (about 1 KB per sample); evaluating a 55,000-line
// manifest that way holds ~50 MB that grows with the file. ChunkedLoader reads `chunk_samples`
// lines (rounded up to whole batches), runs a Loader over them, and reads the next chunk when
// that one is done: memory stays that of one chunk whatever the manifest's size.
//
//   LoaderOptions lo;
//   lo.batch_size = 40;
//   lo.shuffle = false;
//   ChunkedLoader batches(ds, "test.jsonl", lo);
//   while (auto batch = batches.next()) { ... }
//
// Same batches, in the same order, as Loader over read_manifest_file() with shuffle off (batches
// never span two chunks since a chunk is whole batches). No shuffling, augmentation or sharding:
// this is for one process evaluating a file.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmfuse/data/loader.h"

namespace mmfuse::data {

class ChunkedLoader {
 public:
  static constexpr std::size_t kDefaultChunkSamples = 4096;

  /// Requires: `options` does not shuffle, train or shard. Opens `manifest` (throws InputError
  /// when it cannot be opened); a malformed line throws when its chunk is read (skip_bad false)
  /// or is listed by bad().
  ChunkedLoader(std::shared_ptr<const Dataset> dataset, const std::string& manifest,
                LoaderOptions options, bool skip_bad = false,
                std::size_t chunk_samples = kDefaultChunkSamples);

  /// The next batch; nullopt after the manifest's last one.
  std::optional<Batch> next();
  /// Samples read from the manifest so far (bad lines not counted).
  int64_t samples_read() const { return samples_read_; }
  /// Most samples held at once (the largest chunk).
  int64_t peak_chunk_samples() const { return peak_chunk_; }
  /// Bad lines of the manifest (skip_bad) and samples that failed to decode, in order met.
  std::vector<BadSample> bad() const;

 private:
  bool next_chunk();

  std::shared_ptr<const Dataset> ds_;
  LoaderOptions opt_;
  bool skip_bad_;
  std::size_t chunk_;
  ManifestReader reader_;
  std::unique_ptr<Loader> loader_;  ///< over the current chunk
  std::vector<BadSample> bad_;      ///< of the chunks done
  int64_t samples_read_ = 0, peak_chunk_ = 0;
  bool done_ = false;
};

}  // namespace mmfuse::data
