// Translation building blocks: shapes, hand-computed losses, PNG/base64 round trips, Griffin-Lim
// phase recovery, and a translator that learns a toy mapping.
#include <gtest/gtest.h>

#include <functional>

#include <opencv2/imgcodecs.hpp>

#include "mmfuse/core/config.h"
#include "mmfuse/models/target_classifier.h"
#include "mmfuse/models/translate_networks.h"
#include "mmfuse/models/translator.h"
#include "mmfuse/train/translate_objectives.h"
#include "mmfuse/translate/griffin_lim.h"
#include "mmfuse/translate/image_io.h"

namespace mmfuse::translate {
namespace {

using namespace ::mmfuse::models;  // the translator and its networks
using namespace ::mmfuse::train;   // the objectives

TEST(TranslateNetworks, DecoderMakesTheTargetShape) {
  torch::manual_seed(0);
  ConvDecoder small(ConvDecoderOptions(16, {1, 28, 28}).channels(32));
  EXPECT_EQ(small->forward(torch::randn({3, 16})).sizes(), (std::vector<int64_t>{3, 1, 28, 28}));
  ConvDecoder spec(ConvDecoderOptions(8, {1, 112, 112}));
  EXPECT_EQ(spec->forward(torch::randn({2, 8})).sizes(), (std::vector<int64_t>{2, 1, 112, 112}));
  EXPECT_EQ(doublings_from_7(7), 0);
  EXPECT_EQ(doublings_from_7(112), 4);
  EXPECT_THROW(doublings_from_7(30), Error);
}

TEST(TranslateNetworks, DiscriminatorScoresDependOnTheCondition) {
  torch::manual_seed(0);
  ConvDiscriminator d(ConvDiscriminatorOptions({1, 28, 28}, 4));
  auto x = torch::rand({5, 1, 28, 28});
  auto c = torch::randn({5, 4});
  auto s = d->forward(x, c);
  EXPECT_EQ(s.sizes(), (std::vector<int64_t>{5}));
  EXPECT_GT((d->forward(x, -c) - s).abs().max().item<double>(), 1e-6);
}

TEST(TranslateObjectives, HandComputedValues) {
  // BCE with logit 0 against target 1 is log 2 per element.
  auto l =
      reconstruction_loss(torch::zeros({2, 1, 7, 7}), torch::ones({2, 1, 7, 7}), ReconLoss::bce);
  EXPECT_NEAR(l.item<double>(), std::log(2.0), 1e-6);
  // MSE of sigmoid(0) = 0.5 against 0: 0.25; L1: 0.5.
  EXPECT_NEAR(
      reconstruction_loss(torch::zeros({1, 1, 7, 7}), torch::zeros({1, 1, 7, 7}), ReconLoss::mse)
          .item<double>(),
      0.25, 1e-6);
  EXPECT_NEAR(
      reconstruction_loss(torch::zeros({1, 1, 7, 7}), torch::zeros({1, 1, 7, 7}), ReconLoss::l1)
          .item<double>(),
      0.5, 1e-6);
  // KL of N(0,1) is 0; of N(1, 1) per dim is 0.5: latent 4 -> 2, over 49 elements.
  EXPECT_NEAR(kl_divergence(torch::zeros({3, 4}), torch::zeros({3, 4}), 49).item<double>(), 0.0,
              1e-9);
  EXPECT_NEAR(kl_divergence(torch::ones({3, 4}), torch::zeros({3, 4}), 49).item<double>(), 2.0 / 49,
              1e-7);
  // D: logits 0 for both -> 2 log 2; G at logit 0 -> log 2.
  EXPECT_NEAR(discriminator_loss(torch::zeros({4}), torch::zeros({4})).item<double>(),
              2 * std::log(2.0), 1e-6);
  EXPECT_NEAR(generator_adversarial_loss(torch::zeros({4})).item<double>(), std::log(2.0), 1e-6);
  // A confident, correct discriminator has a loss near 0.
  EXPECT_LT(discriminator_loss(torch::full({4}, 20.0), torch::full({4}, -20.0)).item<double>(),
            1e-6);
}

TEST(TranslateImageIo, Base64KnownValues) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("M"), "TQ==");
  EXPECT_EQ(base64("Ma"), "TWE=");
  EXPECT_EQ(base64("Man"), "TWFu");
  EXPECT_EQ(base64("hello world"), "aGVsbG8gd29ybGQ=");
}

