// `mmfuse translate --run RUN_DIR --audio X.wav --out Y.png` (one input through a translator),
// `mmfuse translate train --config C [overrides] --out RUN_DIR` and
// `mmfuse translate eval --run RUN_DIR --data MANIFEST [--classifier RUN] [--report F] [--json]`.
#include <iostream>

#include "mmfuse/core/error.h"
#include "mmfuse/runtime/predictor.h"
#include "mmfuse/tools/cli.h"
#include "mmfuse/translate/convert.h"
#include "mmfuse/translate/evaluate.h"

namespace mmfuse::tools {

namespace {

void add_eval(CLI::App& parent) {
  auto req = std::make_shared<translate::TranslateEvalRequest>();
  auto json_out = std::make_shared<bool>(false);
  auto* cmd =
      parent.add_subcommand("eval", "Reconstruction error and recognition of generated samples");
  cmd->add_option("--run", req->run_dir, "Translation run directory")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", req->data, "Manifest to translate (read with the run's preprocessing)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--classifier", req->classifier,
                  "A classifier run of the target modality, trained on real samples")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--limit", req->limit, "Only the first N samples");
  cmd->add_option("--report", req->report, "Write an HTML grid of real and generated samples");
  cmd->add_option("--grid", req->grid_per_class, "Samples per class in the report's grid");
  cmd->add_flag("--json", *json_out, "JSON to stdout instead of a summary line");
  cmd->callback([=] {
    const auto r = translate::evaluate_translation(*req);
    if (*json_out) {
      std::cout << r.dump(2) << "\n";
      return;
    }
    std::cout << r["source"].get<std::string>() << " -> " << r["target"].get<std::string>() << " ("
              << r["objective"].get<std::string>() << "): " << r["samples"] << " samples, MSE "
              << r["mse"].get<double>();
    if (r.contains("recognition")) {
      std::cout << ", recognised " << r["recognition"]["accuracy"].get<double>()
                << " (real samples " << r["recognition"]["real_accuracy"].get<double>() << ")";
    }
    std::cout << "\n";
  });
}

}  // namespace

void add_translate_commands(CLI::App& app) {
  auto run_dir = std::make_shared<std::string>();
  auto req = std::make_shared<translate::ConvertRequest>();
  auto image = std::make_shared<std::string>(), audio = std::make_shared<std::string>();
  auto text = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("translate",
                                 "Cross-modal translation: generate one modality from another");
  cmd->require_subcommand(0, 1);
  cmd->add_option("--run", *run_dir, "Translation run directory")->check(CLI::ExistingDirectory);
  cmd->add_option("--image", *image, "Source image file");
  cmd->add_option("--audio", *audio, "Source audio file");
  cmd->add_option("--text", *text, "Source text");
  cmd->add_option("--out,-o", req->out,
                  "Output: .png (image or spectrogram) or .wav (spectrogram)");
  cmd->add_option("--wav", req->wav, "Also write a spectrogram target as sound (Griffin-Lim)");
  cmd->add_option("--scale", req->scale, "Repeat each PNG pixel N times")
      ->check(CLI::PositiveNumber);
  add_translate_train_command(*cmd);
  add_eval(*cmd);
  cmd->callback([=, cmd = cmd] {
    if (!cmd->get_subcommands().empty()) return;
    if (run_dir->empty()) throw UsageError("translate needs --run RUN_DIR (or train / eval)");
    translate::ConvertRequest r = *req;
    if (!image->empty()) r.image = *image;
    if (!audio->empty()) r.audio = *audio;
    if (!text->empty()) r.text = *text;
    const runtime::Predictor predictor(runtime::load_run(*run_dir));
    std::cout << translate::convert(predictor, r).dump(2) << "\n";
  });
}

}  // namespace mmfuse::tools
