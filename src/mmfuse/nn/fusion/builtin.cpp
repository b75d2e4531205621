// The built-in fusions. Adding one: a header in this folder and one line below.
#include "mmfuse/nn/fusion/adversarial.h"
#include "mmfuse/nn/fusion/bilinear.h"
#include "mmfuse/nn/fusion/composite.h"
#include "mmfuse/nn/fusion/concat.h"
#include "mmfuse/nn/fusion/cross_attention.h"
#include "mmfuse/nn/fusion/early_concat.h"
#include "mmfuse/nn/fusion/film.h"
#include "mmfuse/nn/fusion/fusion.h"
#include "mmfuse/nn/fusion/gated.h"
#include "mmfuse/nn/fusion/late.h"
#include "mmfuse/nn/fusion/low_rank.h"
#include "mmfuse/nn/fusion/max_pool.h"
#include "mmfuse/nn/fusion/modality_attention.h"
#include "mmfuse/nn/fusion/pipeline.h"
#include "mmfuse/nn/fusion/product.h"
#include "mmfuse/nn/fusion/sequential.h"
#include "mmfuse/nn/fusion/tensor.h"
#include "mmfuse/nn/fusion/transformer.h"
#include "mmfuse/nn/fusion/weighted_sum.h"

namespace mmfuse::fusion {

void register_builtin_fusions(FusionRegistry& r) {
  r.add<ConcatFusionImpl>();
  r.add<EarlyConcatFusionImpl>();
  r.add<WeightedSumFusionImpl>();
  r.add<ProductFusionImpl>();
  r.add<BilinearFusionImpl>();
  r.add<TensorFusionImpl>();
  r.add<LowRankFusionImpl>();
  r.add<GatedFusionImpl>();
  r.add<FilmFusionImpl>();
  r.add<ModalityAttentionFusionImpl>();
  r.add<CrossAttentionFusionImpl>();
  r.add<TransformerFusionImpl>();
  r.add<SequentialFusionImpl>();
  r.add<LateFusionImpl>();
  r.add<AdversarialFusionImpl>();
  r.add<CompositeFusionImpl>();
  r.add<PipelineFusionImpl>();
  r.add<MaxPoolFusionImpl>();
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
