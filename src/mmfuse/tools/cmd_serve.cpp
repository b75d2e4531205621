// `mmfuse serve --run RUN_DIR [--run NAME=RUN_DIR ...] [--host H] [--port P] ...`: the HTTP
// inference server (src/mmfuse/serve). Flags only; the server lives in the serve library.
#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "mmfuse/core/allocator.h"
#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/serve/server.h"
#include "mmfuse/serve/signals.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

struct ServeArgs {
  serve::ServerOptions options;
  std::vector<std::string> runs;
  std::vector<std::string> indexes;
  std::string api_key_file;
  double max_body_mb = 16, max_image_mp = 16.7, max_text_kb = 64;
  int threads = 1;
  double release_memory_s = 1.0;
  bool no_access_log = false;
};

std::string read_api_key(const std::string& path) {
  std::string key = read_file(path);
  while (!key.empty() && (key.back() == '\n' || key.back() == '\r' || key.back() == ' '))
    key.pop_back();
  if (key.empty())
    throw UsageError("--api-key-file " + path + ": the file is empty; put the key in it");
  return key;
}

void add_flags(CLI::App* cmd, ServeArgs& a) {
  serve::ServerOptions& o = a.options;
  cmd->add_option("--run", a.runs, "Run directory to serve, as RUN_DIR or NAME=RUN_DIR (repeat)")
      ->required();
  cmd->add_option("--index", a.indexes,
                  "Index folder a retrieval run's :search looks up (`mmfuse index build`), as "
                  "NAME=INDEX_DIR, or INDEX_DIR with one --run (repeat)");
  cmd->add_option("--host", o.host, "Address to bind")->capture_default_str();
  cmd->add_option("--port", o.port, "TCP port (0: pick a free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  cmd->add_option("--max-batch", o.max_batch, "Largest batch of one forward")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-delay-ms", o.max_delay_ms,
                  "How long a batch waits for requests still being preprocessed (ms)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--max-queue", o.max_queue, "Requests waiting per model; beyond: 503")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--threads", a.threads, "Intra-op threads of each forward")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--connections", o.connections, "Connections served at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--preprocess-threads", o.preprocess_threads,
                  "Requests decoded and preprocessed at once per model (0: the cores)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--api-key-file", a.api_key_file, "File holding the API key clients must send")
      ->check(CLI::ExistingFile);
  cmd->add_option("--max-body-mb", a.max_body_mb, "Largest request body (MB)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-image-mp", a.max_image_mp, "Largest image (megapixels)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-audio-s", o.limits.max_audio_seconds, "Longest sound (seconds)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--max-text-kb", a.max_text_kb, "Longest text (KB)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--release-memory-s", a.release_memory_s,
                  "Seconds between returns of the allocator's free pages to the OS (0: never)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--timeout-s", o.timeout_seconds, "Seconds a request may wait for its answer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--no-access-log", a.no_access_log, "Do not log one line per request");
}

serve::ServerOptions resolve(const ServeArgs& a) {
  serve::ServerOptions o = a.options;
  for (const auto& r : a.runs) o.models.push_back(serve::parse_model_source(r));
  for (std::size_t i = 0; i < o.models.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j) {
      if (o.models[i].name == o.models[j].name) {
        throw UsageError("--run: two models named '" + o.models[i].name + "'; give NAME=RUN_DIR");
      }
    }
  }
  for (const auto& i : a.indexes) serve::attach_index(o.models, i);
  if (!a.api_key_file.empty()) o.api_key = read_api_key(a.api_key_file);
  o.limits.max_body_bytes = static_cast<int64_t>(a.max_body_mb * (1 << 20));
  o.limits.max_image_pixels = static_cast<int64_t>(a.max_image_mp * 1e6);
  o.limits.max_text_bytes = static_cast<int64_t>(a.max_text_kb * 1024);
  o.access_log = !a.no_access_log;
  return o;
}

}  // namespace

void add_serve_commands(CLI::App& app) {
  auto args = std::make_shared<ServeArgs>();
  auto* cmd = app.add_subcommand("serve",
                                 "HTTP inference server: KServe v2 (/v2/...) and a simple JSON API "
                                 "(POST /v1/models/NAME:predict, :search, :translate), dynamic "
                                 "batching, Prometheus /metrics; SIGTERM drains "
                                 "and exits 0");
  add_flags(cmd, *args);
  cmd->callback([args] {
    const serve::ServerOptions options = resolve(*args);
    at::set_num_threads(args->threads);
    const int decoders = options.preprocess_threads > 0
                             ? options.preprocess_threads
                             : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    // one arena per thread that decodes at once, and one for the batcher's forwards
    if (tune_allocator_for_inference(decoders + 1, kInferenceTrimThresholdBytes)) {
      spdlog::info("malloc: at most {} arenas, freed memory above {} MiB returned", decoders + 1,
                   kInferenceTrimThresholdBytes >> 20);
    }
    const MemoryReleaser releaser(
        std::chrono::milliseconds(static_cast<int64_t>(args->release_memory_s * 1000)));
    serve::Server server(options);
    serve::StopOnSignals on_signal([&server](int signo) {
      spdlog::info("signal {}: draining the requests in flight, then exiting", signo);
      server.stop();
    });
    server.start();
    server.load_models();
    server.wait();
    spdlog::info("stopped");
  });
}

}  // namespace mmfuse::tools
