#include "mmfuse/data/image/idx.h"

#include <algorithm>
#include <cstring>

#include <zlib.h>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

namespace mmfuse::data::image {

namespace {

// Largest IDX payload inflated from gzip (MNIST's training images are 47 MB).
constexpr std::size_t kIdxMaxInflatedBytes = std::size_t{4} << 30;

bool is_gzip(std::string_view b) {
  return b.size() >= 2 && static_cast<uint8_t>(b[0]) == 0x1f && static_cast<uint8_t>(b[1]) == 0x8b;
}

// Inflates a gzip stream (several members are concatenated, as `cat a.gz b.gz` makes).
std::string gunzip(std::string_view in, const std::string& path) {
  std::string out;
  // The gzip trailer holds the uncompressed size mod 2^32: a good first guess, bounded by the
  // best ratio deflate reaches (~1032:1) in case the trailer is garbage.
  if (in.size() >= 4) {
    const auto* t = reinterpret_cast<const uint8_t*>(in.data() + in.size() - 4);
    const std::size_t hint = static_cast<std::size_t>(t[0]) | t[1] << 8 | t[2] << 16 |
                             static_cast<std::size_t>(t[3]) << 24;
    out.reserve(std::min({hint, in.size() * 1100, std::size_t{1} << 30}));
  }
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) throw Error("zlib: inflateInit2 failed");
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  char buf[1 << 16];
  int rc = Z_OK;
  while (true) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
    if (out.size() > kIdxMaxInflatedBytes) {
      inflateEnd(&z);
      throw InputError("gzip data inflates past " + std::to_string(kIdxMaxInflatedBytes >> 20) +
                           " MiB (kIdxMaxInflatedBytes); not an IDX dataset file or a gzip bomb",
                       path);
    }
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0 || !is_gzip({reinterpret_cast<const char*>(z.next_in), z.avail_in}))
        break;
      inflateReset(&z);  // next member
      continue;
    }
    if (rc != Z_OK) break;
    if (z.avail_in == 0 && z.avail_out != 0) {
      rc = Z_BUF_ERROR;  // input ended inside the stream
      break;
    }
  }
  std::string msg = z.msg ? z.msg : "";
  inflateEnd(&z);
  if (rc != Z_STREAM_END) {
    throw InputError(
        "corrupt or truncated gzip data (zlib: " + (msg.empty() ? "stream ends early" : msg) +
            "); re-download the file or check it with `gzip -t`",
        path);
  }
  return out;
}

bool known_type(uint8_t t) {
  return t == 0x08 || t == 0x09 || t == 0x0B || t == 0x0C || t == 0x0D || t == 0x0E;
}

uint32_t read_be32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}

// Reverses the bytes of each `size`-byte value in place (big-endian <-> little-endian host).
void swap_bytes(uint8_t* data, std::size_t n_values, std::size_t size) {
  if (size == 1) return;
  for (std::size_t i = 0; i < n_values; ++i) std::reverse(data + i * size, data + (i + 1) * size);
}

constexpr bool host_is_little_endian() {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return false;
#else
  return true;
#endif
}

int cv_depth(IdxType t) {
  switch (t) {
    case IdxType::uint8:
      return CV_8U;
    case IdxType::int8:
      return CV_8S;
    case IdxType::int16:
      return CV_16S;
    case IdxType::int32:
      return CV_32S;
    case IdxType::float32:
      return CV_32F;
    case IdxType::float64:
      return CV_64F;
  }
  return CV_8U;
}

std::string dims_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace

std::size_t idx_type_size(IdxType t) {
  switch (t) {
    case IdxType::uint8:
    case IdxType::int8:
      return 1;
    case IdxType::int16:
      return 2;
    case IdxType::int32:
    case IdxType::float32:
      return 4;
    case IdxType::float64:
      return 8;
  }
  return 1;
}

