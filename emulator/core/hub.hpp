#pragma once
/// The hub: device registry, authentication, the C2D state machine, feedback batching and the
/// telemetry store, with Azure IoT Hub's semantics (spec §1, §2, §5).
///
/// Pure and synchronous: no I/O, no clock (every call that depends on time takes `now`), no
/// threads. State lives in memory; every mutation is also appended to a change list that the
/// owner commits to a `state_store` (state_store.hpp) before acknowledging anything.
///
/// Thread safety: none. One owner thread (the hub executor) calls everything.
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

#include "emulator/core/access_policy.hpp"
#include "emulator/core/c2d_message.hpp"
#include "emulator/core/device.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/hub_event.hpp"
#include "emulator/core/hub_settings.hpp"
#include "emulator/core/state_store.hpp"
#include "emulator/core/telemetry.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// What a verified token grants.
struct auth_grant {
  /// Device tokens: the device id; hub tokens: empty.
  std::string device_id;
  /// The policy name for hub-policy tokens; empty for device-key tokens.
  std::string policy;
  permission_set permissions = 0;
  /// `se`: the connection must be closed when this passes (spec §3.3, §4.2).
  time_point expiry{};
};

/// What a registry create/update carries (spec §7). Empty keys are generated.
struct device_spec {
  std::string id;
  device_status status = device_status::enabled;
  std::string status_reason;
  std::string primary_key;
  std::string secondary_key;
};

/// Outcome of a device settling a locked message (spec §1.5).
enum class settlement { complete, reject, abandon };

/// How a consumer settled a feedback batch (AMQP outcome, spec §2.4).
enum class batch_outcome { accepted, released, rejected };

class hub {
 public:
  explicit hub(hub_settings settings);

  const hub_settings& settings() const { return settings_; }

  /// Replaces the whole state with a snapshot loaded from storage (no changes recorded).
  void restore(const hub_snapshot& snapshot);
  /// Returns every locked message and feedback batch to its queue without counting a delivery.
  /// Called at start: after a restart no connection can still hold a lock (spec §1.6, the
  /// emulator's "release on disconnect" choice).
  void release_all_locks(time_point now);
  /// Removes everything except the settings (test control); records a clear_all change.
  void reset(time_point now);

  // ---- registry ------------------------------------------------------------------------
  /// Creates a device; `device_already_exists` if the id is taken; `argument_invalid` for a bad
  /// id or a key that is not base64.
  result<device> create_device(const device_spec& spec, time_point now);
  /// Updates status/keys. `if_match` is the etag without quotes, "*" or empty (= "*").
  result<device> update_device(const device_spec& spec, std::string_view if_match, time_point now);
  /// Deletes the device, its queue and its unbatched feedback (spec §1.7).
  status delete_device(std::string_view id, std::string_view if_match, time_point now);
  const device* find_device(std::string_view id) const;
  std::vector<device> list_devices() const;
  /// Messages currently queued for a device (cloudToDeviceMessageCount).
  int queued_count(std::string_view device_id) const;

  // ---- authentication (spec §5) -------------------------------------------------------
  /// A token presented by a device for its own endpoints: a device-key token whose `sr` covers
  /// `{host}/devices/{id}`, or a hub-policy token with DeviceConnect. Disabled devices fail.
  result<auth_grant> authenticate_device(std::string_view token, std::string_view device_id,
                                         time_point now) const;
  /// A token for service/registry endpoints: a hub-policy token (skn) whose `sr` names this
  /// hub's host (any path below it) and whose policy has `needed`. Device-key tokens are
  /// refused.
  result<auth_grant> authenticate_service(std::string_view token, permission needed,
                                          time_point now) const;

