// Progress on stderr: a bar redrawn in place on a terminal (epoch, step, loss, samples/s, ETA),
// plain lines (every `line_every` seconds and at the end of an epoch) otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace mmfuse::train {

class Progress {
 public:
  /// `out` defaults to stderr (nullptr: silent); `tty` forces the bar mode on or off (default:
  /// isatty(out)).
  explicit Progress(std::FILE* out = stderr, int tty = -1, double line_every = 10.0);

  /// Starts an epoch of `steps` optimizer steps (1-based epoch of `epochs`).
  void start_epoch(int64_t epoch, int64_t epochs, int64_t steps);
  /// After a step: `step` is 1-based within the epoch; `samples` samples were in it.
  void step(int64_t step, double loss, int64_t samples);
  /// Ends the epoch line with a summary such as "val accuracy 0.9123".
  void end_epoch(const std::string& summary);

  /// The text of the current status (for tests): "epoch 2/5 step 30/100 loss 0.4321 ...".
  std::string status() const;

 private:
  void draw(bool force_line);
  using Clock = std::chrono::steady_clock;
  std::FILE* out_;
  bool tty_;
  double line_every_;
  int64_t epoch_ = 0, epochs_ = 0, steps_ = 0, step_ = 0, samples_ = 0;
  double loss_avg_ = 0.0;
  Clock::time_point start_, last_line_;
};

/// "1:02:03", "4:05" for seconds.
std::string format_duration(double seconds);

}  // namespace mmfuse::train
