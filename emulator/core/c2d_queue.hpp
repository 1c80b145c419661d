#pragma once
/// The cloud-to-device queues (spec §1): per device, messages in order with Azure's states,
/// TTL expiry, locks with their timeout, delivery count and dead-lettering, and purge.
/// Outcomes that asked for feedback go to the feedback queue.
///
/// TTL expiry and lock timeouts happen in advance(now); next_deadline() tells when.
///
/// Thread safety: none; part of the hub.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/device.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback_queue.hpp"
#include "emulator/core/hub_settings.hpp"
#include "emulator/core/hub_statistics.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// How a device settles a locked message (spec §1.5).
enum class settlement { complete, reject, abandon };

class c2d_queue {
 public:
  c2d_queue(const hub_settings& s, journal& j, feedback_queue& f)
      : settings_(s), journal_(j), feedback_(f) {}

  void restore(std::vector<c2d_message> messages);
  void clear();

  /// Admission of a message for `d` (spec §1.4): a disabled device → device_not_found, a bad
  /// message id → argument_invalid, over the size → message_too_large, a full queue →
  /// device_maximum_queue_depth_exceeded. A past absolute expiry expires at the next
  /// advance(); a far one is clamped to 2 days.
  result<std::uint64_t> enqueue(const device& d, c2d_content content, time_point now);
  /// Locks the oldest Enqueued message of the device (→ Invisible for the lock timeout).
  /// Expired messages met on the way are dead-lettered first.
  std::optional<c2d_delivery> lock_next(std::string_view device_id, time_point now);
  /// Settles a locked message; `device_message_lock_lost` if the lock is not current.
  status settle(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                settlement how, time_point now);
  /// Returns an Invisible message to Enqueued without counting a delivery (its receiver went
  /// away: spec §1.6, emulator choice). Unknown or stale locks are ignored.
  void release(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
               time_point now);
  /// Returns an Invisible message whose connection went away before it settled the message
  /// (issue 13): back to Enqueued *counting a delivery*, as an abandon does, so a message that
  /// makes a device drop its connection each time ends dead-lettered after
  /// `c2d.maxDeliveryCount` deliveries (DeliveryCountExceeded feedback) instead of looping.
  /// Unknown, stale or timed-out locks are ignored (the lock timeout handles the last).
  void give_back(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                 time_point now);
  /// release() for every message of the device that is locked.
  void release_device(std::string_view device_id, time_point now);
  /// Every locked message back to Enqueued, without counting (at start: nobody holds a lock
  /// across a restart).
  void release_all(time_point now);
  /// Removes every queued message of the device; returns how many (spec §1.7).
  int purge(std::string_view device_id, time_point now);
  /// Removes the device's queue without feedback (the device is deleted, spec §1.7).
  void remove_device(std::string_view device_id);

  /// TTL expiry and lock timeouts due at `now`.
  void advance(time_point now);
  std::optional<time_point> next_deadline() const;

  /// True when `seq` is still locked with `lock_id`.
  bool holds_lock(std::uint64_t seq, std::uint64_t lock_id) const;
  int queued_count(std::string_view device_id) const;
  std::vector<c2d_message> queue_of(std::string_view device_id) const;
  /// Messages now Enqueued and now locked (Invisible), over every device.
  std::size_t invisible_count() const { return locks_.size(); }
  std::size_t enqueued_count() const { return messages_.size() - locks_.size(); }
  /// What became of the messages since start (restore and clear leave it).
  const c2d_tally& tally() const { return tally_; }
  /// Devices whose queue got a message that may be delivered now (enqueued, abandoned, lock
  /// timed out, released) since the last call.
  std::set<std::string, std::less<>> take_available() { return std::exchange(available_, {}); }

 private:
  c2d_message* find(std::uint64_t seq);
  void dead_letter(std::uint64_t seq, feedback_status why, time_point now);
  void remove(std::uint64_t seq);
  void unlock(c2d_message& m, bool count_delivery, time_point now);

  const hub_settings& settings_;
  journal& journal_;
  feedback_queue& feedback_;
  /// seq → message, and per device the ordered seqs of its queue.
  std::unordered_map<std::uint64_t, c2d_message> messages_;
  /// A queue is at most maxQueueDepth (50 on Azure) seqs, ascending: a sorted vector is one
  /// allocation where a set was one per message (issue 19: restoring a 1M-message backlog).
  std::map<std::string, std::vector<std::uint64_t>, std::less<>> queues_;
  /// Deadline indexes: (time, seq).
  std::set<std::pair<time_point, std::uint64_t>> expiries_;
  std::set<std::pair<time_point, std::uint64_t>> locks_;
  std::set<std::string, std::less<>> available_;
  c2d_tally tally_;
};

}  // namespace emu::core
