#pragma once
/// The partition of a device's telemetry (issue 14, next-capabilities §1.8): the Event Hubs
/// partition-key algorithm with the device id as the key, exactly as the Azure IoT C SDK's e2e
/// reader computes it (`ResolvePartitionIndex` in testtools/iothub_test), so a reader that
/// listens on the one partition it computes finds the device's events there, and one device's
/// events always share a partition (their order is kept).
///
/// Pure; thread-safe.
#include <string_view>

namespace emu::core {

/// `partition_count` must be 1..32 (hub_settings); a count outside that range is clamped to it
/// (not an error). The result is in [0, partition_count).
int partition_of(std::string_view device_id, int partition_count);

}  // namespace emu::core
