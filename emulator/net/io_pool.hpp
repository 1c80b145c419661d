#pragma once
/// The one Asio io_context every front runs on, and its threads. Each connection is serialised
/// on a strand of its own, so any number of threads is safe; the default, one per core of a
/// small machine, keeps the MQTT devices and the AMQP senders of one hub from waiting on each
/// other (bench/RESULTS.md).
///
/// Thread safety: construct, start() and stop() from one controlling thread; context() from
/// any thread.
#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

namespace emu::net {

class io_pool {
 public:
  explicit io_pool(std::size_t threads);
  /// Calls stop().
  ~io_pool();
  io_pool(const io_pool&) = delete;
  io_pool& operator=(const io_pool&) = delete;

  asio::io_context& context() { return io_; }
  std::size_t threads() const { return count_; }

  /// Starts the threads. Idempotent.
  void start();
  /// Lets the threads finish what is queued and joins them; handlers still pending after
  /// `grace` (a connection that would not close) are abandoned (io_context::stop). Idempotent.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  asio::io_context io_;
  const std::size_t count_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
};

}  // namespace emu::net
