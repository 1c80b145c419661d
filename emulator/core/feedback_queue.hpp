#pragma once
/// Delivery feedback (spec §2): the records that C2D outcomes produce when their message asked
/// for them (`iothub-ack`), batched at 64 records or 15 s after the last batch, and the
/// batches' own lock, TTL and delivery count (spec §2.3).
///
/// Consumers are feedback receivers with credit (issue 12: credit held in the hub, not pulled
/// by the front): a front attaches a receiver, tells the hub how many batches the receiver may
/// have received in all (its `limit`, from the AMQP link credit), and the hub locks a batch for
/// a receiver with credit as soon as one is available, emitting event::feedback_delivery in
/// the same round. Receivers are volatile (they exist while their link exists).
///
/// Thread safety: none; part of the hub.
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string_view>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/hub_settings.hpp"
#include "emulator/core/hub_statistics.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/time.hpp"
#include "emulator/core/undoable_map.hpp"

namespace emu::core {

/// How a consumer settled a feedback batch (AMQP outcome, spec §2.4).
enum class batch_outcome { accepted, released, rejected };

/// Whether a message with ack mode `ack` produces a feedback record for outcome `s`
/// (spec §2.1): full always, positive for Success, negative for the rest, none never.
bool wants_feedback(ack_mode ack, feedback_status s);

class feedback_queue {
 public:
  feedback_queue(const hub_settings& s, journal& j) : settings_(s), journal_(j) {}

  void restore(const std::vector<feedback_record>& pending,
               const std::vector<feedback_batch>& batches);
  /// Removes every record and batch (receivers stay: their links are still open).
  void clear();

  /// The outcome `s` of message `m`: a record if its ack mode asks for one (wants_feedback).
  void add(const c2d_message& m, feedback_status s, time_point now);
  /// Drops the device's records that are not batched yet (the device is deleted, spec §1.7;
  /// records already in a batch are still delivered).
  void remove_pending_of(std::string_view device_id);

  // ---- receivers (credit) -----------------------------------------------------------------
  std::uint64_t attach_receiver();
  /// The receiver may have received `limit` batches in all since it was attached; batches are
  /// locked for it while fewer were sent. With `drain`, what is available is delivered and
  /// the rest of the credit is used up (AMQP drain). Returns how many batches this call
  /// delivered.
  std::uint64_t set_receiver_limit(std::uint64_t receiver, std::uint64_t limit, bool drain,
                                   time_point now);
  /// The receiver is gone: the batches it holds locked go back to the queue.
  void detach_receiver(std::uint64_t receiver, time_point now);

  // ---- batches ------------------------------------------------------------------------------
  /// Locks the oldest available batch for a consumer without a receiver (tests, tools).
  std::optional<feedback_batch> lock_next(time_point now);
  /// accepted deletes, rejected drops, released re-queues with the delivery count +1 until
  /// the maximum (spec §2.4). `device_message_lock_lost` if the lock is not current.
  status settle(std::uint64_t batch_id, std::uint64_t lock_id, batch_outcome how, time_point now);
  /// Back to the queue without counting a delivery (its consumer went away).
  void release(std::uint64_t batch_id, std::uint64_t lock_id, time_point now);
  /// Every locked batch back to the queue (at start).
  void release_all(time_point now);

  /// Batch cuts, feedback TTL and lock timeouts due at `now`; then delivery to receivers.
  void advance(time_point now);
  std::optional<time_point> next_deadline() const;

  const std::vector<feedback_record>& pending() const { return pending_; }
  std::vector<feedback_batch> batches() const;
  std::size_t batch_count() const { return batches_.size(); }
  /// Records and batches since start (restore and clear leave it).
  const feedback_tally& tally() const { return tally_; }

  /// Volatile state (receivers) as of the last commit / back to it.
  void commit_volatile();
  void rollback_volatile();

 private:
  struct receiver {
    std::uint64_t limit = 0;  // batches it may have received in all
    std::uint64_t sent = 0;   // batches locked for it (and emitted) in all
  };

  void cut(time_point now);
  /// Locks available batches for receivers with credit and emits them.
  void deliver(time_point now);
  std::optional<feedback_batch> lock(time_point now);
  void unlock(feedback_batch& b);
  void put_state(const feedback_batch& b);

  const hub_settings& settings_;
  journal& journal_;
  std::vector<feedback_record> pending_;  // not yet batched, in id order
  std::map<std::uint64_t, feedback_batch> batches_;
  feedback_tally tally_;
  undoable_map<std::uint64_t, receiver> receivers_;
  /// Batch id → the receiver it is locked for.
  undoable_map<std::uint64_t, std::uint64_t> holders_;
  std::uint64_t next_receiver_ = 1;
  std::uint64_t turn_ = 0;  // receivers take turns (the one after the last served first)
};

}  // namespace emu::core
