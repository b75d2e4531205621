// Content hashing for cache keys (xxHash XXH3-128), as 32 hex characters.
#pragma once

#include <string>
#include <string_view>

namespace mmfuse {

class Hasher {
 public:
  Hasher();
  ~Hasher();
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  Hasher& update(std::string_view bytes);
  /// Adds a length-prefixed string, so ("ab","c") and ("a","bc") hash differently.
  Hasher& field(std::string_view s);
  std::string hex() const;

 private:
  void* state_;
};

/// Hash of a file's bytes (cached per path + size + mtime within the process).
std::string hash_file(const std::string& path);

}  // namespace mmfuse
