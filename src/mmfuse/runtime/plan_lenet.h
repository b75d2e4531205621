// What the float32 (plan_lenet.cpp) and int8 (plan_lenet_int8.cpp) LeNet plan compilers share:
// the encoder's conv -> BatchNorm stages and the compiled encoder that runs a batch in pieces.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "mmfuse/nn/encoders/lenet.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"

namespace mmfuse::runtime {

/// One block's convolution with its BatchNorm (eval) folded in.
struct LenetStage {
  torch::Tensor weight;  ///< [O, I, k, k], BatchNorm folded in
  torch::Tensor bias;    ///< [O]
  int64_t kernel = 0;
};

/// conv -> BatchNorm (eval) as one convolution's weights and bias, as folded_conv_bn does.
LenetStage fold_lenet_stage(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn);

/// The conv and BatchNorm of each of `lenet`'s blocks (conv, bn, relu, pool), in order; empty
/// when its layers are not laid out so.
std::vector<std::pair<torch::nn::Conv2dImpl*, torch::nn::BatchNorm2dImpl*>> lenet_conv_bn(
    encoders::LeNetImpl& lenet);

/// A compiled LeNet encoder: `build(n)` makes the program that maps n images (float32 NCHW, the
/// encoder's input) to the final map (float32 NCHW). A batch runs in pieces whose largest map,
/// at `value_bytes` per value, stays in cache (kLenetChunkBytes in plan_lenet.cpp), spread over
/// the intra-op threads.
std::unique_ptr<CompiledEncoder> make_lenet_plan(std::shared_ptr<encoders::LeNetImpl> lenet,
                                                 int64_t value_bytes,
                                                 DnnlProgramCache::Build build);

}  // namespace mmfuse::runtime
