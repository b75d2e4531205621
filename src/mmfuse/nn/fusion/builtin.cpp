// The built-in fusions. Adding one: a header in this folder and one line below.
#include "mmfuse/nn/fusion/concat.h"
#include "mmfuse/nn/fusion/fusion.h"

namespace mmfuse::fusion {

void register_builtin_fusions(FusionRegistry& r) {
  r.add<ConcatFusionImpl>();
}

const FusionRegistry& fusion_registry() {
  static const FusionRegistry registry = [] {
    FusionRegistry r("fusion");
    register_builtin_fusions(r);
    return r;
  }();
  return registry;
}

}  // namespace mmfuse::fusion
