// Error types. The library throws; the tools catch at the boundary and map to exit codes.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace mmfuse {

/// Any mmfuse failure. The message says what was expected, what came, and the likely fix.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A configuration problem; the message starts with the config path (`model.fusion.rank: ...`).
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// Bad use of a command (wrong flags or arguments): exit code 2 at the CLI.
class UsageError : public Error {
 public:
  using Error::Error;
};

/// Bad input data: a corrupt or missing file, a malformed manifest line, a wrong-typed field, NaN.
/// Carries where it happened so the message can name the manifest line, the field and the file:
///   `train.jsonl:12: field 'audio': ../fsdd/x.wav: truncated WAV (expected 4000 frames, got 120)`
/// Readers throw it with only `file` set; the manifest/loader layer adds `manifest`, `line`,
/// `field`.
class InputError : public Error {
 public:
  explicit InputError(std::string reason, std::string file = {});

  const std::string& reason() const { return reason_; }
  const std::string& file() const { return file_; }
  const std::string& manifest() const { return manifest_; }
  int64_t line() const { return line_; }
  const std::string& field() const { return field_; }

  /// A copy located at `manifest:line`, field `field` (keeps the file and reason).
  InputError at(std::string manifest, int64_t line, std::string field) const;

  const char* what() const noexcept override { return message_.c_str(); }

 private:
  void compose();
  std::string reason_, file_, manifest_, field_;
  int64_t line_ = 0;
  std::string message_;
};

}  // namespace mmfuse
