// parallel_for_each(n, threads, fn): fn(i) for i in [0, n) on `threads` std::threads (the calling
// thread included), each index exactly once. Exceptions are caught per index by the caller's fn;
// one escaping fn stops nothing else and is rethrown (the lowest index's) after all have run.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

namespace mmfuse::data {

template <class Fn>
void parallel_for_each(std::size_t n, int threads, const Fn& fn) {
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::size_t failed_at = n;
  std::exception_ptr failure;
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (i < failed_at) failed_at = i, failure = std::current_exception();
      }
    }
  };
  const std::size_t extra =
      std::min<std::size_t>(n, static_cast<std::size_t>(std::max(threads, 1))) - (n > 0);
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < extra; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

}  // namespace mmfuse::data
