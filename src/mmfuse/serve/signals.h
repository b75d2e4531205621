// Graceful shutdown on SIGTERM / SIGINT: the handler only writes the signal number to a pipe
// (async-signal-safe); a watcher thread reads it and calls the given function (Server::stop).
// One instance per process (the handlers are process-wide); the previous handlers come back when
// it is destroyed.
#pragma once

#include <functional>
#include <thread>

namespace mmfuse::serve {

class StopOnSignals {
 public:
  /// Installs the handlers; `on_signal(signo)` runs on the watcher thread, once per signal.
  explicit StopOnSignals(std::function<void(int)> on_signal);
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;

 private:
  std::function<void(int)> on_signal_;
  std::thread watcher_;
  int pipe_[2] = {-1, -1};
};

}  // namespace mmfuse::serve
