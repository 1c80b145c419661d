#pragma once
/// Which connection carries each hub consumer that lives on a link of this front: feedback
/// receivers (feedback_sender.hpp) and telemetry readers (partition_sender.hpp), so the hub's
/// event::feedback_delivery and event::telemetry_delivery reach the link they are for.
///
/// Thread safety: every member may be called from any thread (one mutex per map).
#include <cstdint>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "emulator/net/connection_handle.hpp"

namespace emu::amqp {

/// Hub consumer id → the connection of its link.
class route_map {
 public:
  void set(std::uint64_t id, net::connection_handle c) {
    std::lock_guard lock(mutex_);
    routes_.insert_or_assign(id, std::move(c));
  }
  void remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    routes_.erase(id);
  }
  std::optional<net::connection_handle> find(std::uint64_t id) const {
    std::lock_guard lock(mutex_);
    const auto it = routes_.find(id);
    if (it == routes_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::uint64_t, net::connection_handle> routes_;
};

/// A device's hub session (device id, epoch) → the connection of its links (C2D, twin, methods).
class session_route_map {
 public:
  void set(const std::string& device_id, std::uint64_t epoch, net::connection_handle c) {
    std::lock_guard lock(mutex_);
    routes_.insert_or_assign({device_id, epoch}, std::move(c));
  }
  void remove(const std::string& device_id, std::uint64_t epoch) {
    std::lock_guard lock(mutex_);
    routes_.erase({device_id, epoch});
  }
  std::optional<net::connection_handle> find(const std::string& device_id,
                                             std::uint64_t epoch) const {
    std::lock_guard lock(mutex_);
    const auto it = routes_.find({device_id, epoch});
    if (it == routes_.end()) return std::nullopt;
    return it->second;
  }
  /// The connection of the device's newest session (a desired patch names no session).
  std::optional<net::connection_handle> latest(const std::string& device_id) const {
    std::lock_guard lock(mutex_);
    const auto end = routes_.lower_bound({device_id + '\0', 0});
    if (end == routes_.begin()) return std::nullopt;
    const auto it = std::prev(end);
    if (it->first.first != device_id) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::uint64_t>, net::connection_handle> routes_;
};

struct link_routes {
  route_map feedback;                 ///< feedback receiver id → connection
  route_map readers;                  ///< telemetry reader id → connection
  session_route_map device_sessions;  ///< device AMQP sessions → connection
};

}  // namespace emu::amqp
