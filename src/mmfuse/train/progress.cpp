#include "mmfuse/train/progress.h"

#include <unistd.h>

#include <cmath>

namespace mmfuse::train {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  auto s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s / 60 % 60), static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  }
  return buf;
}

Progress::Progress(std::FILE* out, int tty, double line_every)
    : out_(out),
      tty_(out && (tty < 0 ? ::isatty(::fileno(out)) != 0 : tty != 0)),
      line_every_(line_every) {}

void Progress::start_epoch(int64_t epoch, int64_t epochs, int64_t steps) {
  epoch_ = epoch, epochs_ = epochs, steps_ = steps, step_ = 0, samples_ = 0, loss_avg_ = 0.0;
  start_ = last_line_ = Clock::now();
}

void Progress::step(int64_t step, double loss, int64_t samples) {
  step_ = step;
  samples_ += samples;
  // Running mean of the epoch's loss.
  loss_avg_ += (loss - loss_avg_) / static_cast<double>(std::max<int64_t>(1, step));
  draw(false);
}

std::string Progress::status() const {
  const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
  const double rate = elapsed > 0 ? samples_ / elapsed : 0.0;
  const double eta = step_ > 0 ? elapsed / step_ * (steps_ - step_) : NAN;
  char buf[160];
  std::snprintf(buf, sizeof buf, "epoch %lld/%lld step %lld/%lld loss %.4f %.0f samples/s ETA %s",
                static_cast<long long>(epoch_), static_cast<long long>(epochs_),
                static_cast<long long>(step_), static_cast<long long>(steps_), loss_avg_, rate,
                format_duration(eta).c_str());
  return buf;
}

void Progress::draw(bool force_line) {
  if (!out_) return;
  if (tty_) {
    const int width = 24;
    const int filled = steps_ > 0 ? static_cast<int>(width * step_ / steps_) : 0;
    std::string bar(static_cast<std::size_t>(filled), '#');
    bar.resize(width, '.');
    std::fprintf(out_, "\r[%s] %s\033[K", bar.c_str(), status().c_str());
    std::fflush(out_);
    return;
  }
  const auto now = Clock::now();
  if (force_line || std::chrono::duration<double>(now - last_line_).count() >= line_every_) {
    std::fprintf(out_, "%s\n", status().c_str());
    std::fflush(out_);
    last_line_ = now;
  }
}

void Progress::end_epoch(const std::string& summary) {
  if (!out_) return;
  if (tty_) {
    draw(true);
    std::fprintf(out_, "  %s\n", summary.c_str());
  } else {
    std::fprintf(out_, "%s  %s\n", status().c_str(), summary.c_str());
  }
  std::fflush(out_);
}

}  // namespace mmfuse::train
