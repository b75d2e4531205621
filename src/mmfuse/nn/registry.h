// Registry of torch-module blocks of one family; make() returns a Block<Api>.
#pragma once

#include "mmfuse/core/registry.h"
#include "mmfuse/nn/block.h"

namespace mmfuse::nn {

template <class Api, class Context>
class Registry : public mmfuse::Registry<torch::nn::Module, Context> {
 public:
  using mmfuse::Registry<torch::nn::Module, Context>::Registry;

  /// Builds `name` from `cfg` as a block of this family.
  Block<Api> make(const std::string& name, const Context& ctx, const ConfigNode& cfg) const {
    return Block<Api>(this->create(name, ctx, cfg));
  }
};

}  // namespace mmfuse::nn
