// What `mmfuse serve` is told: the models to load, where to listen, how to batch and what a
// client may send. Parsed once from the command line (tools/cmd_serve.cpp) into this struct.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mmfuse::serve {

/// One model to serve: a run directory under a name (the {name} of the routes) and, for a
/// retrieval run, the index its :search route looks up.
struct ModelSource {
  std::string name;
  std::string dir;
  /// Index folder written by `mmfuse index build` with this run ("": no :search).
  std::string index_dir;
};

/// "NAME=RUN_DIR" or "RUN_DIR" (named by the folder's last component). Throws UsageError for an
/// empty part or a name outside [A-Za-z0-9_.-].
ModelSource parse_model_source(const std::string& text);

/// `--index NAME=INDEX_DIR` (or `--index INDEX_DIR` when one model is served): sets the index of
/// the model called NAME. Throws UsageError for an unknown name (listing the served ones), a model
/// given two indexes, or a bare INDEX_DIR with several models.
void attach_index(std::vector<ModelSource>& models, const std::string& text);

/// Caps on what one request may carry, all checked before anything is decoded.
struct Limits {
  /// Largest request body in bytes (413 beyond, checked from Content-Length before reading).
  int64_t max_body_bytes = 16 << 20;
  /// Largest image in pixels (width x height from the file header).
  int64_t max_image_pixels = 4096 * 4096;
  /// Longest sound in seconds (frames / rate from the file header).
  double max_audio_seconds = 60;
  /// Longest text in bytes.
  int64_t max_text_bytes = 64 << 10;
  /// Most samples in one KServe v2 infer request.
  int64_t max_samples = 256;
};

struct ServerOptions {
  std::vector<ModelSource> models;
  /// Address to bind (loopback by default: expose it deliberately).
  std::string host = "127.0.0.1";
  /// TCP port; 0 picks a free one (Server::port() tells which).
  int port = 8080;
  /// Largest batch of one forward.
  int64_t max_batch = 32;
  /// How long the first request of a batch waits for others while more are on their way (ms).
  double max_delay_ms = 5;
  /// Requests waiting for a forward at most, per model; beyond that 503 with Retry-After.
  int64_t max_queue = 256;
  /// Connections served at once.
  int connections = 128;
  /// Requests decoded and preprocessed at once, per model (0: the number of cores). Bounds the
  /// memory of decoding and keeps many connections from thrashing the cores.
  int preprocess_threads = 0;
  /// Seconds a request may wait for its answer before 503.
  double timeout_seconds = 30;
  /// Seconds a client may take to send its request (headers and body), per read.
  int read_timeout_seconds = 5;
  /// Clients must send this key (Authorization: Bearer KEY or X-Api-Key: KEY); empty: no key.
  std::string api_key;
  /// Log one line per request.
  bool access_log = true;
  Limits limits;
};

}  // namespace mmfuse::serve
