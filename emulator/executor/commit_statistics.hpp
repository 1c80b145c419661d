#pragma once
/// How the executor's group commits went (issue 18, `/metrics`): how long each commit of a
/// round took (the SQLite transaction, fsync included) and how many requests it carried.
/// Recorded on the executor thread, read from any thread (a copy under a lock).
#include <array>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace emu::executor {

/// A histogram with fixed upper bounds (Prometheus `le`), cumulative when rendered.
template <std::size_t N>
struct histogram {
  std::array<double, N> bounds{};
  std::array<std::uint64_t, N> counts{};  // per bucket, not cumulative; beyond the last: +Inf
  std::uint64_t count = 0;
  double sum = 0;

  void observe(double v) {
    for (std::size_t i = 0; i < N; ++i)
      if (v <= bounds[i]) {
        ++counts[i];
        break;
      }
    ++count;
    sum += v;
  }
};

struct commit_numbers {
  /// Seconds per commit: 0.5 ms … 2.5 s.
  histogram<12> latency{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}};
  /// Requests answered by one commit (the group commit's size).
  histogram<9> group_size{{1, 2, 4, 8, 16, 32, 64, 128, 256}};
  std::uint64_t failed = 0;  ///< commits that failed (the round was rolled back)
};

class commit_statistics {
 public:
  void committed(double seconds, std::size_t requests) {
    const std::lock_guard lock(mutex_);
    n_.latency.observe(seconds);
    n_.group_size.observe(static_cast<double>(requests));
  }
  void failed() {
    const std::lock_guard lock(mutex_);
    ++n_.failed;
  }
  commit_numbers snapshot() const {
    const std::lock_guard lock(mutex_);
    return n_;
  }

 private:
  mutable std::mutex mutex_;
  commit_numbers n_;
};

}  // namespace emu::executor
