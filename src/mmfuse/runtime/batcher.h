// Dynamic batching: requests from many threads wait in a bounded queue; one batcher thread forms
// batches of up to `max_batch` requests, or whatever arrived within `max_delay` of the first one,
// and runs ONE batch function call per batch (Triton's dynamic batcher; the batch function is
// e.g. Predictor::predict on prepared requests). Each caller gets the result of its own request.
//
//   Batcher<Prediction> batcher({.max_batch = 32}, [&](const std::vector<Prepared>& b) {
//     return predictor.predict(b);
//   });
//   Prediction p = batcher.submit(predictor.prepare(request)).get();   // from any thread
//
// Preprocessing (Predictor::prepare) runs on the callers' threads, before submit, so it proceeds
// in parallel while the batcher thread runs forwards one at a time. When the queue holds
// `max_queue` requests, submit() throws QueueFull (a server answers 503 with Retry-After).
//
// With `wait_for_expected_only`, callers announce a request when its preprocessing starts
// (expect()) and the first request of a batch waits for others only while announced ones are
// still on their way: a lone request runs at once instead of idling for max_delay.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <future>
#include <mutex>
#include <thread>
#include <vector>

#include "mmfuse/core/error.h"
#include "mmfuse/runtime/predictor.h"

namespace mmfuse::runtime {

struct BatcherOptions {
  /// Largest batch run at once.
  int64_t max_batch = 32;
  /// How long the first request of a batch waits for others.
  std::chrono::microseconds max_delay{5000};
  /// Requests waiting at most; beyond that submit() throws QueueFull.
  int64_t max_queue = 1024;
  /// Wait (up to max_delay) only while requests announced by expect() have not been submitted.
  bool wait_for_expected_only = false;
};

/// A batch as it starts: its size and how long each of its requests waited in the queue.
struct BatchInfo {
  int64_t size = 0;
  std::vector<double> queue_seconds;
};

/// The queue is full: try again later.
class QueueFull : public Error {
 public:
  using Error::Error;
};

struct BatcherStats {
  int64_t requests = 0;  ///< requests run
  int64_t batches = 0;   ///< batch function calls
  int64_t largest = 0;   ///< largest batch
};

template <typename Out>
class Batcher {
 public:
  using BatchFn = std::function<std::vector<Out>(const std::vector<Prepared>&)>;
  /// Called on the batcher thread before each batch function call (metrics).
  using BatchObserver = std::function<void(const BatchInfo&)>;

  /// Requires: fn returns one result per input, in order. Starts the batcher thread.
  Batcher(BatcherOptions options, BatchFn fn, BatchObserver observer = nullptr)
      : opt_(options), fn_(std::move(fn)), observer_(std::move(observer)) {
    if (opt_.max_batch < 1) throw UsageError("max batch must be >= 1");
    thread_ = std::thread([this] { loop(); });
  }
  /// Runs what is queued, then stops.
  ~Batcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  /// Announces a request whose preprocessing has started (see wait_for_expected_only).
  void expect() {
    std::lock_guard<std::mutex> lock(mu_);
    ++expected_;
  }
  /// Withdraws an announcement whose request will not be submitted (its preprocessing failed).
  void unexpect() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --expected_;
    }
    cv_.notify_all();
  }

  /// Queues one prepared request; the future holds its result or the batch function's exception.
  /// `expected`: the request was announced by expect(); submitting withdraws the announcement
  /// (also when the queue is full).
  std::future<Out> submit(Prepared prepared, bool expected = false) {
    Item item{std::move(prepared), {}, std::chrono::steady_clock::now()};
    auto future = item.promise.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (expected) --expected_;
      if (static_cast<int64_t>(queue_.size()) >= opt_.max_queue) {
        if (expected) cv_.notify_all();
        throw QueueFull("the request queue is full (" + std::to_string(opt_.max_queue) +
                        " waiting); retry shortly");
      }
      queue_.push_back(std::move(item));
    }
    cv_.notify_all();
    return future;
  }

  int64_t queued() const {
    std::lock_guard<std::mutex> lock(mu_);
    return static_cast<int64_t>(queue_.size());
  }
  BatcherStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

 private:
  struct Item {
    Prepared prepared;
    std::promise<Out> promise;
    std::chrono::steady_clock::time_point queued;
  };

  void loop() {
    while (true) {
      std::vector<Item> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping with nothing left
        const auto deadline = std::chrono::steady_clock::now() + opt_.max_delay;
        cv_.wait_until(lock, deadline, [&] {
          return stopping_ || static_cast<int64_t>(queue_.size()) >= opt_.max_batch ||
                 (opt_.wait_for_expected_only && expected_ <= 0);
        });
        const auto n =
            std::min<std::size_t>(queue_.size(), static_cast<std::size_t>(opt_.max_batch));
        for (std::size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
        stats_.requests += static_cast<int64_t>(n);
        stats_.batches += 1;
        stats_.largest = std::max<int64_t>(stats_.largest, static_cast<int64_t>(n));
      }
      run(batch);
    }
  }

  void run(std::vector<Item>& batch) {
    std::vector<Prepared> inputs;
    inputs.reserve(batch.size());
    for (auto& item : batch) inputs.push_back(std::move(item.prepared));
    try {
      if (observer_) {
        const auto now = std::chrono::steady_clock::now();
        BatchInfo info;
        info.size = static_cast<int64_t>(batch.size());
        for (const auto& item : batch) {
          info.queue_seconds.push_back(std::chrono::duration<double>(now - item.queued).count());
        }
        observer_(info);
      }
      std::vector<Out> out = fn_(inputs);
      if (out.size() != batch.size()) throw Error("batch function returned a wrong count");
      for (std::size_t i = 0; i < batch.size(); ++i) batch[i].promise.set_value(std::move(out[i]));
    } catch (...) {
      for (auto& item : batch) item.promise.set_exception(std::current_exception());
    }
  }

  BatcherOptions opt_;
  BatchFn fn_;
  BatchObserver observer_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;
  int64_t expected_ = 0;  // announced by expect(), not yet submitted
  bool stopping_ = false;
  BatcherStats stats_;
  std::thread thread_;
};

}  // namespace mmfuse::runtime
