// IDX files (the MNIST format), plain or gzipped: a header of magic + big-endian dims, then the
// values in big-endian byte order. Item i of a file with dims [N, d1, d2, ...] is the d1 x d2 x ...
// block at index i.
//
// Magic: two zero bytes, a dtype byte (0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
// 0x0D float32, 0x0E float64) and the number of dims; then one big-endian uint32 per dim.
#pragma once

#include <cstdint>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <opencv2/core.hpp>

namespace mmfuse::data::image {

enum class IdxType : uint8_t {
  uint8 = 0x08,
  int8 = 0x09,
  int16 = 0x0B,
  int32 = 0x0C,
  float32 = 0x0D,
  float64 = 0x0E,
};

/// Bytes per value of `t`.
std::size_t idx_type_size(IdxType t);

/// A decoded IDX file with its values in host byte order.
struct IdxFile {
  IdxType type = IdxType::uint8;
  std::vector<int64_t> dims;  ///< [N, d1, d2, ...]
  std::vector<uint8_t> data;  ///< N * d1 * d2 * ... values of `type`, host byte order

  int64_t items() const { return dims.empty() ? 0 : dims[0]; }
  /// Values in one item (d1 * d2 * ...; 1 for a 1-D file).
  int64_t item_values() const;

  /// Item `index` as an image header over `data` (no copy; valid while this object lives):
  /// dims [N, H, W] -> H x W, 1 channel; [N, H, W, C] -> H x W, C channels (C <= 4).
  /// Requires: 0 <= index < items(). Throws InputError for other layouts (file = `path`).
  cv::Mat item_image(int64_t index, const std::string& path) const;
};

/// Parses IDX bytes (gzip-compressed or not, detected from the gzip magic). Throws InputError
/// naming `path` for a bad magic, unknown dtype, corrupt gzip stream or a size that does not
/// match the dims.
IdxFile parse_idx(std::string_view bytes, const std::string& path);

/// Reads and parses an IDX file.
IdxFile read_idx(const std::string& path);

/// Writes an IDX file (gzipped when `gzip`) from host-order values: the inverse of read_idx.
/// Requires: values.size() == product(dims) * idx_type_size(type).
void write_idx(const std::string& path, IdxType type, const std::vector<int64_t>& dims,
               const void* values, bool gzip);

/// Decoded IDX files kept in memory per path, shared by every thread: a 60,000-item file is read
/// and decoded once, however many threads ask for its items at the same time. A failed read is
/// not kept (the next call retries).
class IdxCache {
 public:
  std::shared_ptr<const IdxFile> get(const std::string& path);
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_future<std::shared_ptr<const IdxFile>>> files_;
};

}  // namespace mmfuse::data::image
