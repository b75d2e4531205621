// Vector indexes of embedded collections (FAISS), stored as one folder:
//
//   INDEX_DIR/manifest.json   {"format": "mmfuse-index", "version": 1, "run", "model_hash",
//                              "modality", "dim", "count", "index_type", "index_hash", "data"}
//   INDEX_DIR/index.faiss     the FAISS index (inner product over unit vectors = cosine)
//   INDEX_DIR/metadata.jsonl  one line per vector, in index order: {"row", "id", "field", targets}
//
// The folder is written into a temporary sibling and renamed into place, so INDEX_DIR is either
// the old index or the new one. Opening checks every file and that the index fits the run
// (same model weights, modality and dimension); every failure names the file and the fix.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "mmfuse/core/modality.h"

namespace faiss {
struct Index;
}

namespace mmfuse::retrieval {

enum class IndexType { flat, ivf, hnsw };

/// "flat", "ivf", "hnsw".
std::string to_string(IndexType t);
/// Inverse of to_string; throws UsageError listing the known names.
IndexType index_type_from_string(const std::string& name);

struct IndexOptions {
  IndexType type = IndexType::flat;
  /// ivf: number of lists (0: about sqrt(count), at most count / 8 and at least 1).
  int64_t nlist = 0;
  /// ivf: lists visited per query (stored; 0: min(nlist, 8)).
  int64_t nprobe = 0;
  /// hnsw: neighbours per node.
  int64_t hnsw_m = 32;
};

/// What describes an index: manifest.json's fields.
struct IndexInfo {
  std::string run;         ///< run directory the vectors come from (absolute)
  std::string model_hash;  ///< hash of the run's model.safetensors
  Modality modality = Modality::image;
  int64_t dim = 0;
  int64_t count = 0;
  IndexType type = IndexType::flat;
  int64_t nprobe = 0;
  std::string data;  ///< manifest the collection was read from

  nlohmann::json to_json() const;
};

struct SearchHit {
  int64_t row = 0;
  float score = 0.0f;
};

/// An opened index with its metadata lines.
class VectorIndex {
 public:
  /// Builds a FAISS index over `vectors` [N, D] float (unit rows). Throws Error when N < 1 or,
  /// for ivf, when there are fewer vectors than lists.
  VectorIndex(const torch::Tensor& vectors, IndexInfo info, const IndexOptions& options,
              std::vector<nlohmann::json> metadata);
  ~VectorIndex();
  VectorIndex(VectorIndex&&) noexcept;
  VectorIndex& operator=(VectorIndex&&) noexcept;

  /// Writes the folder atomically (temp sibling + rename; replaces an existing index folder).
  void save(const std::string& dir) const;

  /// Opens a folder written by save(). Throws Error naming the file for a missing or corrupt
  /// file or when the parts disagree, with what to do (rebuild with `mmfuse index build`).
  static VectorIndex load(const std::string& dir);

  /// query [D] float -> up to k hits, best first.
  std::vector<SearchHit> search(const torch::Tensor& query, int64_t k) const;

  const IndexInfo& info() const { return info_; }
  const nlohmann::json& metadata(int64_t row) const { return metadata_.at(static_cast<std::size_t>(row)); }

 private:
  VectorIndex() = default;
  std::unique_ptr<faiss::Index> index_;
  IndexInfo info_;
  std::vector<nlohmann::json> metadata_;
};

}  // namespace mmfuse::retrieval
