// The server's Prometheus metrics, rendered in the text exposition format (version 0.0.4) at
// GET /metrics. Thread-safe: every handler and the batcher threads record into one Metrics.
//
//   mmfuse_requests_total{route, status}          counter
//   mmfuse_request_seconds{route}                 histogram (handler latency)
//   mmfuse_queue_seconds{model}                   histogram (wait for a forward)
//   mmfuse_batch_size{model}                      histogram (requests per forward)
//   mmfuse_in_flight_requests                     gauge
//   mmfuse_model_load_seconds{model}              gauge
//   mmfuse_ready                                  gauge (1 once every model is loaded)
//   mmfuse_memory_rss_bytes                       gauge (VmRSS, core/memory.h)
//   mmfuse_memory_peak_rss_bytes                  gauge (VmHWM: the process peak so far)
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace mmfuse::serve {

/// A Prometheus histogram: cumulative counts per upper bound, sum and count.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  /// The `name{labels,le="..."}` bucket lines, _sum and _count (labels: `a="x"` or "").
  std::string render(const std::string& name, const std::string& labels) const;
  int64_t count() const { return count_; }
  /// Observations above `bound` (bound must be one of the bucket bounds, or -inf for all).
  int64_t count_above(double bound) const;

 private:
  std::vector<double> bounds_;
  std::vector<int64_t> counts_;  // per bucket (not cumulative), last is +Inf
  double sum_ = 0;
  int64_t count_ = 0;
};

class Metrics {
 public:
  void observe_request(const std::string& route, int status, double seconds);
  void observe_batch(const std::string& model, int64_t size, const std::vector<double>& queue_s);
  void set_model_load_seconds(const std::string& model, double seconds);
  void set_ready(bool ready) { ready_ = ready; }
  /// In-flight requests: +1 when a handler starts, -1 when it ends.
  void add_in_flight(int delta) { in_flight_ += delta; }

  /// The exposition text, families in a fixed order and label sets sorted.
  std::string render() const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::map<std::string, Histogram> latency_;
  std::map<std::string, Histogram> queue_;
  std::map<std::string, Histogram> batch_;
  std::map<std::string, double> load_seconds_;
  std::atomic<int64_t> in_flight_{0};
  std::atomic<bool> ready_{false};
};

}  // namespace mmfuse::serve