int64_t IdxFile::item_values() const {
  int64_t n = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

cv::Mat IdxFile::item_image(int64_t index, const std::string& path) const {
  if (index < 0 || index >= items()) {
    throw InputError("item " + std::to_string(index) + " out of range (file has " +
                         std::to_string(items()) + " items)",
                     path);
  }
  int channels = 1;
  if (dims.size() == 4 && dims[3] >= 1 && dims[3] <= 4) {
    channels = static_cast<int>(dims[3]);
  } else if (dims.size() != 3) {
    throw InputError("IDX dims " + dims_string(dims) +
                         " are not images (expected [N, H, W] or [N, H, W, C] with C <= 4)",
                     path);
  }
  if (dims[1] == 0 || dims[2] == 0) {
    throw InputError("IDX dims " + dims_string(dims) + " make every item an empty " +
                         std::to_string(dims[1]) + " x " + std::to_string(dims[2]) + " image",
                     path);
  }
  const std::size_t item_bytes = static_cast<std::size_t>(item_values()) * idx_type_size(type);
  auto* p = const_cast<uint8_t*>(data.data()) + static_cast<std::size_t>(index) * item_bytes;
  return cv::Mat(static_cast<int>(dims[1]), static_cast<int>(dims[2]),
                 CV_MAKETYPE(cv_depth(type), channels), p);
}

IdxFile parse_idx(std::string_view bytes, const std::string& path) {
  std::string inflated;
  if (is_gzip(bytes)) {
    inflated = gunzip(bytes, path);
    bytes = inflated;
  }
  const auto* b = reinterpret_cast<const uint8_t*>(bytes.data());
  if (bytes.size() < 4 || b[0] != 0 || b[1] != 0 || !known_type(b[2]) || b[3] == 0) {
    std::string got = bytes.size() < 4 ? std::to_string(bytes.size()) + " bytes" : "";
    for (std::size_t i = 0; i < 4 && i < bytes.size(); ++i) {
      static const char* hex = "0123456789abcdef";
      got += (i ? " " : "") + std::string{hex[b[i] >> 4], hex[b[i] & 15]};
    }
    throw InputError(
        "not an IDX file (expected the magic 00 00 <dtype 08|09|0b|0c|0d|0e> <ndims>"
        ", got " +
            got + ")",
        path);
  }
  IdxFile f;
  f.type = static_cast<IdxType>(b[2]);
  const std::size_t ndims = b[3];
  const std::size_t header = 4 + 4 * ndims;
  if (bytes.size() < header) {
    throw InputError("truncated IDX header (expected " + std::to_string(ndims) + " dims in " +
                         std::to_string(header) + " bytes, got " + std::to_string(bytes.size()) +
                         " bytes)",
                     path);
  }
  uint64_t values = 1;
  bool overflow = false;
  for (std::size_t i = 0; i < ndims; ++i) {
    f.dims.push_back(read_be32(b + 4 + 4 * i));
    if (f.dims.back() > INT32_MAX) {
      throw InputError("IDX dimension " + std::to_string(i) + " is " +
                           std::to_string(f.dims.back()) + " (over 2^31 - 1); the file is corrupt",
                       path);
    }
    overflow |= __builtin_mul_overflow(values, static_cast<uint64_t>(f.dims.back()), &values);
  }
  uint64_t expected = 0;
  overflow |= __builtin_mul_overflow(values, idx_type_size(f.type), &expected);
  const uint64_t got = bytes.size() - header;
  if (overflow || got != expected) {
    if (overflow) {
      throw InputError("IDX dims " + dims_string(f.dims) +
                           " describe more than 2^64 bytes; the header is corrupt",
                       path);
    }
    throw InputError(std::string(got < expected ? "truncated" : "oversized") + " IDX data (dims " +
                         dims_string(f.dims) + " need " + std::to_string(expected) +
                         " bytes after the header, got " + std::to_string(got) + ")",
                     path);
  }
  f.data.assign(b + header, b + bytes.size());
  if (host_is_little_endian()) swap_bytes(f.data.data(), values, idx_type_size(f.type));
  return f;
}

IdxFile read_idx(const std::string& path) {
  return parse_idx(read_file(path), path);
}

void write_idx(const std::string& path, IdxType type, const std::vector<int64_t>& dims,
               const void* values, bool gzip) {
  std::string out = {0, 0, static_cast<char>(type), static_cast<char>(dims.size())};
  std::size_t n = 1;
  for (int64_t d : dims) {
    n *= static_cast<std::size_t>(d);
    for (int shift = 24; shift >= 0; shift -= 8) out += static_cast<char>((d >> shift) & 0xff);
  }
  const std::size_t size = idx_type_size(type);
  const std::size_t header = out.size();
  out.append(static_cast<const char*>(values), n * size);
  if (host_is_little_endian()) {
    swap_bytes(reinterpret_cast<uint8_t*>(out.data() + header), n, size);
  }
  if (gzip) {
    z_stream z{};
    if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
      throw Error("zlib: deflateInit2 failed");
    }
    std::string packed(deflateBound(&z, static_cast<uLong>(out.size())) + 32, '\0');
    z.next_in = reinterpret_cast<Bytef*>(out.data());
    z.avail_in = static_cast<uInt>(out.size());
    z.next_out = reinterpret_cast<Bytef*>(packed.data());
    z.avail_out = static_cast<uInt>(packed.size());
    const int rc = deflate(&z, Z_FINISH);
    packed.resize(z.total_out);
    deflateEnd(&z);
    if (rc != Z_STREAM_END) throw Error("zlib: deflate failed writing " + path);
    out = std::move(packed);
  }
  write_file_atomic(path, out);
}

std::shared_ptr<const IdxFile> IdxCache::get(const std::string& path) {
  std::promise<std::shared_ptr<const IdxFile>> promise;
  std::shared_future<std::shared_ptr<const IdxFile>> future;
  bool owner = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = files_.find(path);
    if (it == files_.end()) {
      future = promise.get_future().share();
      files_.emplace(path, future);
      owner = true;
    } else {
      future = it->second;
    }
  }
  if (owner) {  // this thread reads; the others wait on the future
    try {
      promise.set_value(std::make_shared<const IdxFile>(read_idx(path)));
    } catch (...) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        files_.erase(path);
      }
      promise.set_exception(std::current_exception());
    }
  }
  return future.get();
}

std::size_t IdxCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return files_.size();
}

}  // namespace mmfuse::data::image
