#pragma once
/// What the HTTPS server shares with its connections: the settings, the request handler, the
/// worker threads that run it, and the set of open connections (for the connection limit and
/// for stopping).
///
/// Thread safety: `settings` and `handle` are read-only after construction; the connection
/// set is guarded by its mutex; `workers` is thread-safe.
#include <asio/thread_pool.hpp>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "emulator/https/http_message.hpp"
#include "emulator/https/https_settings.hpp"

namespace emu::https {

class http_connection;

struct http_front {
  using clock = std::chrono::steady_clock;
  /// Runs one request: `peer_address` is the client's IP address. May block until `deadline`
  /// (it waits for the hub executor), not longer; runs on a worker thread; must not throw.
  using handler = std::function<http_response(const http_request&, const std::string& peer_address,
                                              clock::time_point deadline)>;

  http_front(https_settings s, handler h)
      : settings(std::move(s)),
        handle(std::move(h)),
        workers(settings.worker_threads == 0 ? 1 : settings.worker_threads) {}

  /// Adds an accepted connection; false when `max_connections` are open or after shut_down().
  bool add(const std::shared_ptr<http_connection>& c, std::uint64_t id) {
    std::lock_guard lock(mutex);
    if (!open || connections.size() >= settings.max_connections) return false;
    connections[id] = c;
    return true;
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex);
    connections.erase(id);
  }
  /// Refuses new connections and returns the open ones (to be shut down). Idempotent.
  std::vector<std::shared_ptr<http_connection>> shut_down() {
    std::lock_guard lock(mutex);
    open = false;
    std::vector<std::shared_ptr<http_connection>> out;
    for (const auto& [id, w] : connections)
      if (auto c = w.lock()) out.push_back(std::move(c));
    return out;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex);
    return connections.size();
  }

  /// A request may be handed to `workers` only after this returned true (false once
  /// shut_down() ran); end_request() when its response has been posted to its connection.
  /// stop() waits for the started ones (wait_for_requests) before it stops the pool, so no
  /// request is ever posted to a pool that no longer runs it.
  bool begin_request() {
    std::lock_guard lock(mutex);
    if (!open) return false;
    ++in_flight;
    return true;
  }
  void end_request() {
    std::lock_guard lock(mutex);
    if (--in_flight == 0) idle.notify_all();
  }
  void wait_for_requests() {
    std::unique_lock lock(mutex);
    idle.wait(lock, [this] { return in_flight == 0; });
  }

  const https_settings settings;
  const handler handle;
  asio::thread_pool workers;
  std::atomic<std::uint64_t> next_id{1};

 private:
  mutable std::mutex mutex;
  std::condition_variable idle;
  std::size_t in_flight = 0;
  bool open = true;
  std::map<std::uint64_t, std::weak_ptr<http_connection>> connections;
};

}  // namespace emu::https
