#pragma once
/// The properties the hub stamps on every device-to-cloud message, whatever the transport
/// (spec §3.6; next-capabilities §1.6): `iothub-connection-device-id`,
/// `iothub-connection-auth-generation-id` and `iothub-connection-auth-method`. What a device
/// wrote under those names (in any letter case) is dropped first, so it cannot spoof them.
///
/// Pure; thread-safe.
#include <string_view>
#include <vector>

#include "emulator/core/c2d_message.hpp"

namespace emu::core {

/// `hub_scope`: the device authenticated with a hub policy's key (DeviceConnect), not its own.
void stamp_telemetry(std::vector<property>& properties, std::string_view device_id,
                     std::string_view generation_id, bool hub_scope);

}  // namespace emu::core