  // ---- C2D (spec §1) ------------------------------------------------------------------
  /// Admission: unknown/disabled device → device_not_found; > max size → message_too_large;
  /// queue full → device_maximum_queue_depth_exceeded; bad message-id → argument_invalid.
  /// A past absolute expiry expires at the next advance(); a far one is clamped to 2 days.
  result<std::uint64_t> enqueue(std::string_view device_id, c2d_content content, time_point now);
  /// Locks the oldest Enqueued message of the device (→ Invisible for the lock timeout).
  /// Expired messages met on the way are dead-lettered first.
  std::optional<c2d_delivery> lock_next(std::string_view device_id, time_point now);
  /// Settles a locked message; `device_message_lock_lost` if the lock is not current.
  status settle(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
                settlement how, time_point now);
  /// Returns an Invisible message to Enqueued without counting a delivery (the device went
  /// away: spec §1.6, emulator choice). Unknown or stale locks are ignored.
  void release(std::string_view device_id, std::uint64_t seq, std::uint64_t lock_id,
               time_point now);
  /// Removes every queued message of the device; returns how many (spec §1.7).
  result<int> purge(std::string_view device_id, time_point now);
  std::vector<c2d_message> queue_of(std::string_view device_id) const;

  // ---- MQTT sessions -------------------------------------------------------------------
  void set_subscription(std::string_view device_id, int qos);
  void clear_subscription(std::string_view device_id);
  std::optional<int> subscription(std::string_view device_id) const;

  // ---- feedback (spec §2) -------------------------------------------------------------
  /// Locks the oldest available batch for a consumer.
  std::optional<feedback_batch> lock_next_batch(time_point now);
  status settle_batch(std::uint64_t batch_id, std::uint64_t lock_id, batch_outcome how,
                      time_point now);
  /// Returns a locked batch to the queue without counting a delivery (consumer went away).
  void release_batch(std::uint64_t batch_id, std::uint64_t lock_id, time_point now);
  std::vector<feedback_record> pending_feedback() const;
  std::vector<feedback_batch> feedback_batches() const;

  // ---- telemetry ----------------------------------------------------------------------
  std::uint64_t record_telemetry(std::string_view device_id, std::vector<property> properties,
                                 std::string body, time_point now);
  std::vector<telemetry_message> telemetry() const;

  // ---- time ---------------------------------------------------------------------------
  /// Applies everything that is due at `now`: TTL expiry, lock timeouts, delivery-count
  /// dead-lettering, feedback batch cuts, feedback lock/TTL.
  void advance(time_point now);
  /// The earliest moment at which advance() would change something, if any.
  std::optional<time_point> next_deadline() const;

  // ---- outputs ------------------------------------------------------------------------
  std::vector<state_change> take_changes();
  std::vector<hub_event> take_events();
  bool has_changes() const { return !changes_.empty(); }

 private:
  void dead_letter(std::uint64_t seq, feedback_status why, time_point now);
  void remove_message(std::uint64_t seq);
  void add_feedback(const c2d_message& m, feedback_status s, time_point now);
  void cut_batches(time_point now);
  void unlock_message(c2d_message& m, bool count_delivery, time_point now);
  void record(state_change c) { changes_.push_back(std::move(c)); }
  void emit(hub_event e) { events_.push_back(std::move(e)); }
  c2d_message* find_message(std::uint64_t seq);
  std::string new_generation_id();

  hub_settings settings_;
  hub_counters counters_;
  std::map<std::string, device, std::less<>> devices_;
  /// seq → message, and per device the ordered seqs of its queue.
  std::unordered_map<std::uint64_t, c2d_message> messages_;
  std::map<std::string, std::set<std::uint64_t>, std::less<>> queues_;
  /// Deadline indexes: (time, seq).
  std::set<std::pair<time_point, std::uint64_t>> expiries_;
  std::set<std::pair<time_point, std::uint64_t>> locks_;
  std::map<std::string, int, std::less<>> subscriptions_;
  std::vector<feedback_record> pending_feedback_;
  std::map<std::uint64_t, feedback_batch> batches_;
  std::map<std::uint64_t, telemetry_message> telemetry_;
  std::vector<state_change> changes_;
  std::vector<hub_event> events_;
  bool counters_dirty_ = false;
};

}  // namespace emu::core
