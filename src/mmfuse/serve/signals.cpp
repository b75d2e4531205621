#include "mmfuse/serve/signals.h"

#include <fcntl.h>
#include <unistd.h>

#include <csignal>

#include "mmfuse/core/error.h"

namespace mmfuse::serve {

namespace {

int g_write_fd = -1;  // the pipe the handler writes to (process-wide by nature)

extern "C" void on_stop_signal(int signo) {
  const int saved = errno;
  const unsigned char b = static_cast<unsigned char>(signo);
  if (g_write_fd >= 0) (void)!::write(g_write_fd, &b, 1);
  errno = saved;
}

constexpr int kSignals[] = {SIGTERM, SIGINT};

}  // namespace

StopOnSignals::StopOnSignals(std::function<void(int)> on_signal)
    : on_signal_(std::move(on_signal)) {
  if (g_write_fd >= 0) throw Error("StopOnSignals: only one instance per process");
  if (::pipe2(pipe_, O_CLOEXEC) != 0) throw Error("StopOnSignals: cannot create a pipe");
  g_write_fd = pipe_[1];
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  for (int s : kSignals) ::sigaction(s, &sa, nullptr);
  ::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server
  watcher_ = std::thread([this] {
    unsigned char b = 0;
    while (true) {
      const ssize_t n = ::read(pipe_[0], &b, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || b == 0) return;  // closed, or the destructor's wake-up byte
      on_signal_(b);
    }
  });
}

StopOnSignals::~StopOnSignals() {
  for (int s : kSignals) ::signal(s, SIG_DFL);
  const unsigned char zero = 0;
  (void)!::write(pipe_[1], &zero, 1);
  watcher_.join();
  g_write_fd = -1;
  ::close(pipe_[0]);
  ::close(pipe_[1]);
}

}  // namespace mmfuse::serve