TEST(TranslateImageIo, PngRoundTripKeepsPixelsAndScales) {
  auto img = torch::arange(0, 12, torch::kFloat).view({1, 3, 4}) / 11.0;
  const std::string png = encode_png(img, 2);
  std::vector<uchar> buf(png.begin(), png.end());
  cv::Mat m = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  ASSERT_EQ(m.rows, 6);
  ASSERT_EQ(m.cols, 8);
  for (int y = 0; y < 6; ++y) {
    for (int x = 0; x < 8; ++x) {
      const double want = std::round(img[0][y / 2][x / 2].item<double>() * 255.0);
      EXPECT_EQ(m.at<uchar>(y, x), want) << y << "," << x;
    }
  }
  EXPECT_THROW(encode_png(torch::zeros({2, 4, 4})), Error);
}

TEST(TranslateGriffinLim, RecoversASignalWithTheGivenMagnitudes) {
  GriffinLimOptions o;
  o.iterations = 60;
  auto t = torch::arange(o.samples, torch::kFloat) / 8000.0;
  auto x = 0.5 * torch::sin(2 * M_PI * 440.0 * t) + 0.3 * torch::sin(2 * M_PI * 1200.0 * t);
  auto window = torch::hann_window(o.n_fft);
  auto mag =
      torch::stft(x, o.n_fft, o.hop, o.n_fft, window, true, "reflect", false, true, true).abs();
  auto y = griffin_lim(mag, o);
  ASSERT_EQ(y.numel(), o.samples);
  auto mag_y =
      torch::stft(y, o.n_fft, o.hop, o.n_fft, window, true, "reflect", false, true, true).abs();
  // Spectral convergence, with y rescaled to x's level (griffin_lim peak-normalises).
  mag_y = mag_y * (mag.norm() / mag_y.norm());
  const double sc = ((mag_y - mag).norm() / mag.norm()).item<double>();
  EXPECT_LT(sc, 0.15);
  // Features made the AV-MNIST way come back as magnitudes of the right shape.
  auto feat = torch::rand({1, 112, 112});
  EXPECT_EQ(features_to_magnitude(feat, o).sizes(),
            (std::vector<int64_t>{o.n_fft / 2 + 1, o.samples / o.hop + 1}));
}

// Three classes of 28x28 images: a bright top, middle or bottom band. -> {x [30, 1, 28, 28], y
// [30]}
std::pair<torch::Tensor, torch::Tensor> three_bands() {
  auto x = torch::zeros({30, 1, 28, 28});
  auto y = torch::arange(30, torch::kLong) % 3;
  for (int64_t i = 0; i < 30; ++i) {
    const int64_t band = y[i].item<int64_t>();
    x[i].slice(1, band * 9, band * 9 + 9).fill_(1.0);
  }
  return {x, y};
}

// 60 Adam steps (lr 1e-2) of cross-entropy of logits(x) against y over `params`.
void fit(const std::function<torch::Tensor(const torch::Tensor&)>& logits,
         std::vector<torch::Tensor> params, const torch::Tensor& x, const torch::Tensor& y) {
  torch::optim::Adam adam(std::move(params), torch::optim::AdamOptions(1e-2));
  for (int step = 0; step < 60; ++step) {
    auto loss = torch::nn::functional::cross_entropy(logits(x), y);
    adam.zero_grad();
    loss.backward();
    adam.step();
  }
}

TEST(TranslateNetworks, DiscriminatorWithClassOutputsIsAClassifierThatLearns) {
  torch::manual_seed(0);
  ConvDiscriminator c(ConvDiscriminatorOptions({1, 28, 28}, 0).channels(8).outputs(3));
  const auto [x, y] = three_bands();
  EXPECT_EQ(c->logits(x).sizes(), (std::vector<int64_t>{30, 3}));
  EXPECT_THROW(c->forward(x, {}), c10::Error);  // real/fake scores need outputs 1
  fit([&](const torch::Tensor& in) { return c->logits(in); }, c->parameters(), x, y);
  EXPECT_EQ(c->logits(x).argmax(1).eq(y).sum().item<int64_t>(), 30);
}

