#pragma once
/// What the HTTPS front and its connections share. Owned by shared_ptr (every connection keeps
/// it alive). Read-only after construction, except the connection set, which locks itself.
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "emulator/executor/hub_executor.hpp"
#include "emulator/https/dashboard_activity.hpp"
#include "emulator/https/dashboard_api.hpp"
#include "emulator/https/https_front.hpp"
#include "emulator/https/https_settings.hpp"
#include "emulator/metrics/hub_metrics.hpp"
#include "emulator/net/connection_handle.hpp"
#include "emulator/net/connection_set.hpp"
#include "emulator/net/protocol.hpp"

namespace spdlog {
class logger;
}

namespace emu::https {

/// The connections waiting for a direct method's outcome, by call id. Registered on the
/// executor thread in the completion of the call's round, so before any event of a later round
/// (the device's answer, the timeout) can look for it; taken by the event listener.
class method_waiters {
 public:
  struct waiter {
    net::connection_handle connection;
    std::uint64_t generation = 0;  // of the request (http_session)
  };
  void add(std::uint64_t call_id, waiter w) {
    const std::lock_guard lock(mutex_);
    waiting_[call_id] = std::move(w);
  }
  std::optional<waiter> take(std::uint64_t call_id) {
    const std::lock_guard lock(mutex_);
    const auto it = waiting_.find(call_id);
    if (it == waiting_.end()) return std::nullopt;
    auto w = std::move(it->second);
    waiting_.erase(it);
    return w;
  }

 private:
  std::mutex mutex_;
  std::map<std::uint64_t, waiter> waiting_;
};

struct https_state {
  /// The connections' clock for their deadlines (a parameter, so tests move time instead of
  /// sleeping).
  using clock = std::function<net::steady_time()>;

  https_state(https_settings s, executor::hub_executor& e, clock_travel t,
              clock now = net::steady_clock::now);

  const https_settings settings;
  const clock now;
  executor::hub_executor& executor;
  const clock_travel travel;
  std::shared_ptr<net::connection_set> connections;
  method_waiters methods;
  /// What `/$iothub/websocket` carries (serve_websockets, before listen; read-only after).
  std::vector<websocket_protocol> websockets;
  /// The largest WebSocket frame payload accepted (1009 beyond): above the largest MQTT
  /// packet (256 KB of telemetry plus its topic) and AMQP frame the fronts allow.
  std::size_t websocket_max_frame = 1024 * 1024;
  /// Every front's connection numbers for /metrics (serve_metrics, before listen; none: only
  /// this front's).
  std::function<std::vector<metrics::front_metrics>()> fronts;
  /// The dashboard's activity feed (an executor listener fills it).
  dashboard_activity activity;
  /// What the dashboard shows of the emulator's wiring, once it is known (set_dashboard_site).
  std::shared_ptr<const dashboard_site> site() const {
    const std::lock_guard lock(site_mutex_);
    return site_;
  }
  void set_site(dashboard_site s) {
    auto p = std::make_shared<const dashboard_site>(std::move(s));
    const std::lock_guard lock(site_mutex_);
    site_ = std::move(p);
  }
  spdlog::logger& log;

 private:
  mutable std::mutex site_mutex_;
  std::shared_ptr<const dashboard_site> site_;
};

}  // namespace emu::https
