#include "mmfuse/serve/metrics.h"

#include <cmath>
#include <sstream>

#include "mmfuse/core/memory.h"

namespace mmfuse::serve {

namespace {

const std::vector<double> kLatencyBounds = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                            0.1,    0.25,  0.5,    1,     2.5,  5,     10};
const std::vector<double> kBatchBounds = {1, 2, 4, 8, 16, 32, 64, 128, 256};

std::string number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  std::ostringstream s;
  s.precision(10);
  s << v;
  return s.str();
}

std::string label(const std::string& key, const std::string& value) {
  std::string escaped;
  for (char c : value) {
    if (c == '\\' || c == '"') escaped += '\\';
    if (c == '\n') {
      escaped += "\\n";
      continue;
    }
    escaped += c;
  }
  return key + "=\"" + escaped + "\"";
}

void family(std::ostringstream& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

Histogram& histogram(std::map<std::string, Histogram>& m, const std::string& key,
                     const std::vector<double>& bounds) {
  auto it = m.find(key);
  if (it == m.end()) it = m.emplace(key, Histogram(bounds)).first;
  return it->second;
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

int64_t Histogram::count_above(double bound) const {
  int64_t n = 0;
  for (std::size_t i = 0; i < counts_.size(); ++i) {
    if (i == bounds_.size() || bounds_[i] > bound) n += counts_[i];
  }
  return n;
}

std::string Histogram::render(const std::string& name, const std::string& labels) const {
  std::ostringstream out;
  const std::string sep = labels.empty() ? "" : ",";
  int64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const double le = i < bounds_.size() ? bounds_[i] : INFINITY;
    out << name << "_bucket{" << labels << sep << "le=\"" << number(le) << "\"} " << cumulative
        << "\n";
  }
  const std::string braces = labels.empty() ? "" : "{" + labels + "}";
  out << name << "_sum" << braces << " " << number(sum_) << "\n";
  out << name << "_count" << braces << " " << count_ << "\n";
  return out.str();
}

void Metrics::observe_request(const std::string& route, int status, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{route, status}];
  histogram(latency_, route, kLatencyBounds).observe(seconds);
}

void Metrics::observe_batch(const std::string& model, int64_t size,
                            const std::vector<double>& queue_s) {
  std::lock_guard<std::mutex> lock(mu_);
  histogram(batch_, model, kBatchBounds).observe(static_cast<double>(size));
  Histogram& q = histogram(queue_, model, kLatencyBounds);
  for (double s : queue_s) q.observe(s);
}

void Metrics::set_model_load_seconds(const std::string& model, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  load_seconds_[model] = seconds;
}

std::string Metrics::render() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::ostringstream out;
  family(out, "mmfuse_requests_total", "counter", "HTTP requests by route and status.");
  for (const auto& [key, n] : requests_) {
    out << "mmfuse_requests_total{" << label("route", key.first) << ","
        << label("status", std::to_string(key.second)) << "} " << n << "\n";
  }
  family(out, "mmfuse_request_seconds", "histogram", "Time from request to answer, by route.");
  for (const auto& [route, h] : latency_)
    out << h.render("mmfuse_request_seconds", label("route", route));
  family(out, "mmfuse_queue_seconds", "histogram", "Time a request waited for its forward.");
  for (const auto& [model, h] : queue_)
    out << h.render("mmfuse_queue_seconds", label("model", model));
  family(out, "mmfuse_batch_size", "histogram", "Requests per forward.");
  for (const auto& [model, h] : batch_) out << h.render("mmfuse_batch_size", label("model", model));
  family(out, "mmfuse_in_flight_requests", "gauge", "Requests being handled.");
  out << "mmfuse_in_flight_requests " << in_flight_.load() << "\n";
  family(out, "mmfuse_model_load_seconds", "gauge", "Time to load each model.");
  for (const auto& [model, s] : load_seconds_) {
    out << "mmfuse_model_load_seconds{" << label("model", model) << "} " << number(s) << "\n";
  }
  family(out, "mmfuse_ready", "gauge", "1 once every model is loaded.");
  out << "mmfuse_ready " << (ready_ ? 1 : 0) << "\n";
  if (const ProcessMemory mem = process_memory(); mem.known) {
    family(out, "mmfuse_memory_rss_bytes", "gauge", "Resident memory now (VmRSS).");
    out << "mmfuse_memory_rss_bytes " << mem.rss_bytes << "\n";
    family(out, "mmfuse_memory_peak_rss_bytes", "gauge", "Peak resident memory (VmHWM).");
    out << "mmfuse_memory_peak_rss_bytes " << mem.peak_bytes << "\n";
  }
  return out.str();
}

}  // namespace mmfuse::serve
