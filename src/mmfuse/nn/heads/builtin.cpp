// The built-in heads. Adding one: a header in this folder and one line below.
#include "mmfuse/nn/heads/head.h"
#include "mmfuse/nn/heads/linear.h"
#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/nn/heads/projection.h"

namespace mmfuse::heads {

void register_builtin_heads(HeadRegistry& r) {
  r.add<LinearHeadImpl>();
  r.add<MlpHeadImpl>();
  r.add<ProjectionHeadImpl>();
}

const HeadRegistry& head_registry() {
  static const HeadRegistry registry = [] {
    HeadRegistry r("head");
    register_builtin_heads(r);
    return r;
  }();
  return registry;
}

}  // namespace mmfuse::heads
