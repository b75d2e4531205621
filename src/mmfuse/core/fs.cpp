#include "mmfuse/core/fs.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mmfuse/core/error.h"

namespace mmfuse {

namespace fs = std::filesystem;

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(std::string("cannot open file: ") + std::strerror(errno), path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError("read failed", path);
  return ss.str();
}

namespace {

// The likely cause and fix of a failed write, for the errno values a full disk, a file-size limit
// or a read-only folder give.
std::string write_failure_hint(int err) {
  switch (err) {
    case ENOSPC:
    case EDQUOT:
      return "; the disk (or quota) is full: free space and retry";
    case EFBIG:
      return "; the file exceeds the size limit (ulimit -f / RLIMIT_FSIZE or the file system's)";
    case EACCES:
    case EPERM:
    case EROFS:
      return "; the folder is not writable: fix its permissions or write elsewhere";
    default:
      return "";
  }
}

[[noreturn]] void fail_atomic_write(const std::string& path, const std::string& tmp,
                                    const std::string& what, int err) {
  if (!tmp.empty()) ::unlink(tmp.c_str());
  throw Error(path + ": " + what + ": " + std::strerror(err) + write_failure_hint(err) +
              " (any previous file at this path is untouched)");
}

}  // namespace

void write_file_atomic(const std::string& path, std::string_view bytes) {
  static std::atomic<unsigned> counter{0};
  fs::path target(path);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) fail_atomic_write(path, "", "cannot create the folder", ec.value());
  }
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_atomic_write(path, "", "cannot create the temp file " + tmp, errno);
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n == 0 ? EIO : errno;
      ::close(fd);
      fail_atomic_write(path, tmp,
                        "write failed after " + std::to_string(bytes.size() - left) + " of " +
                            std::to_string(bytes.size()) + " bytes",
                        err);
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    fail_atomic_write(path, tmp, "cannot flush to disk", err);
  }
  if (::close(fd) != 0) fail_atomic_write(path, tmp, "cannot flush to disk", errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    fail_atomic_write(path, tmp, "cannot rename the temp file into place", errno);
  }
  // The rename itself reaches the disk only once the folder is synced.
  int dir = ::open(target.has_parent_path() ? target.parent_path().c_str() : ".",
                   O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

std::string resolve_path(const std::string& base_dir, const std::string& path) {
  if (path.empty() || fs::path(path).is_absolute() || base_dir.empty()) return path;
  return (fs::path(base_dir) / path).lexically_normal().string();
}

std::string parent_dir(const std::string& path) {
  auto p = fs::path(path).parent_path();
  return p.empty() ? "." : p.string();
}

}  // namespace mmfuse
