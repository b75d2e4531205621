// `mmfuse serve`: the HTTP server (cpp-httplib) around the handlers (serve/handlers.h).
//
//   serve::Server server(options);
//   server.start();          // listening: live at once, not ready yet
//   server.load_models();    // ready once every run is loaded
//   ...                      // another thread (a SIGTERM watcher) calls server.stop()
//   server.wait();           // returns once stopped and drained
//
// Every request passes one wrapper: the API key (all routes but /v2/health/* and the web page),
// the body cap and content checks (before the body is read), the handler, the mapping of its
// exception to a JSON error (serve/errors.h), the metrics and one access-log line.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "mmfuse/serve/handlers.h"
#include "mmfuse/serve/metrics.h"
#include "mmfuse/serve/options.h"

namespace mmfuse::serve {

class HttpServer;

class Server {
 public:
  explicit Server(ServerOptions options);
  /// Stops and drains (as stop()).
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds host:port and serves on a background thread. Throws Error when the address cannot be
  /// bound (say which and what to change).
  void start();
  /// Loads every run (on the calling thread), then the server is ready. Throws Error naming the
  /// run that fails to load.
  void load_models();
  /// The bound port (the one picked when options.port was 0).
  int port() const { return port_; }
  bool ready() const { return state_.ready(); }
  Metrics& metrics() { return metrics_; }

  /// Graceful stop: not ready any more, stops accepting connections, lets the requests in flight
  /// finish, then returns. Safe to call from any thread and more than once.
  void stop();
  /// Blocks until the server has stopped (after stop()).
  void wait();

 private:
  void add_routes();

  ServerOptions options_;
  Metrics metrics_;
  ServeState state_;
  std::unique_ptr<HttpServer> http_;
  std::thread listener_;
  int port_ = 0;
};

}  // namespace mmfuse::serve
