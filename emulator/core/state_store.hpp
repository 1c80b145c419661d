#pragma once
/// The interface the core needs from durable storage (implemented in storage/).
///
/// The hub keeps its whole state in memory and records every mutation as a `state_change`.
/// The owner (the hub executor) takes the changes after applying a group of requests and
/// commits them to the store in ONE transaction before any of those requests is answered on
/// the wire (ARCHITECTURE "Nothing is acknowledged before its transaction commits"). At start
/// the hub is rebuilt from `load()`. Storage therefore never interprets hub rules: it applies
/// upserts and removals.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/ca_certificate.hpp"
#include "emulator/core/device.hpp"
#include "emulator/core/device_twin.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/hub_faults.hpp"
#include "emulator/core/module_identity.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// A device's MQTT session kept across connections when it connected with clean session 0
/// (spec §1.6, sdk-wire §1.3). Client id = device id.
struct c2d_subscription {
  std::string device_id;
  int qos = 1;  // granted QoS: 0 or 1
  friend bool operator==(const c2d_subscription&, const c2d_subscription&) = default;
};

/// Counters that must survive restarts so ids are never reused.
struct hub_counters {
  std::uint64_t next_message_seq = 1;
  std::uint64_t next_lock_id = 1;
  std::uint64_t next_feedback_id = 1;
  std::uint64_t next_batch_id = 1;
  std::uint64_t next_telemetry_id = 1;
  /// Hub-wide version counter: device generation ids and etags are drawn from it.
  std::uint64_t next_generation = 1;
  time_point last_batch_time{};  // when the last feedback batch was cut
  friend bool operator==(const hub_counters&, const hub_counters&) = default;
};

namespace change {
struct put_device {
  device value;
};
/// Removes the device, its queued messages, its unbatched feedback records, its session, its
/// twin, and its modules with their twins.
struct remove_device {
  std::string device_id;
};
/// Inserts or replaces a module identity (issue 16).
struct put_module {
  module_identity value;
};
/// Removes the module and its twin.
struct remove_module {
  std::string device_id;
  std::string module_id;
};
/// Inserts or replaces a whole message (including its body).
struct put_message {
  c2d_message value;
};
/// Updates only the state columns of an existing message (no body rewrite).
struct put_message_state {
  std::uint64_t seq;
  c2d_state state;
  int delivery_count;
  std::uint64_t lock_id;
  time_point lock_expiry;
};
struct remove_message {
  std::uint64_t seq;
};
/// Inserts or replaces a feedback record (batch_id 0 = not yet batched).
struct put_feedback_record {
  feedback_record value;
};
/// A new batch (spec §2.3): inserts its row and moves into it every not-yet-batched record
/// whose id is at most the id of the batch's last record. (The hub cuts a batch from the front
/// of its pending records, which are in id order, so that is exactly `value.records`; each
/// record is thus written once as pending and then only re-labelled.)
struct cut_feedback_batch {
  feedback_batch value;
};
/// Updates a stored batch's delivery state (lock, delivery count).
struct put_feedback_batch_state {
  std::uint64_t batch_id;
  int delivery_count;
  std::uint64_t lock_id;
  time_point lock_expiry;
};
/// Removes the batch and every record in it.
struct remove_feedback_batch {
  std::uint64_t batch_id;
};
struct put_subscription {
  c2d_subscription value;
};
struct remove_subscription {
  std::string device_id;
};
/// Inserts or replaces a device's or module's whole twin (removed with its identity); a module
/// twin's `device_id` is the identity key `{deviceId}/{moduleId}` (identity_key.hpp).
struct put_twin {
  device_twin value;
};
/// Appends an event to its partition (shared with the log: the body is not copied).
struct put_telemetry {
  std::shared_ptr<const telemetry_message> value;
};
/// Removes the partition's events with sequence number <= up_to_sequence (retention).
struct remove_telemetry_up_to {
  int partition = 0;
  std::int64_t up_to_sequence = 0;
};
/// Inserts or replaces a partition's counters.
struct put_partition_counters {
  partition_counters value;
};
struct put_counters {
  hub_counters value;
};
/// Inserts or replaces a CA certificate of the hub (issue 16).
struct put_ca_certificate {
  ca_certificate value;
};
struct remove_ca_certificate {
  std::string name;
};
/// Removes everything (test control "reset").
struct clear_all {};
}  // namespace change

using state_change =
    std::variant<change::put_device, change::remove_device, change::put_message,
                 change::put_message_state, change::remove_message, change::put_feedback_record,
                 change::cut_feedback_batch, change::put_feedback_batch_state,
                 change::remove_feedback_batch, change::put_subscription,
                 change::remove_subscription, change::put_twin, change::put_telemetry,
                 change::remove_telemetry_up_to, change::put_partition_counters,
                 change::put_counters, change::put_ca_certificate, change::remove_ca_certificate,
                 change::put_module, change::remove_module, change::clear_all>;

/// Everything the store holds, as loaded at start.
struct hub_snapshot {
  std::vector<device> devices;
  std::vector<module_identity> modules;
  std::vector<c2d_message> messages;              // ordered by seq
  std::vector<feedback_record> pending_feedback;  // batch_id == 0, ordered by id
  std::vector<feedback_batch> batches;            // ordered by id, records filled in
  std::vector<c2d_subscription> subscriptions;
  std::vector<device_twin> twins;
  std::vector<telemetry_message> telemetry;  // ordered by partition, then sequence number
  std::vector<partition_counters> partitions;
  std::vector<ca_certificate> ca_certificates;
  hub_counters counters;
  bool empty() const { return devices.empty() && counters == hub_counters{}; }
};

/// Thread safety: none; owned and called by the hub executor's thread only.
class state_store {
 public:
  virtual ~state_store() = default;
  virtual hub_snapshot load() = 0;
  /// Applies all changes in one transaction. Throws std::runtime_error if the transaction could
  /// not be committed; then nothing of it was applied.
  virtual void commit(std::span<const state_change> changes) = 0;
  /// Test control's storage faults (hub_faults.hpp): from now on, the next `faults` writes /
  /// fsyncs of the store's log fail as the disk would fail them. A store that cannot inject
  /// them ignores this.
  virtual void arm_io_faults(const storage_io_faults& /*faults*/) {}
  /// The injected failures still to come.
  virtual storage_io_faults pending_io_faults() const { return {}; }
};

}  // namespace emu::core
