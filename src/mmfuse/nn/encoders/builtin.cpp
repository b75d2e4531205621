// The built-in encoders. Adding one: a header in this folder and one line below.
#include "mmfuse/nn/encoders/bert.h"
#include "mmfuse/nn/encoders/embedding.h"
#include "mmfuse/nn/encoders/embedding_bag.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/encoders/frame_sequence.h"
#include "mmfuse/nn/encoders/identity.h"
#include "mmfuse/nn/encoders/lenet.h"
#include "mmfuse/nn/encoders/mlp.h"
#include "mmfuse/nn/encoders/mobilenet_v2.h"
#include "mmfuse/nn/encoders/resnet.h"
#include "mmfuse/nn/encoders/rnn.h"
#include "mmfuse/nn/encoders/transformer.h"
#include "mmfuse/nn/encoders/yamnet.h"

namespace mmfuse::encoders {

void register_builtin_encoders(EncoderRegistry& r) {
  r.add<LeNetImpl>();
  r.add<ResNetImpl>();
  r.add<MobileNetV2Impl>();
  r.add<YamnetImpl>();
  r.add<LstmEncoderImpl>();
  r.add<GruEncoderImpl>();
  r.add<TransformerEncoderImpl>();
  r.add<BertEncoderImpl>();
  r.add<EmbeddingEncoderImpl>();
  r.add<EmbeddingBagEncoderImpl>();
  r.add<MlpEncoderImpl>();
  r.add<IdentityEncoderImpl>();
  r.add<FrameSequenceEncoderImpl>();
}

const EncoderRegistry& encoder_registry() {
  static const EncoderRegistry registry = [] {
    EncoderRegistry r("encoder");
    register_builtin_encoders(r);
    return r;
  }();
  return registry;
}

}  // namespace mmfuse::encoders
