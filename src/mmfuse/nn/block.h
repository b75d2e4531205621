// Block<Api>: a registered building block — a torch module (XImpl : Cloneable<XImpl>) that also
// implements one of the family interfaces (Encoder, Fusion, Head). It keeps the module (for
// register_module, parameters, clone, save/load) and the interface (for forward) together.
#pragma once

#include <memory>
#include <string>

#include <torch/torch.h>

#include "mmfuse/core/error.h"

namespace mmfuse::nn {

template <class Api>
class Block {
 public:
  Block() = default;
  explicit Block(std::shared_ptr<torch::nn::Module> module)
      : module_(std::move(module)), api_(std::dynamic_pointer_cast<Api>(module_)) {
    if (module_ && !api_) {
      throw Error("module '" + module_->name() + "' does not implement the expected interface");
    }
  }

  Api* operator->() const { return api_.get(); }
  Api& operator*() const { return *api_; }
  explicit operator bool() const { return static_cast<bool>(module_); }

  const std::shared_ptr<torch::nn::Module>& module() const { return module_; }
  /// A deep copy with independent parameters.
  Block clone() const { return Block(module_->clone()); }

 private:
  std::shared_ptr<torch::nn::Module> module_;
  std::shared_ptr<Api> api_;
};

}  // namespace mmfuse::nn
