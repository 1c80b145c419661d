#pragma once
/// Which connections exist, which one is each device's current connection (spec §3.3: one per
/// device, a new one closes the old), and the one safe way to reach a connection from another
/// thread (the hub executor).
///
/// The executor holds connections only through weak_ptr, and posts to a connection's strand
/// only through post_to() under this registry's mutex while the gateway is open. After
/// shut_down() nothing is posted any more, so no connection (which owns asio objects) can
/// outlive its io_context inside an executor callback.
///
/// Thread safety: every member may be called from any thread (one mutex).
#include <asio/post.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "emulator/mqtt/gateway/connection.hpp"

namespace emu::mqtt {

class connection_registry {
 public:
  /// Adds an accepted connection; false (not added) when `max` are open or after shut_down().
  bool add(const std::shared_ptr<connection>& c, std::size_t max) {
    std::lock_guard lock(mutex_);
    if (!open_ || all_.size() >= max) return false;
    all_[c->id()] = c;
    return true;
  }

  /// Forgets a connection (and its device entry if it is still the device's current one).
  void remove(std::uint64_t id, std::string_view device_id) {
    std::lock_guard lock(mutex_);
    all_.erase(id);
    if (const auto it = devices_.find(device_id); it != devices_.end() && it->second.id == id)
      devices_.erase(it);
  }

  /// Makes connection `id` the device's current one and returns the previous one (to be
  /// closed), if any. Does nothing for a connection that is already closing. Called on the hub
  /// executor inside the authentication work, so it is ordered with every lock_next. Returns
  /// a weak reference: no strong one may leave the mutex on the executor thread.
  std::weak_ptr<connection> claim(std::string_view device_id, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    const auto self = all_.find(id);
    if (self == all_.end()) return {};
    {
      const auto me = self->second.lock();
      if (!me || me->closing()) return {};
    }
    std::weak_ptr<connection> old;
    if (const auto it = devices_.find(device_id); it != devices_.end()) {
      if (it->second.id == id) return {};
      old = it->second.conn;
      it->second = entry{id, self->second};
    } else {
      devices_.emplace(std::string(device_id), entry{id, self->second});
    }
    return old;
  }

  /// Undoes claim() (the hub could not commit the CONNECT).
  void unclaim(std::string_view device_id, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    if (const auto it = devices_.find(device_id); it != devices_.end() && it->second.id == id)
      devices_.erase(it);
  }

  /// True when `id` is the device's current connection (checked on the executor before
  /// locking a message for it, so a superseded connection cannot take the next message).
  bool is_current(std::string_view device_id, std::uint64_t id) const {
    std::lock_guard lock(mutex_);
    const auto it = devices_.find(device_id);
    return it != devices_.end() && it->second.id == id;
  }

  /// Runs `fn(connection&)` on the connection's strand if it still exists and the gateway is
  /// open; false otherwise (the caller then cleans up, e.g. releases a lock).
  template <class Fn>
  bool post_to(const std::weak_ptr<connection>& target, Fn&& fn) {
    std::lock_guard lock(mutex_);
    if (!open_) return false;
    auto c = target.lock();
    if (!c) return false;
    const auto& ex = c->executor();
    asio::post(ex, [c = std::move(c), fn = std::forward<Fn>(fn)]() mutable { fn(*c); });
    return true;
  }

  /// post_to() the device's current connection.
  template <class Fn>
  bool post_to_device(std::string_view device_id, Fn&& fn) {
    std::weak_ptr<connection> target;
    {
      std::lock_guard lock(mutex_);
      const auto it = devices_.find(device_id);
      if (it == devices_.end()) return false;
      target = it->second.conn;
    }
    return post_to(target, std::forward<Fn>(fn));
  }

  /// post_to() every connection (a copy of `fn` each).
  template <class Fn>
  void post_to_all(const Fn& fn) {
    for (const auto& w : snapshot()) post_to(w, Fn(fn));
  }

  /// Stops all posting and returns the connections that were open (to be closed by the
  /// owner on their strands). Idempotent.
  std::vector<std::shared_ptr<connection>> shut_down() {
    std::lock_guard lock(mutex_);
    open_ = false;
    std::vector<std::shared_ptr<connection>> out;
    for (const auto& [id, w] : all_)
      if (auto c = w.lock()) out.push_back(std::move(c));
    return out;
  }

  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return all_.size();
  }

 private:
  std::vector<std::weak_ptr<connection>> snapshot() const {
    std::lock_guard lock(mutex_);
    std::vector<std::weak_ptr<connection>> out;
    out.reserve(all_.size());
    for (const auto& [id, w] : all_) out.push_back(w);
    return out;
  }

  struct entry {
    std::uint64_t id;
    std::weak_ptr<connection> conn;
  };
  mutable std::mutex mutex_;
  bool open_ = true;
  std::map<std::uint64_t, std::weak_ptr<connection>> all_;
  std::map<std::string, entry, std::less<>> devices_;
};

}  // namespace emu::mqtt
