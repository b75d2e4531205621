#include "mmfuse/core/hash.h"

#include <sys/stat.h>
#include <xxhash.h>

#include <cstdio>
#include <mutex>
#include <unordered_map>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

namespace mmfuse {

Hasher::Hasher() : state_(XXH3_createState()) {
  XXH3_128bits_reset(static_cast<XXH3_state_t*>(state_));
}
Hasher::~Hasher() {
  XXH3_freeState(static_cast<XXH3_state_t*>(state_));
}

Hasher& Hasher::update(std::string_view bytes) {
  XXH3_128bits_update(static_cast<XXH3_state_t*>(state_), bytes.data(), bytes.size());
  return *this;
}

Hasher& Hasher::field(std::string_view s) {
  std::uint64_t n = s.size();
  update(std::string_view(reinterpret_cast<const char*>(&n), sizeof n));
  return update(s);
}

std::string Hasher::hex() const {
  XXH128_hash_t h = XXH3_128bits_digest(static_cast<XXH3_state_t*>(state_));
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::string hash_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw InputError("file not found", path);
  std::string key = path + "|" + std::to_string(st.st_size) + "|" +
                    std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec);
  static std::mutex mu;
  static std::unordered_map<std::string, std::string> memo;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = memo.find(key);
    if (it != memo.end()) return it->second;
  }
  Hasher h;
  std::string digest = h.update(read_file(path)).hex();
  std::lock_guard<std::mutex> lock(mu);
  memo[key] = digest;
  return digest;
}

}  // namespace mmfuse
