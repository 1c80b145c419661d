#pragma once
/// Direct method invocation as service REST JSON (next-capabilities §3.1), both directions.
/// Pure functions; they run on the HTTPS front's I/O threads.
#include <string_view>

#include "emulator/core/direct_methods.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/hub_event.hpp"
#include "emulator/https/http_message.hpp"

namespace emu::https {

/// A `POST /twins/{id}/methods` body: `{"methodName": "…", "responseTimeoutInSeconds": 5..300
/// (default 30), "connectTimeoutInSeconds": 0..300 (default 0), "payload": any JSON (default
/// null, at most 128 KB)}`. `argument_invalid` naming the problem.
core::result<core::method_call> parse_method_invocation(std::string_view body);

/// The call's outcome: 200 `{"status": N, "payload": …}` (the device's payload as JSON; a
/// payload that is not JSON is passed as a string), or the IoT Hub error (404103
/// DeviceNotOnline, 504101 GatewayTimeout, …).
http_response method_result_response(const core::event::method_result& r);

}  // namespace emu::https
