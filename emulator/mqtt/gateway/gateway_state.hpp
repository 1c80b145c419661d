#pragma once
/// What the gateway, its connections and its hub callbacks share: the settings, the executor,
/// the connection set, and the routes from a device's session to its connection (for the
/// hub's events). Owned by shared_ptr: the executor's event listener and every connection keep
/// it alive.
///
/// Thread safety: the settings are read-only after construction; the routes lock themselves;
/// the executor and the connection set are thread-safe.
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/core/hub_event.hpp"
#include "emulator/executor/hub_executor.hpp"
#include "emulator/mqtt/gateway/gateway_settings.hpp"
#include "emulator/net/connection_handle.hpp"
#include "emulator/net/connection_set.hpp"

namespace spdlog {
class logger;
}

namespace emu::mqtt {

/// Which connection carries each session of a device (the hub decides which session is
/// current; this only finds connections). A device can briefly have two: at a takeover the new
/// session's route is set (with its CONNACK) before the old one's end reaches its connection.
class session_routes {
 public:
  void set(const std::string& device_id, std::uint64_t epoch, net::connection_handle c) {
    std::lock_guard lock(mutex_);
    routes_[device_id].insert_or_assign(epoch, std::move(c));
  }
  void remove(std::string_view device_id, std::uint64_t epoch) {
    std::lock_guard lock(mutex_);
    const auto it = routes_.find(device_id);
    if (it == routes_.end()) return;
    it->second.erase(epoch);
    if (it->second.empty()) routes_.erase(it);
  }
  /// The connection of the device's session `epoch`.
  std::optional<net::connection_handle> find(std::string_view device_id,
                                             std::uint64_t epoch) const {
    std::lock_guard lock(mutex_);
    const auto it = routes_.find(device_id);
    if (it == routes_.end()) return std::nullopt;
    const auto e = it->second.find(epoch);
    if (e == it->second.end()) return std::nullopt;
    return e->second;
  }
  /// The connection of the device's newest session (events that concern the device, not one
  /// session: desired-property updates).
  std::optional<net::connection_handle> latest(std::string_view device_id) const {
    std::lock_guard lock(mutex_);
    const auto it = routes_.find(device_id);
    if (it == routes_.end() || it->second.empty()) return std::nullopt;
    return it->second.rbegin()->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::string, std::map<std::uint64_t, net::connection_handle>, std::less<>> routes_;
};

struct gateway_state {
  gateway_state(gateway_settings s, executor::hub_executor& e);

  const gateway_settings settings;
  executor::hub_executor& executor;
  std::shared_ptr<net::connection_set> connections;
  session_routes routes;
  /// CONNECTs refused (by close reason: not_authorized, server_unavailable, …), over TLS and
  /// WebSocket alike (issue 18, /metrics).
  net::refusal_counts refusals;
  spdlog::logger& log;

  /// Hub events (executor thread, after the commit): route them to the connections concerned.
  void on_hub_event(const core::hub_event& e);
};

}  // namespace emu::mqtt
