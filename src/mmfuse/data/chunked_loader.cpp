#include "mmfuse/data/chunked_loader.h"

#include <algorithm>

#include "mmfuse/core/allocator.h"
#include "mmfuse/core/error.h"

namespace mmfuse::data {

ChunkedLoader::ChunkedLoader(std::shared_ptr<const Dataset> dataset, const std::string& manifest,
                             LoaderOptions options, bool skip_bad, std::size_t chunk_samples)
    : ds_(std::move(dataset)),
      opt_(std::move(options)),
      skip_bad_(skip_bad),
      reader_(ds_->open_manifest_file(manifest, skip_bad)) {
  if (opt_.shuffle || opt_.train || opt_.shard_count != 1) {
    throw Error(
        "ChunkedLoader reads a manifest in order for evaluation: set shuffle and train "
        "false and shard_count 1 (use Loader over read_split() for training)");
  }
  if (opt_.batch_size < 1) throw Error("ChunkedLoader: batch_size must be >= 1");
  const auto batch = static_cast<std::size_t>(opt_.batch_size);
  chunk_ = std::max<std::size_t>(1, (std::max<std::size_t>(chunk_samples, 1) + batch - 1) / batch) *
           batch;
}

bool ChunkedLoader::next_chunk() {
  if (loader_) {
    for (auto& b : loader_->bad()) bad_.push_back(std::move(b));
    loader_.reset();  // frees the chunk's samples before the next is read
    // ... and returns the pages they and the chunk's batches freed: the evaluation holds what one
    // chunk needs, however long the manifest (core/allocator.h)
    release_free_memory();
  }
  while (!done_) {
    auto set = ds_->read_chunk(reader_, chunk_, skip_bad_);
    if (!set) {
      done_ = true;
      break;
    }
    bad_.insert(bad_.end(), set->bad.begin(), set->bad.end());
    if (set->samples.empty()) continue;  // a chunk of bad lines only
    const auto n = static_cast<int64_t>(set->samples.size());
    samples_read_ += n;
    peak_chunk_ = std::max(peak_chunk_, n);
    loader_ = std::make_unique<Loader>(ds_, std::move(set), opt_);
    return true;
  }
  return false;
}

std::optional<Batch> ChunkedLoader::next() {
  while (true) {
    if (loader_) {
      if (auto batch = loader_->next()) return batch;
    }
    if (!next_chunk()) return std::nullopt;
  }
}

std::vector<BadSample> ChunkedLoader::bad() const {
  std::vector<BadSample> out = bad_;
  if (loader_) {
    for (auto& b : loader_->bad()) out.push_back(std::move(b));
  }
  return out;
}

}  // namespace mmfuse::data
