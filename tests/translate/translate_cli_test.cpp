// `mmfuse translate train|eval` and `mmfuse translate --run` end to end on a small built-in
// dataset read as AV-MNIST-style features (28x28 images, 112x112 spectrograms).
#include <gtest/gtest.h>

#include <sndfile.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "mmfuse/core/safetensors.h"
#include "test_util.h"
#include "tools/tiny_run.h"

namespace mmfuse::testing {
namespace {

struct Fixture {
  std::string data, spec, error;
  nlohmann::json first_test;  // the first line of test.jsonl
};

std::string config_text(const std::string& spec, const std::string& source,
                        const std::string& target, const std::string& objective,
                        const std::string& extra = "", int epochs = 1) {
  return "data: " + spec + "\ntask: translate\n" + "translate: {source: " + source +
         ", target: " + target + ", objective: " + objective +
         ", latent: 16, decoder_channels: 16, disc_channels: 8" + extra + "}\n" +
         "model:\n  encoders:\n    " + source + ": {type: lenet, channels: 4, extra_blocks: 1}\n" +
         "train:\n  epochs: " + std::to_string(epochs) +
         "\n  batch_size: 16\n  seed: 1\n  threads: 1\n  loader_threads: 1\n"
         "  optimizer: {type: adam, lr: 0.003}\n";
}

// The 60-sample built-in dataset with an AV-MNIST-style spec, made once per build of mmfuse and
// shared by the test processes (tools/tiny_run.h: make_fixture_once).
const Fixture& fixture() {
  static Fixture f;
  static bool made = false;
  if (made) return f;
  made = true;
  f.data = (fixture_dir() / "translate-data").string();
  f.spec = f.data + "/av.yaml";
  f.error = make_fixture_once("translate-data", [&](const std::string&) {
    std::filesystem::remove_all(f.data);
    auto r = run_mmfuse("-q data make-default --out " + f.data + " --samples 60 --seed 3");
    if (r.exit_code != 0) return "make-default failed: " + r.output;
    std::ofstream(f.spec)
        << "splits: {train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}\n"
           "modalities:\n"
           "  image: {pipeline: image, channels: 1, size: [28, 28]}\n"
           "  audio: {pipeline: audio, features: avmnist_spectrogram}\n"
           "targets:\n  digit: {field: label, type: class}\n";
    return std::string();
  });
  if (!f.error.empty()) return f;
  std::ifstream in(f.data + "/test.jsonl");
  std::string line;
  std::getline(in, line);
  f.first_test = nlohmann::json::parse(line);
  return f;
}

#define REQUIRE_FIXTURE()                            \
  do {                                               \
    MMFUSE_REQUIRE(missing_default_dataset_tools()); \
    ASSERT_EQ(fixture().error, "");                  \
  } while (0)

// How many samples of a manifest carry each label ("7" -> 1).
std::map<std::string, int> label_counts(const std::string& manifest) {
  std::map<std::string, int> counts;
  std::ifstream in(manifest);
  for (std::string line; std::getline(in, line);) {
    ++counts[std::to_string(nlohmann::json::parse(line)["label"].get<int>())];
  }
  return counts;
}

std::string train_run(const TempDir& tmp, const std::string& name, const std::string& src,
                      const std::string& tgt, const std::string& objective,
                      const std::string& extra = "", int epochs = 1) {
  const auto& f = fixture();
  const std::string cfg = tmp.file(name + ".yaml");
  std::ofstream(cfg) << config_text(f.spec, src, tgt, objective, extra, epochs);
  const std::string run = tmp.file(name);
  auto r = run_mmfuse("-q translate train --no-progress --config " + cfg + " --out " + run);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  return run;
}

TEST(TranslateCli, AudioToImageTrainEvalAndConvert) {
  REQUIRE_FIXTURE();
  const auto& f = fixture();
  TempDir tmp;
  const std::string run =
      train_run(tmp, "a2i", "audio", "image", "vae",
                ", class_weight: 1, consistency_weight: 1, select: recognition, output_basis: 3,"
                " aux_encoder: {type: lenet, channels: 4, extra_blocks: 1}",
                /*epochs=*/3);
  auto summary = nlohmann::json::parse(std::ifstream(run + "/summary.json"));
  EXPECT_EQ(summary["objective"], "vae");
  // The class head's validation accuracy and the auxiliary classifier's loss are logged; the
  // auxiliary classifier is saved beside the model.
  const auto epoch = summary["history"].at(0);
  ASSERT_TRUE(epoch.contains("val_class_accuracy")) << epoch.dump();
  EXPECT_GE(epoch["val_class_accuracy"].get<double>(), 0.0);
  EXPECT_LE(epoch["val_class_accuracy"].get<double>(), 1.0);
  ASSERT_TRUE(epoch.contains("train_aux_class_loss")) << epoch.dump();
  EXPECT_GT(epoch["train_aux_class_loss"].get<double>(), 0.0);
  EXPECT_LT(epoch["train_aux_class_loss"].get<double>(), 10.0);
  // The auxiliary classifier is the configured LeNet (encoder + Linear head), and the model keeps
  // the fitted 3-component output basis.
  const auto aux_file = load_safetensors(run + "/aux_classifier.safetensors");
  EXPECT_TRUE(aux_file.tensors.count("head.weight")) << aux_file.tensors.begin()->first;
  EXPECT_EQ(aux_file.tensors.at("head.weight").size(0), 10);
  EXPECT_GT(std::count_if(aux_file.tensors.begin(), aux_file.tensors.end(),
                          [](const auto& kv) { return kv.first.rfind("encoder.", 0) == 0; }),
            2);
  const auto model_file = load_safetensors(run + "/model.safetensors");
  EXPECT_EQ(model_file.tensors.at("basis").sizes(), (std::vector<int64_t>{3, 28 * 28}));
  // The epoch is selected by how often that classifier sees the digit in generated val images:
  // the first epoch with the highest val_aux_recognition, whose weights the run keeps.
  ASSERT_EQ(summary["history"].size(), 3u);
  int expected_best = 0;
  double best_rec = -1;
  for (const auto& e : summary["history"]) {
    ASSERT_TRUE(e.contains("val_aux_recognition")) << e.dump();
    const double rec = e["val_aux_recognition"].get<double>();
    EXPECT_GE(rec, 0.0);
    EXPECT_LE(rec, 1.0);
    if (rec > best_rec) best_rec = rec, expected_best = e["epoch"].get<int>();
  }
  EXPECT_EQ(summary["selected_by"], "val_aux_recognition");
  EXPECT_EQ(summary["best_epoch"], expected_best);
  EXPECT_DOUBLE_EQ(summary["best_val_aux_recognition"].get<double>(), best_rec);
  EXPECT_DOUBLE_EQ(summary["best_val_mse"].get<double>(),
                   summary["history"].at(expected_best - 1)["val_mse"].get<double>());
  EXPECT_GT(summary["best_val_mse"].get<double>(), 0.0);
  EXPECT_LT(summary["best_val_mse"].get<double>(), 0.5);
  // model.safetensors holds the selected epoch's weights: evaluated again on the val split it
  // gives that epoch's val MSE, and not another epoch's (the last one's, say).
  auto kept =
      run_mmfuse_json("translate eval --json --run " + run + " --data " + f.data + "/val.jsonl");
  ASSERT_FALSE(kept.contains("error")) << kept.dump();
  const double kept_mse = kept["mse"].get<double>();
  EXPECT_NEAR(kept_mse, summary["best_val_mse"].get<double>(), 1e-7 * kept_mse);
  for (const auto& e : summary["history"]) {
    if (e["epoch"].get<int>() == expected_best) continue;
    EXPECT_GT(std::abs(kept_mse - e["val_mse"].get<double>()), 1e-6 * kept_mse)
        << "model.safetensors evaluates like epoch " << e["epoch"] << ", not the selected epoch "
        << expected_best;
  }

  // A separately trained image classifier (image encoder only).
  const std::string cls_cfg = tmp.file("cls.yaml");
  std::ofstream(cls_cfg) << "data: " << f.spec << "\nmodel:\n  encoders:\n"
                         << "    image: {type: lenet, channels: 4, extra_blocks: 1}\n"
                         << "  heads: {digit: {type: linear}}\n"
                         << "train: {epochs: 1, batch_size: 16, threads: 1, loader_threads: 1,"
                         << " optimizer: {type: adam, lr: 0.01}}\n";
  auto c = run_mmfuse("-q train --no-progress --config " + cls_cfg + " --out " + tmp.file("cls") +
                      " > /dev/null");
  ASSERT_EQ(c.exit_code, 0) << c.output;

  const std::string report = tmp.file("report.html");
  auto ev = run_mmfuse_json("translate eval --json --run " + run + " --data " + f.data +
                            "/test.jsonl --classifier " + tmp.file("cls") + " --report " + report);
  ASSERT_FALSE(ev.contains("error")) << ev.dump();
  EXPECT_EQ(ev["samples"], 10);
  EXPECT_GT(ev["mse"].get<double>(), 0.0);
  EXPECT_LT(ev["mse"].get<double>(), 0.5);
  // The classifier's recognition of the real test images is its own test accuracy (`mmfuse
  // eval`), so the translator's classes are mapped onto the classifier's; the recognition of the
  // generated ones is the sum of its per-class hits. (What recognition a translator must beat:
  // GeneratedImagesOfItsTrainingPairsAreRecognisedAboveTheLargestClassShare.)
  auto judge =
      run_mmfuse_json("eval --json --run " + tmp.file("cls") + " --data " + f.data + "/test.jsonl");
  ASSERT_FALSE(judge.contains("error")) << judge.dump();
  EXPECT_DOUBLE_EQ(ev["recognition"]["real_accuracy"].get<double>(),
                   judge["metrics"]["targets"]["digit"]["report"]["accuracy"].get<double>());
  const auto counts = label_counts(f.data + "/test.jsonl");
  double hits = 0;
  for (const auto& [name, rate] : ev["recognition"]["per_class"].items()) {
    ASSERT_TRUE(counts.count(name)) << name;
    hits += rate.get<double>() * counts.at(name);
  }
  EXPECT_NEAR(ev["recognition"]["accuracy"].get<double>(), hits / 10, 1e-12);
  std::ifstream rin(report);
  const std::string html((std::istreambuf_iterator<char>(rin)), std::istreambuf_iterator<char>());
  EXPECT_NE(html.find("class=\"generated\"><img src=\"data:image/png;base64,"), std::string::npos);

  // One spoken digit -> a 28x28 PNG.
  const auto& audio = f.first_test["audio"];
  const std::string wav =
      f.data + "/" +
      (audio.is_string() ? audio.get<std::string>() : audio["file"].get<std::string>());
  const std::string png = tmp.file("out.png");
  auto conv = run_mmfuse_json("translate --run " + run + " --audio " + wav + " --out " + png);
  ASSERT_FALSE(conv.contains("error")) << conv.dump();
  cv::Mat m = cv::imread(png, cv::IMREAD_UNCHANGED);
  EXPECT_EQ(m.rows, 28);
  EXPECT_EQ(m.cols, 28);

  // The wrong source modality, and a run that is not a translator, give clear errors.
  auto wrong =
      run_mmfuse("translate --run " + run + " --image " + png + " --out " + tmp.file("x.png"));
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.output.find("translates audio to image"), std::string::npos) << wrong.output;
  auto not_run =
      run_mmfuse("translate --run " + tmp.file("cls") + " --audio " + wav + " --out " + png);
  EXPECT_NE(not_run.exit_code, 0);
  EXPECT_NE(not_run.output.find("is a supervised run; give a run trained with task: translate"),
            std::string::npos)
      << not_run.output;
}

// The digit must travel from the sound to the image. On 10 training pairs, learnt by heart, a
// judge that recognises each of those real images must recognise the spoken digit in more
// generated images than a translator that ignores its source could reach: whatever constant
// image it draws is recognised at most as often as the most frequent digit occurs.
TEST(TranslateCli, GeneratedImagesOfItsTrainingPairsAreRecognisedAboveTheLargestClassShare) {
  REQUIRE_FIXTURE();
  const auto& f = fixture();
  TempDir tmp;
  const std::string pairs = f.data + "/pairs10.jsonl";  // beside the files it names
  {
    std::ifstream in(f.data + "/train.jsonl");
    std::ofstream out(pairs);
    std::string line;
    for (int i = 0; i < 10 && std::getline(in, line); ++i) out << line << "\n";
  }
  int largest = 0;
  for (const auto& [name, n] : label_counts(pairs)) largest = std::max(largest, n);
  const std::string spec = tmp.file("pairs.yaml");
  std::ofstream(spec) << "splits: {train: [" << pairs << "], val: [" << f.data
                      << "/val.jsonl]}\n"
                         "modalities:\n"
                         "  image: {pipeline: image, channels: 1, size: [28, 28]}\n"
                         "  audio: {pipeline: audio, features: avmnist_spectrogram}\n"
                         "targets:\n  digit: {field: label, type: class}\n";
  // Both keep their last weights (the pairs learnt), not the best on val.
  const std::string train =
      "  select: last\n  threads: 1\n  loader_threads: 1\n  seed: 1\n"
      "  optimizer: {type: adam, lr: 0.01}\n";
  std::ofstream(tmp.file("judge.yaml"))
      << "data: " << spec
      << "\nmodel:\n  encoders:\n    image: {type: lenet, channels: 4, extra_blocks: 1}\n"
         "  heads: {digit: {type: linear}}\ntrain:\n  epochs: 40\n  batch_size: 16\n"
      << train;
  auto judge = run_mmfuse("-q train --no-progress --config " + tmp.file("judge.yaml") + " --out " +
                          tmp.file("judge") + " > /dev/null");
  ASSERT_EQ(judge.exit_code, 0) << judge.output;
  std::ofstream(tmp.file("a2i.yaml"))
      << "data: " << spec
      << "\ntask: translate\ntranslate: {source: audio, target: image, objective: ae, latent: 16,"
         " decoder_channels: 16, class_weight: 1}\n"
         "model:\n  encoders:\n    audio: {type: lenet, channels: 4, extra_blocks: 1}\n"
         "train:\n  epochs: 80\n  batch_size: 5\n"
      << train;
  auto tr = run_mmfuse("-q translate train --no-progress --config " + tmp.file("a2i.yaml") +
                       " --out " + tmp.file("a2i") + " > /dev/null");
  ASSERT_EQ(tr.exit_code, 0) << tr.output;
  auto ev = run_mmfuse_json("translate eval --json --run " + tmp.file("a2i") + " --data " + pairs +
                            " --classifier " + tmp.file("judge"));
  ASSERT_FALSE(ev.contains("error")) << ev.dump();
  EXPECT_EQ(ev["samples"], 10);
  ASSERT_EQ(ev["recognition"]["real_accuracy"].get<double>(), 1.0)
      << "the judge should know the 10 real images: " << ev["recognition"].dump();
  EXPECT_GT(ev["recognition"]["accuracy"].get<double>(), largest / 10.0 + 0.05)
      << "the largest class share is " << largest << "/10; " << ev["recognition"].dump();
}

TEST(TranslateCli, ImageToSpectrogramGanWritesPngAndWav) {
  REQUIRE_FIXTURE();
  const auto& f = fixture();
  TempDir tmp;
  const std::string run = train_run(tmp, "i2a", "image", "audio", "gan");
  EXPECT_TRUE(std::filesystem::exists(run + "/discriminator.safetensors"));
  const std::string image = f.data + "/" + f.first_test["image"].get<std::string>();
  auto conv = run_mmfuse_json("translate --run " + run + " --image " + image + " --out " +
                              tmp.file("s.png") + " --wav " + tmp.file("s.wav"));
  ASSERT_FALSE(conv.contains("error")) << conv.dump();
  cv::Mat m = cv::imread(tmp.file("s.png"), cv::IMREAD_UNCHANGED);
  EXPECT_EQ(m.rows, 112);
  EXPECT_EQ(m.cols, 112);
  SF_INFO info{};
  SNDFILE* sf = sf_open(tmp.file("s.wav").c_str(), SFM_READ, &info);
  ASSERT_NE(sf, nullptr);
  sf_close(sf);
  EXPECT_EQ(info.samplerate, 8000);
  EXPECT_EQ(info.frames, 4000);
}

}  // namespace
}  // namespace mmfuse::testing
