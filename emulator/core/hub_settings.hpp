#pragma once
/// Hub-level settings (spec §1.2, §2.3). Defaults come from limits.hpp; the configuration
/// loader validates ranges and reports `key: problem (value)`.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "emulator/core/access_policy.hpp"
#include "emulator/core/device_connect_limit.hpp"
#include "emulator/core/host_name.hpp"
#include "emulator/core/limits.hpp"
#include "emulator/core/throttling.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

struct hub_settings {
  /// The hub's name: the first label of the host name on Azure; the feedback `user-id`.
  std::string hub_name = "emulator";
  /// The HostName clients put in connection strings. Tokens are accepted whose `sr` starts with
  /// this name, with or without a `:port` (sdk-wire §8 "Host with a port").
  std::string host_name = "localhost";
  /// Other names clients may use for this hub (core::host_names): tokens, MQTT user names and
  /// SASL PLAIN hub names are accepted for each, as for host_name.
  std::vector<std::string> host_aliases;
  std::vector<access_policy> policies;

  duration c2d_default_ttl = limits::c2d_default_ttl;
  int c2d_max_delivery_count = limits::c2d_max_delivery_count;
  duration c2d_lock_timeout = limits::c2d_lock_timeout;
  /// The 2018 rule: a lock timeout also counts as a delivery (spec §1.1). Off = the 2026 rule.
  bool lock_timeout_counts_as_delivery = false;
  int c2d_max_queue_depth = limits::c2d_max_queue_depth;
  std::size_t c2d_max_message_size = limits::c2d_max_message_size;

  std::size_t feedback_batch_max_records = limits::feedback_batch_max_records;
  duration feedback_batch_interval = limits::feedback_batch_interval;
  duration feedback_ttl = limits::feedback_ttl;
  duration feedback_lock_duration = limits::feedback_lock_duration;
  int feedback_max_delivery_count = limits::feedback_max_delivery_count;

  /// The telemetry log (issue 14): partitions of the Event Hubs-compatible endpoint, fixed
  /// when the hub's data is created (as on Azure; a stored hub keeps its count), retention in
  /// time, in bytes and in events, and the consumer groups besides `$Default`.
  int partition_count = limits::d2c_partition_count;
  duration telemetry_retention = limits::telemetry_retention;
  std::size_t telemetry_retention_bytes = limits::telemetry_retention_bytes;
  std::size_t telemetry_capacity = limits::telemetry_capacity;
  std::vector<std::string> consumer_groups;

  /// How long after its `se` a SAS token is still accepted, and when an authenticated
  /// connection is closed (se + skew). Azure's validators allow 5 minutes (spec §5.1).
  duration token_clock_skew = limits::sas_clock_skew;

  /// Fault injection (issue 17, fault_request.hpp): telemetry carrying `AzIoTHub_Fault*`
  /// properties makes the hub carry out the fault it names. A test feature, off by default.
  bool fault_injection = false;
  /// How often one identity may connect (device_connect_limit.hpp; always on).
  device_connect_rate device_connects;
  /// Throttles and the daily quota of a tier (throttling.hpp); none: not emulated (default).
  std::optional<throttling_tier> throttling;

  host_names hosts() const { return {host_name, host_aliases}; }
};

}  // namespace emu::core
