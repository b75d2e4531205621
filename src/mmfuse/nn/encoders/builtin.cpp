// The built-in encoders. Adding one: a header in this folder and one line below.
#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

void register_builtin_encoders(EncoderRegistry& r) {}

const EncoderRegistry& encoder_registry() {
  static const EncoderRegistry registry = [] {
    EncoderRegistry r("encoder");
    register_builtin_encoders(r);
    return r;
  }();
  return registry;
}

}  // namespace mmfuse::encoders
