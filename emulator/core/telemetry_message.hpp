#pragma once
/// Device-to-cloud telemetry as received (spec §3.6).
#include <cstdint>
#include <string>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

struct telemetry_message {
  std::uint64_t id = 0;
  std::string device_id;
  time_point enqueued_time{};
  /// Decoded property bag (system `$.` keys and application properties) followed by the hub's
  /// stamps: iothub-connection-device-id, -auth-generation-id, -auth-method.
  std::vector<property> properties;
  std::string body;
  friend bool operator==(const telemetry_message&, const telemetry_message&) = default;
};

}  // namespace emu::core
