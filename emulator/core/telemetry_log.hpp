#pragma once
/// The telemetry log (issue 14): device-to-cloud messages in the partitions of the hub's
/// built-in Event Hubs-compatible endpoint (next-capabilities §1).
///
/// An event goes to the partition of its device (partition_key.hpp: the Event Hubs partition
/// key algorithm, so one device's events keep their order), gets the partition's next
/// sequence number and offset and the hub's `now` as its enqueued time (never earlier than the
/// partition's last event, so positions by time can be searched). Every append is recorded in
/// the journal and so committed before the device is acknowledged.
///
/// Retention (oldest first): in bytes and in events at every append, and in time by trim(),
/// which the hub runs at every round with bounded work (limits::telemetry_trim_per_round).
/// Sequence numbers and offsets are never reused: each partition's counters are stored, and
/// survive trims, resets and restarts.
///
/// The number of partitions is fixed when the hub's data is created: a stored hub keeps its
/// count whatever the settings say now (as on Azure, where it cannot change after creation).
///
/// Thread safety: none; part of the hub. Events are shared immutable (`event_ptr`) with the
/// readers' deliveries and the journal, so no body is copied on its way to a reader.
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "emulator/core/event_position.hpp"
#include "emulator/core/hub_settings.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

using event_ptr = std::shared_ptr<const telemetry_message>;

class telemetry_log {
 public:
  telemetry_log(const hub_settings& settings, journal& j);

  /// Loads stored events (ordered by partition, then sequence number) and counters. Without
  /// stored counters (a hub that never had telemetry) the settings' partition count is used,
  /// and stored with the first event.
  void restore(std::vector<telemetry_message> events,
               const std::vector<partition_counters>& counters);
  /// Drops every event (test control reset; call it after recording clear_all): the counters
  /// stay, and are stored again.
  void clear();

  int partition_count() const { return static_cast<int>(partitions_.size()); }

  /// Appends `m` to its device's partition (m.device_id must be set; partition, sequence
  /// number, offset and enqueued time are assigned here), then drops the oldest events (by
  /// enqueued time) while the log holds more than the byte or event bound.
  event_ptr append(telemetry_message m, time_point now);
  /// Drops events older than the retention time, at most limits::telemetry_trim_per_round.
  void trim(time_point now);
  /// When trim() has work next.
  std::optional<time_point> next_deadline() const;

  /// The partition's properties; `partition` must be in range.
  partition_info info(int partition) const;
  /// The sequence number of the first event at `position` or after it (the partition's next
  /// sequence number when there is none yet).
  std::int64_t resolve(int partition, const event_position& position) const;
  /// Up to `max` events of `partition` from sequence number `from` on (trimmed ones skipped).
  std::vector<event_ptr> read(int partition, std::int64_t from, std::size_t max) const;
  /// The sequence number the partition's next event gets.
  std::int64_t next_sequence_number(int partition) const;

  /// Every event, by partition then sequence number (test control).
  std::vector<telemetry_message> messages() const;
  /// The newest `n` events of all partitions, oldest first (the dashboard's tail): reads at most
  /// `n` per partition, whatever the log's size.
  std::vector<event_ptr> tail(std::size_t n) const;
  std::size_t size() const { return count_; }
  /// Events the partition holds now (`partition` in range).
  std::size_t retained(int partition) const {
    return partitions_[static_cast<std::size_t>(partition)].events.size();
  }
  std::size_t bytes() const { return bytes_; }

 private:
  struct partition_state {
    partition_counters counters;
    std::deque<event_ptr> events;
  };
  void drop_oldest(partition_state& p, std::size_t n);
  void store_counters();

  const hub_settings& settings_;
  journal& journal_;
  std::vector<partition_state> partitions_;
  std::size_t bytes_ = 0;
  std::size_t count_ = 0;
  bool counters_stored_ = false;
};

}  // namespace emu::core
