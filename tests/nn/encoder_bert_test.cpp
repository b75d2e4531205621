// BERT encoder: Hugging Face's parameter names, parity with a seeded random BertModel restated in
// python3-torch (tests/nn/bert_reference.py; outputs <= 1e-4, padding masked), and the load
// errors naming missing, unexpected and wrong-shape tensors.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/nn/encoders/bert.h"
#include "mmfuse/nn/encoders/pretrained.h"
#include "nn/conformance_util.h"
#include "test_util.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::max_abs_diff;

// The output of bert_reference.py, made once per test process.
struct BertReference {
  std::string dir;
  std::map<std::string, torch::Tensor> io;
};

const BertReference& bert_reference() {
  static const BertReference ref = [] {
    BertReference r;
    r.dir = (std::filesystem::temp_directory_path() /
             ("mmfuse-bert-reference-" + std::to_string(::getpid())))
                .string();
    std::filesystem::create_directories(r.dir);
    const auto run =
        mmfuse::testing::run_command("/usr/bin/python3 " + std::string(MMFUSE_SOURCE_DIR) +
                                     "/tests/nn/bert_reference.py " + r.dir);
    if (run.exit_code != 0) throw std::runtime_error("bert_reference.py failed:\n" + run.output);
    r.io = load_safetensors(r.dir + "/io.safetensors").tensors;
    // The folder's name outlives the statics (destroyed before this handler runs).
    static const std::string* folder = nullptr;
    folder = new std::string(r.dir);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*folder, ec);
    });
    return r;
  }();
  return ref;
}

// The reference's sizes: vocab 50, hidden 32, 2 layers, 4 heads, intermediate 48, 16 positions.
EncoderBlock small_bert(const std::string& pretrained_file, const std::string& extra = "") {
  EncoderContext ctx;
  ctx.modality = Modality::text;
  ctx.input_shape = {-1};
  ctx.vocab_size = 50;
  std::string yaml =
      "type: bert\nhidden: 32\nlayers: 2\nheads: 4\nintermediate: 48\nmax_positions: 16\n" + extra;
  if (!pretrained_file.empty()) yaml += "pretrained: {file: " + pretrained_file + "}\n";
  return make_encoder(ctx, mmfuse::testing::block_config(yaml));
}

std::string bert_load_error(const std::string& file) {
  try {
    small_bert(file);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BertEncoder, HuggingFaceNamesAndSizes) {
  BertEncoder net(BertOptions(30522));  // bert-base-uncased
  int64_t count = 0;
  for (const auto& p : net->parameters()) count += p.numel();
  // BertModel(bert-base-uncased) has 109,482,240 parameters.
  EXPECT_EQ(count, 109482240);
  const auto params = net->named_parameters();
  for (const char* name :
       {"embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
        "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
        "encoder.layer.0.attention.self.query.weight", "encoder.layer.11.attention.self.value.bias",
        "encoder.layer.3.attention.output.dense.weight",
        "encoder.layer.3.attention.output.LayerNorm.bias",
        "encoder.layer.5.intermediate.dense.weight", "encoder.layer.5.output.dense.weight",
        "encoder.layer.5.output.LayerNorm.weight", "pooler.dense.weight"}) {
    EXPECT_TRUE(params.contains(name)) << name;
  }
  EXPECT_EQ(params["encoder.layer.5.intermediate.dense.weight"].sizes(),
            torch::IntArrayRef({3072, 768}));
}

TEST(BertEncoder, ParityWithHuggingFaceFormulas) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_python({"torch", "numpy"}));
  const auto& ref = bert_reference();
  EncoderBlock enc = small_bert(ref.dir + "/bert.safetensors");
  enc.module()->eval();
  torch::NoGradGuard no_grad;
  const auto ids = ref.io.at("ids"), lengths = ref.io.at("lengths");
  const auto out = enc->encode({ids, torch::ones({ids.size(0)}, torch::kBool), lengths});
  const double d_seq = max_abs_diff(out.tokens, ref.io.at("sequence"));
  const double d_pooled = max_abs_diff(out.pooled, ref.io.at("pooled"));
  std::cout << "bert: max |diff| sequence " << d_seq << ", pooled " << d_pooled << "\n";
  EXPECT_LE(d_seq, 1e-4);
  EXPECT_LE(d_pooled, 1e-4);
  EXPECT_GT(ref.io.at("pooled").abs().max().item<double>(), 0.1);
  // Padding is masked: the short rows equal the same text run alone, without padding.
  const auto alone = enc->encode({ids.slice(0, 1, 2).slice(1, 0, 5), torch::ones({1}, torch::kBool),
                                  torch::tensor({5}, torch::kLong)});
  EXPECT_LE(max_abs_diff(alone.pooled, out.pooled.slice(0, 1, 2)), 1e-5);
  ASSERT_TRUE(out.token_mask.defined());
  EXPECT_EQ(out.token_mask.sum().item<int64_t>(), 9 + 5 + 2);
  // pooling: cls gives the [CLS] hidden state instead of the pooler.
  EncoderBlock cls = small_bert("", "pooling: cls\npretrained: {file: " + ref.dir +
                                        "/bert.safetensors, exclude: [pooler.]}\n");
  cls.module()->eval();
  const auto c = cls->encode({ids, torch::ones({ids.size(0)}, torch::kBool), lengths});
  EXPECT_LE(max_abs_diff(c.pooled, ref.io.at("sequence").select(1, 0)), 1e-4);
}

TEST(BertEncoder, LoadErrorsNameMissingUnexpectedAndWrongShapeTensors) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_python({"torch", "numpy"}));
  const auto& ref = bert_reference();
  const auto weights = load_safetensors(ref.dir + "/bert.safetensors").tensors;
  mmfuse::testing::TempDir dir;
  auto missing = weights;
  missing.erase("encoder.layer.1.attention.self.key.weight");
  save_safetensors(dir.file("missing.safetensors"), missing);
  std::string msg = bert_load_error(dir.file("missing.safetensors"));
  EXPECT_NE(msg.find("missing in the file: encoder.layer.1.attention.self.key.weight [32, 32]"),
            std::string::npos)
      << msg;
  auto unexpected = weights;
  unexpected["embeddings.position_ids"] = torch::arange(16).unsqueeze(0);
  save_safetensors(dir.file("unexpected.safetensors"), unexpected);
  msg = bert_load_error(dir.file("unexpected.safetensors"));
  EXPECT_NE(msg.find("unexpected (unused) in the file: embeddings.position_ids"), std::string::npos)
      << msg;
  auto shape = weights;
  shape["encoder.layer.0.intermediate.dense.weight"] = torch::zeros({64, 32});
  save_safetensors(dir.file("shape.safetensors"), shape);
  msg = bert_load_error(dir.file("shape.safetensors"));
  EXPECT_NE(msg.find("shape mismatch: encoder.layer.0.intermediate.dense.weight: file [64, 32] "
                     "vs module [48, 32]"),
            std::string::npos)
      << msg;
}

TEST(BertEncoder, NeedsTokenIdsWithAVocabulary) {
  EncoderContext ctx;
  ctx.modality = Modality::text;
  ctx.input_shape = {300};
  try {
    make_encoder(ctx, mmfuse::testing::block_config("type: bert"));
    FAIL() << "bert accepted input without a vocabulary";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("wordpiece"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmfuse::encoders
