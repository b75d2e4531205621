#include "mmfuse/core/error.h"

namespace mmfuse {

InputError::InputError(std::string reason, std::string file)
    : Error(reason), reason_(std::move(reason)), file_(std::move(file)) {
  compose();
}

InputError InputError::at(std::string manifest, int64_t line, std::string field) const {
  InputError copy = *this;
  copy.manifest_ = std::move(manifest);
  copy.line_ = line;
  copy.field_ = std::move(field);
  copy.compose();
  return copy;
}

void InputError::compose() {
  message_.clear();
  if (!manifest_.empty()) {
    message_ += manifest_;
    if (line_ > 0) message_ += ":" + std::to_string(line_);
    message_ += ": ";
  }
  if (!field_.empty()) message_ += "field '" + field_ + "': ";
  if (!file_.empty()) message_ += file_ + ": ";
  message_ += reason_;
}

}  // namespace mmfuse