TEST(TranslateConfigTest, ParsesAndRejects) {
  auto ok = TranslateConfig::from_config(
      ConfigNode::parse("{source: audio, target: image, objective: gan, latent: 8}"));
  EXPECT_EQ(ok.objective, Objective::gan);
  EXPECT_EQ(ok.noise, 16);  // the GAN's default noise
  try {
    TranslateConfig::from_config(
        ConfigNode::parse("{source: audio, target: image, objective: vea}"));
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("vea"), std::string::npos) << e.what();
  }
  EXPECT_THROW(TranslateConfig::from_config(ConfigNode::parse("{source: audio, target: audio}")),
               ConfigError);
  EXPECT_EQ(TranslateConfig::from_config(
                ConfigNode::parse("{source: audio, target: image, consistency_weight: 0.5}"))
                .consistency_weight,
            0.5);
  EXPECT_THROW(TranslateConfig::from_config(
                   ConfigNode::parse("{source: audio, target: image, consistency_weight: -1}")),
               ConfigError);
  EXPECT_THROW(
      TranslateConfig::from_config(ConfigNode::parse("{source: audio, target: image, laten: 3}")),
      ConfigError);
  // Epoch selection: val MSE by default, or the consistency classifier's recognition.
  EXPECT_FALSE(TranslateConfig::from_config(ConfigNode::parse("{source: audio, target: image}"))
                   .select_recognition);
  EXPECT_TRUE(TranslateConfig::from_config(
                  ConfigNode::parse("{source: audio, target: image, consistency_weight: 1, "
                                    "select: recognition}"))
                  .select_recognition);
  EXPECT_TRUE(TranslateConfig::from_config(ConfigNode::parse("{source: audio, target: image}"))
                  .aux_encoder.is_null());
  EXPECT_EQ(TranslateConfig::from_config(
                ConfigNode::parse("{source: audio, target: image, aux_encoder: {type: lenet}}"))
                .aux_encoder.get<std::string>("type"),
            "lenet");
  EXPECT_THROW(TranslateConfig::from_config(
                   ConfigNode::parse("{source: audio, target: image, aux_encoder: lenet}")),
               ConfigError);
  for (const char* bad : {"{source: audio, target: image, select: recognition}",
                          "{source: audio, target: image, consistency_weight: 1, select: acc}"}) {
    try {
      TranslateConfig::from_config(ConfigNode::parse(bad, "translate"));
      FAIL() << "expected a ConfigError for " << bad;
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("select:"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("mse"), std::string::npos) << e.what();
    }
  }
}

TEST(TargetClassifierTest, ConvOrRegisteredEncoderLearnsTheBands) {
  const auto [x, y] = three_bands();
  for (const char* encoder : {"", "{type: lenet, channels: 4, extra_blocks: 1}"}) {
    SCOPED_TRACE(encoder);
    torch::manual_seed(0);
    TargetClassifierOptions opt(Modality::image, {1, 28, 28}, 3);
    if (*encoder) opt.encoder(ConfigNode::parse(encoder, "aux_encoder"));
    TargetClassifier c(opt.channels(8));
    EXPECT_EQ(c->logits(x).sizes(), (std::vector<int64_t>{30, 3}));
    fit([&](const torch::Tensor& in) { return c->logits(in); }, c->parameters(), x, y);
    c->eval();
    EXPECT_EQ(c->logits(x).argmax(1).eq(y).sum().item<int64_t>(), 30);
    // In eval mode the classifier still passes gradients to its input (the generator's output).
    auto xg = x.clone().requires_grad_(true);
    torch::nn::functional::cross_entropy(c->logits(xg), y).backward();
    ASSERT_TRUE(xg.grad().defined());
    EXPECT_GT(xg.grad().abs().sum().item<double>(), 0.0);
  }
  EXPECT_THROW(TargetClassifier(TargetClassifierOptions(Modality::image, {1, 28, 28}, 3)
                                    .encoder(ConfigNode::parse("{type: lenett}", "aux_encoder"))),
               ConfigError);
}

// Tabular [4] -> 28x28 image translators on random inputs.
TranslateConfig tabular_to_image() {
  TranslateConfig cfg;
  cfg.source = Modality::tabular;
  cfg.target = Modality::image;
  cfg.latent = 8;
  return cfg;
}

data::ModalityBatch tabular_batch(int64_t n) {
  data::ModalityBatch src;
  src.data = torch::randn({n, 4});
  src.present = torch::ones({n}, torch::kBool);
  return src;
}

