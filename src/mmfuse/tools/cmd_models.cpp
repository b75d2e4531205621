// `mmfuse models`: every registered encoder, fusion and head with a one-line description.
#include <iostream>

#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/fusion/fusion.h"
#include "mmfuse/nn/heads/head.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

template <class R>
void print_family(const char* title, const R& registry) {
  std::cout << title << " (" << registry.entries().size() << ")\n";
  for (const auto& e : registry.entries()) {
    std::cout << "  " << e.name << std::string(e.name.size() < 20 ? 20 - e.name.size() : 1, ' ')
              << e.description << "\n";
  }
}

}  // namespace

void add_models_commands(CLI::App& app) {
  auto* cmd = app.add_subcommand("models", "List every registered encoder, fusion and head");
  cmd->callback([] {
    print_family("encoders", encoders::encoder_registry());
    print_family("fusions", fusion::fusion_registry());
    print_family("heads", heads::head_registry());
  });
}

}  // namespace mmfuse::tools
