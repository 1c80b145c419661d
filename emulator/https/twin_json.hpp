#pragma once
/// Device twins as service REST JSON (next-capabilities §2.4), both directions. Pure functions;
/// they run on the HTTPS front's I/O threads (hub_call.hpp).
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/core/device.hpp"
#include "emulator/core/device_presence.hpp"
#include "emulator/core/device_twins.hpp"
#include "emulator/core/errors.hpp"

namespace emu::https {

/// The full twin the service SDKs read (`Registry.getTwin`, the answer of `updateTwin`):
/// deviceId, etag, deviceEtag, version, status, statusReason, statusUpdateTime,
/// connectionState, lastActivityTime, cloudToDeviceMessageCount, authenticationType,
/// x509Thumbprint, modelId, capabilities, tags, properties {desired, reported} each with
/// `$metadata` and `$version`. With `module`, a module twin: moduleId, the module's
/// authentication type and thumbprints, no capabilities or scopes.
nlohmann::json twin_json(const core::device_twin& twin, const core::device& device, int queued,
                         const core::device_presence& presence = {},
                         const core::module_identity* module = nullptr);

/// A `PATCH /twins/{id}` body: `tags` and `properties.desired`, each an object (a merge patch)
/// or null (remove everything); both optional. Read-only members the SDKs echo (deviceId,
/// etag, version, …) are ignored; `properties.reported` is refused (only the device writes
/// it). `argument_invalid` naming the problem.
core::result<core::twin_update> parse_twin_patch(std::string_view body);

/// A `PUT /twins/{id}` body (a whole twin): its `tags` and `properties.desired` replace the
/// twin's (absent = empty); reported and read-only members are ignored.
core::result<core::twin_replacement> parse_twin_replacement(std::string_view body);

}  // namespace emu::https
