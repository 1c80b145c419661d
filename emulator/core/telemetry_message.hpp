#pragma once
/// One event of the telemetry log (issue 14): a device-to-cloud message as the hub appended it
/// to a partition of its Event Hubs-compatible endpoint (spec §3.6, next-capabilities §1.6).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// `iothub-message-source` of telemetry (next-capabilities §1.6; twin change and lifecycle
/// events would be other sources in the same log).
inline constexpr std::string_view telemetry_source = "Telemetry";

struct telemetry_message {
  int partition = 0;
  /// Per partition, from 0, +1 per event; never reused (not after a trim or a reset).
  std::int64_t sequence_number = 0;
  /// The event's byte position in its partition (monotonic; sent as a string, x-opt-offset).
  std::int64_t offset = 0;
  std::string device_id;
  std::string module_id;  ///< empty for a device's own telemetry
  std::string source = std::string(telemetry_source);
  time_point enqueued_time{};
  /// The decoded property bag (system `$.` keys and application properties) followed by the
  /// hub's stamps: iothub-connection-device-id, -auth-generation-id, -auth-method.
  std::vector<property> properties;
  std::string body;

  /// What the event counts against the retention in bytes, and how far it moves the offset.
  std::size_t stored_size() const {
    std::size_t n = body.size() + device_id.size() + module_id.size() + 32;
    for (const auto& p : properties) n += p.name.size() + p.value.size() + 2;
    return n;
  }
  friend bool operator==(const telemetry_message&, const telemetry_message&) = default;
};

/// A partition's counters: they survive trims, resets and restarts, so sequence numbers and
/// offsets are never reused.
struct partition_counters {
  int partition = 0;
  std::int64_t next_sequence_number = 0;
  std::int64_t next_offset = 0;
  friend bool operator==(const partition_counters&, const partition_counters&) = default;
};

/// What `$management` READ com.microsoft:partition reports (next-capabilities §1.4).
struct partition_info {
  int partition = 0;
  std::int64_t begin_sequence_number = 0;
  std::int64_t last_sequence_number = -1;  ///< -1 when nothing was ever enqueued
  std::int64_t last_offset = -1;
  time_point last_enqueued_time{};
  bool empty = true;
};

}  // namespace emu::core
