#pragma once
/// Whether a device is connected and when it was last active, as the registry shows it
/// (`connectionState`, `connectionStateUpdatedTime`, `lastActivityTime`; spec §7). Not durable:
/// after a restart every device is Disconnected until it connects again.
#include <string>

#include "emulator/core/time.hpp"

namespace emu::core {

struct device_presence {
  bool connected = false;
  time_point state_updated{};  // {} = never
  time_point last_activity{};  // {} = never: connect, telemetry, settle, twin, method answer
  std::string transport;       // of the last session: "MQTT", "AMQP/WebSocket", … (dashboard)
};

}  // namespace emu::core
