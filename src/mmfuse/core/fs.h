// File helpers: whole-file reads and atomic writes (temp file in the same folder + fsync + rename),
// so a checkpoint, cache entry or index is either the old one or the new one, never half written.
#pragma once

#include <string>
#include <string_view>

namespace mmfuse {

/// Whole file as bytes. Throws InputError naming the file when it cannot be read.
std::string read_file(const std::string& path);

/// Writes `bytes` to `path` atomically. Creates missing parent folders. Throws Error on failure,
/// leaving any previous file at `path` untouched.
void write_file_atomic(const std::string& path, std::string_view bytes);

/// `path` resolved against the folder `base_dir` unless it is absolute.
std::string resolve_path(const std::string& base_dir, const std::string& path);

/// Folder part of a path ("" -> ".").
std::string parent_dir(const std::string& path);

}  // namespace mmfuse
