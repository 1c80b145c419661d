#pragma once
/// The properties the hub stamps on every device-to-cloud message, whatever the transport
/// (spec §3.6; next-capabilities §1.6): `iothub-connection-device-id`,
/// `iothub-connection-auth-generation-id` and `iothub-connection-auth-method`; a module's
/// telemetry also `iothub-connection-module-id`. What a device
/// wrote under those names (in any letter case) is dropped first, so it cannot spoof them.
///
/// Pure; thread-safe.
#include <string_view>
#include <vector>

#include "emulator/core/c2d_message.hpp"

namespace emu::core {

/// `identity`: a device id or `{deviceId}/{moduleId}` (identity_key.hpp). `hub_scope`: the
/// identity authenticated with a hub policy's key (DeviceConnect), not its own.
void stamp_telemetry(std::vector<property>& properties, std::string_view identity,
                     std::string_view generation_id, bool hub_scope);

}  // namespace emu::core
