#include "emulator/core/device_sessions.hpp"

#include <utility>

namespace emu::core {

void device_sessions::restore(const std::vector<c2d_subscription>& durable) {
  durable_.clear();
  for (const auto& s : durable) durable_[s.device_id] = s.qos;
}

void device_sessions::clear() {
  sessions_.clear();
  durable_.clear();
}

std::uint64_t device_sessions::open(std::string_view device_id, bool clean_session,
                                    std::size_t inflight_window, time_point now) {
  if (const session* old = sessions_.find(device_id)) {
    journal_.emit(
        event::session_ended{std::string(device_id), old->epoch, session_end::taken_over});
    // What the older connection had in flight was sent and not acknowledged: it goes back
    // counting a delivery, as on a disconnect (close()).
    close(device_id, old->epoch, now);
  }
  // Whatever else is still locked for the device (a lock taken outside any session) goes back
  // to the queue now, in order, uncounted (spec §1.6).
  queue_.release_device(device_id, now);
  if (clean_session) set_durable_subscription(device_id, std::nullopt);
  session s;
  s.epoch = next_epoch_++;
  s.clean = clean_session;
  s.window = inflight_window == 0 ? 1 : inflight_window;
  if (!clean_session) s.qos = durable_subscription(device_id);
  const auto epoch = s.epoch;
  sessions_.put(std::string(device_id), std::move(s));
  return epoch;
}

bool device_sessions::is_current(std::string_view device_id, std::uint64_t epoch) const {
  const session* s = sessions_.find(device_id);
  return s != nullptr && s->epoch == epoch;
}

bool device_sessions::is_connected(std::string_view device_id) const {
  return sessions_.find(device_id) != nullptr;
}

std::optional<std::uint64_t> device_sessions::current_epoch(std::string_view device_id) const {
  const session* s = sessions_.find(device_id);
  if (s == nullptr) return std::nullopt;
  return s->epoch;
}

void device_sessions::close(std::string_view device_id, std::uint64_t epoch, time_point now) {
  const session* s = sessions_.find(device_id);
  if (s == nullptr || s->epoch != epoch) return;
  const auto in_flight = s->in_flight;
  sessions_.erase(device_id);
  // Spec §1.6 (emulator choice): back to the queue at once, not after the lock timeout; and
  // counted (issue 13), or a message whose delivery makes the device's connection drop, or an
  // SDK's reconnect loop that drops every connection before its PUBACK, is redelivered forever.
  for (const auto& [seq, lock_id] : in_flight) queue_.give_back(device_id, seq, lock_id, now);
}

void device_sessions::end(std::string_view device_id, session_end why, time_point now) {
  const session* s = sessions_.find(device_id);
  if (s == nullptr) return;
  journal_.emit(event::session_ended{std::string(device_id), s->epoch, why});
  close(device_id, s->epoch, now);
}

status device_sessions::subscribe(std::string_view device_id, std::uint64_t epoch,
                                  std::optional<int> qos, time_point now) {
  session* s = sessions_.modify(device_id);
  if (s == nullptr || s->epoch != epoch)
    return error{hub_error::device_message_lock_lost, "The session is no longer current."};
  s->qos = qos;
  // Only persistent sessions are durable (MQTT-3.1.2-6: a clean session ends with the
  // connection).
  if (!s->clean) set_durable_subscription(device_id, qos);
  // Messages already in flight stay in flight when unsubscribing: their PUBACK still
  // completes them.
  deliver(device_id, now);
  return success();
}

status device_sessions::stop_receiving(std::string_view device_id, std::uint64_t epoch,
                                       time_point now) {
  session* s = sessions_.modify(device_id);
  if (s == nullptr || s->epoch != epoch)
    return error{hub_error::device_message_lock_lost, "The session is no longer current."};
  s->qos = std::nullopt;
  if (!s->clean) set_durable_subscription(device_id, std::nullopt);
  const auto in_flight = std::exchange(s->in_flight, {});
  for (const auto& [seq, lock_id] : in_flight) queue_.give_back(device_id, seq, lock_id, now);
  return success();
}

std::optional<int> device_sessions::durable_subscription(std::string_view device_id) const {
  const auto it = durable_.find(device_id);
  if (it == durable_.end()) return std::nullopt;
  return it->second;
}

void device_sessions::set_durable_subscription(std::string_view device_id, std::optional<int> qos) {
  const auto it = durable_.find(device_id);
  if (!qos) {
    if (it == durable_.end()) return;
    durable_.erase(it);
    journal_.record(change::remove_subscription{std::string(device_id)});
    return;
  }
  if (it != durable_.end() && it->second == *qos) return;
  durable_[std::string(device_id)] = *qos;
  journal_.record(change::put_subscription{c2d_subscription{std::string(device_id), *qos}});
}

void device_sessions::deliver(std::string_view device_id, time_point now) {
  const session* view = sessions_.find(device_id);
  if (view == nullptr || !view->qos || !registry_.enabled(device_id)) return;
  session* s = sessions_.modify(device_id);
  // A slot frees when its message is settled or its lock is no longer current.
  std::erase_if(s->in_flight, [&](const auto& e) { return !queue_.holds_lock(e.first, e.second); });
  const bool at_most_once = *s->qos == 0;
  while (at_most_once || s->in_flight.size() < s->window) {
    auto d = queue_.lock_next(device_id, now);
    if (!d) return;
    if (at_most_once) {
      // Spec §3.5 "Emulator": a QoS 0 subscription completes the message as it is sent.
      (void)queue_.settle(device_id, d->message.seq, d->lock_id, settlement::complete, now);
    } else {
      s->in_flight.emplace(d->message.seq, d->lock_id);
    }
    journal_.emit(event::c2d_delivery{std::string(device_id), s->epoch, *s->qos, std::move(*d)});
  }
}

void device_sessions::deliver_all(time_point now) {
  std::vector<std::string> devices;
  for (const auto& [id, s] : sessions_.entries()) devices.push_back(id);
  for (const auto& id : devices) deliver(id, now);
}

void device_sessions::remove_device(std::string_view device_id, time_point now) {
  end(device_id, session_end::device_changed, now);
  durable_.erase(std::string(device_id));  // the store removes the row with the device
}

}  // namespace emu::core