TEST(TranslatorTest, ClassHeadOnTheCodeOnlyWhenWeighted) {
  TranslateConfig cfg = tabular_to_image();
  const auto src = tabular_batch(5);
  const auto mlp = ConfigNode::parse("{type: mlp, hidden: [16]}");
  const std::vector<int64_t> in{4}, out{1, 28, 28};
  EXPECT_FALSE(Translator(cfg, mlp, in, out, 3)->forward(src).class_logits.defined());
  cfg.class_weight = 0.5;
  auto t = Translator(cfg, mlp, in, out, 3)->forward(src);
  ASSERT_TRUE(t.class_logits.defined());
  EXPECT_EQ(t.class_logits.sizes(), (std::vector<int64_t>{5, 3}));
}

TEST(TranslatorTest, OutputBasisKeepsGeneratedImagesOnTheTargetsSubspace) {
  torch::manual_seed(2);
  TranslateConfig cfg = tabular_to_image();
  cfg.output_basis = 2;
  const auto mlp = ConfigNode::parse("{type: mlp, hidden: [16]}");
  const std::vector<int64_t> in{4}, out{1, 28, 28};
  Translator t(cfg, mlp, in, out);
  // Targets on a plane: mean m plus combinations of two orthogonal patterns u, v.
  const auto m = torch::full({784}, 0.4);
  auto u = torch::zeros({784}), v = torch::zeros({784});
  u.slice(0, 0, 392).fill_(0.05);
  v.slice(0, 392, 784).fill_(0.05);
  const auto a = torch::rand({50, 1}) * 2 - 1, b = torch::rand({50, 1}) * 2 - 1;
  t->fit_output_basis((m + a * u + b * v).view({50, 1, 28, 28}));
  t->eval();
  const auto x =
      torch::sigmoid(t->forward(tabular_batch(6)).logits).view({6, 784}) - m;  // [6, 784]
  // What is left after removing the u and v parts is zero: the output is on the plane.
  const auto un = u / u.norm(), vn = v / v.norm();
  const auto rest =
      x - torch::matmul(x, un).unsqueeze(1) * un - torch::matmul(x, vn).unsqueeze(1) * vn;
  EXPECT_LT(rest.abs().max().item<double>(), 1e-3);
  // Buffers travel with the weights; too few targets for K components is an error naming the key.
  EXPECT_EQ(t->named_buffers(/*recurse=*/false).size(), 2u);
  try {
    t->fit_output_basis(torch::rand({2, 1, 28, 28}));
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("translate.output_basis"), std::string::npos) << e.what();
  }
}

// A tabular code (one-hot class) -> a 28x28 pattern per class: the AE must learn the mapping.
TEST(TranslatorTest, AutoencoderLearnsAToyMapping) {
  torch::manual_seed(0);
  TranslateConfig cfg = tabular_to_image();
  cfg.decoder_channels = 32;
  Translator model(cfg, ConfigNode::parse("{type: mlp, hidden: [32]}"), std::vector<int64_t>{4},
                   std::vector<int64_t>{1, 28, 28});
  auto patterns = (torch::rand({4, 1, 28, 28}) > 0.5).to(torch::kFloat);
  torch::optim::Adam opt(model->parameters(), torch::optim::AdamOptions(3e-3));
  auto classes = torch::arange(4).repeat({8});  // [32]
  data::ModalityBatch src;
  src.data = torch::one_hot(classes, 4).to(torch::kFloat);
  src.present = torch::ones({32}, torch::kBool);
  auto target = patterns.index_select(0, classes);
  double first = 0, last = 0;
  for (int step = 0; step < 150; ++step) {
    auto loss = reconstruction_loss(model->forward(src).logits, target, ReconLoss::bce);
    if (step == 0) first = loss.item<double>();
    last = loss.item<double>();
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  model->eval();
  torch::NoGradGuard ng;
  auto gen = torch::sigmoid(model->forward(src).logits);
  const double err = (gen.round() != target).to(torch::kFloat).mean().item<double>();
  EXPECT_LT(last, first / 3) << first << " -> " << last;
  EXPECT_LT(err, 0.02);  // < 2% of the pixels wrong
}

}  // namespace
}  // namespace mmfuse::translate
