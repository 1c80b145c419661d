#pragma once
/// Which connection carries each feedback receiver of the hub (feedback_sender.hpp), so the
/// hub's event::feedback_delivery reaches the link it was locked for.
///
/// Thread safety: every member may be called from any thread (one mutex).
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>

#include "emulator/net/connection_handle.hpp"

namespace emu::amqp {

class feedback_routes {
 public:
  void set(std::uint64_t receiver, net::connection_handle c) {
    std::lock_guard lock(mutex_);
    routes_.insert_or_assign(receiver, std::move(c));
  }
  void remove(std::uint64_t receiver) {
    std::lock_guard lock(mutex_);
    routes_.erase(receiver);
  }
  std::optional<net::connection_handle> find(std::uint64_t receiver) const {
    std::lock_guard lock(mutex_);
    const auto it = routes_.find(receiver);
    if (it == routes_.end()) return std::nullopt;
    return it->second;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::uint64_t, net::connection_handle> routes_;
};

}  // namespace emu::amqp
