#pragma once
/// Device sessions: the hub's side of a device connection (spec §3.3, §1.5, §1.6).
///
/// A device has at most one session. Opening one (an accepted CONNECT) gives it a new epoch,
/// ends the older session (event::session_ended: its connection closes, spec §3.3 "a new
/// connection with the same client id closes the old one"), and returns whatever the device
/// still had locked to its queue, so the new connection receives it first instead of after
/// the one-minute lock timeout. Every later call of the connection names its epoch; a stale
/// epoch is refused, so a superseded connection can neither take nor settle messages.
///
/// Delivery credit lives here (issue 12): a subscribed session has `inflight_window` slots;
/// deliver() locks messages while slots are free and emits them (event::c2d_delivery), so an
/// enqueue, a settlement or a lock timeout delivers the next message in the same round. A slot
/// frees when its message is settled or its lock is no longer current (timed out, released).
///
/// The durable part is the C2D subscription of a persistent (clean session 0) session, kept
/// across connections and restarts (spec §1.6, sdk-wire §1.3: the SDKs renew tokens by
/// reconnecting without subscribing again). Sessions themselves are volatile.
///
/// Thread safety: none; part of the hub.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/c2d_queue.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/hub_event.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/registry.hpp"
#include "emulator/core/state_store.hpp"
#include "emulator/core/time.hpp"
#include "emulator/core/undoable_map.hpp"

namespace emu::core {

class device_sessions {
 public:
  device_sessions(journal& j, const registry& r, c2d_queue& q)
      : journal_(j), registry_(r), queue_(q) {}

  /// The durable subscriptions as stored.
  void restore(const std::vector<c2d_subscription>& durable);
  /// Removes every session and subscription (test control reset).
  void clear();

  /// Opens the device's session (the device is authenticated), ending an older one. A clean
  /// session drops the durable subscription (MQTT-3.1.2-6); otherwise the new session starts
  /// subscribed as it was stored. Returns the new epoch.
  std::uint64_t open(std::string_view device_id, bool clean_session, std::size_t inflight_window,
                     time_point now);
  /// The connection of `epoch` is gone: its in-flight messages go back to the queue at once
  /// (spec §1.6, emulator choice), each counting a delivery (c2d_queue::give_back). A stale
  /// epoch does nothing.
  void close(std::string_view device_id, std::uint64_t epoch, time_point now);
  /// The hub ends the session (the device was disabled, deleted, re-keyed).
  void end(std::string_view device_id, session_end why, time_point now);
  bool is_current(std::string_view device_id, std::uint64_t epoch) const;
  /// The device has a session (a connection) now.
  bool is_connected(std::string_view device_id) const;
  /// The epoch of the device's session, if it has one.
  std::optional<std::uint64_t> current_epoch(std::string_view device_id) const;

  /// The session's C2D subscription: QoS 0 or 1, or none. Durable unless the session is
  /// clean. `device_message_lock_lost` for a stale epoch.
  status subscribe(std::string_view device_id, std::uint64_t epoch, std::optional<int> qos,
                   time_point now);
  /// The session's C2D receiver went away while the session stays (a device AMQP connection
  /// whose twin or method links remain): unsubscribed, and what it had in flight goes back to
  /// the queue counting a delivery, as on close(). `device_message_lock_lost` for a stale
  /// epoch.
  status stop_receiving(std::string_view device_id, std::uint64_t epoch, time_point now);
  /// The subscription a session of the device starts with (clean session 0).
  std::optional<int> durable_subscription(std::string_view device_id) const;
  /// Sets or removes the durable subscription directly (tools and tests).
  void set_durable_subscription(std::string_view device_id, std::optional<int> qos);

  /// Locks and emits messages while the device's session has credit. A QoS 0 session's
  /// messages complete as they are emitted (at most once).
  void deliver(std::string_view device_id, time_point now);
  /// deliver() for every session (after a failed commit: deliveries of the lost round must
  /// be tried again).
  void deliver_all(time_point now);
  /// The device is deleted: its session ends, its durable subscription goes (the store
  /// removes it with the device).
  void remove_device(std::string_view device_id, time_point now);

  void commit_volatile() { sessions_.commit(); }
  void rollback_volatile() { sessions_.rollback(); }

 private:
  struct session {
    std::uint64_t epoch = 0;
    bool clean = true;
    std::size_t window = 1;
    std::optional<int> qos;  // the C2D subscription of this connection
    /// Messages delivered and not settled: seq → lock id.
    std::map<std::uint64_t, std::uint64_t> in_flight;
  };

  journal& journal_;
  const registry& registry_;
  c2d_queue& queue_;
  undoable_map<std::string, session> sessions_;
  std::map<std::string, int, std::less<>> durable_;
  std::uint64_t next_epoch_ = 1;
};

}  // namespace emu::core
