// The built-in heads. Adding one: a header in this folder and one line below.
#include "mmfuse/nn/heads/head.h"

namespace mmfuse::heads {

void register_builtin_heads(HeadRegistry& r) {}

const HeadRegistry& head_registry() {
  static const HeadRegistry registry = [] {
    HeadRegistry r("head");
    register_builtin_heads(r);
    return r;
  }();
  return registry;
}

}  // namespace mmfuse::heads
