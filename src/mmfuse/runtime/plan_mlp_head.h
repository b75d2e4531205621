// What the float32 (plan_mlp_head.cpp) and int8 (plan_mlp_head_int8.cpp) MLP head compilers
// share: the compiled head that runs a batch in power-of-two pieces of rows.
#pragma once

#include <memory>

#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"

namespace mmfuse::runtime {

/// A compiled `mlp` head: `build(n)` makes the program mapping n rows [n, in] (float32) to the
/// head's outputs [n, out] (float32); inputs it does not cover take the module's own path.
std::unique_ptr<CompiledHead> make_mlp_head_plan(std::shared_ptr<heads::MlpHeadImpl> head,
                                                 DnnlProgramCache::Build build);

}  // namespace mmfuse::runtime
