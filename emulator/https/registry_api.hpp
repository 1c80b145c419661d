#pragma once
/// The registry REST operations of the official SDKs (sdk-wire §3, spec §7, §1.7), in three
/// steps (hub_call.hpp): prepare on the I/O thread (parse the body), the hub call on the hub
/// executor (authorize the SAS token, perform the operation: the answer describes exactly what
/// that round commits), render on the I/O thread (JSON).
///
/// Permissions (spec §5.3): RegistryRead for GET, RegistryWrite for PUT and DELETE of a device,
/// ServiceConnect for the purge (the spec leaves its permission UNCONFIRMED; the emulator's
/// choice, because purge acts on the C2D queue, a service endpoint).
#include <optional>
#include <variant>

#include "emulator/core/access_policy.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/time.hpp"
#include "emulator/https/http_message.hpp"
#include "emulator/https/hub_call.hpp"
#include "emulator/https/routes.hpp"

namespace emu::https {

/// The throttle a registry REST route counts against (issue 17), if any.
std::optional<core::throttled_operation> throttled_as(route_kind k);
/// The permission a registry route needs (routes that are not registry routes: none).
core::permission required_permission(route_kind k);

/// A registry request (list/get/put/delete device, purge) ready for the hub, or its answer
/// when it needs no hub: 401 without an Authorization header. A body that does not parse is
/// refused by the hub call, after the token was checked (401 before 400, as before).
std::variant<http_response, hub_call> prepare_registry(const route& r, const http_request& request);

/// Responses:
///   list   200 [device…]                      get    200 device + ETag
///   put    200 device + ETag (create without If-Match: 409 if it exists; update with If-Match
///          "etag" or "*": 412 on mismatch, 404 if missing)
///   delete 204 (If-Match optional: "*" or the etag; 412 on mismatch)
///   purge  200 {"deviceId","totalMessagesPurged"}
/// Errors: 401 IotHubUnauthorizedAccess, 400 ArgumentInvalid, 404 DeviceNotFound, 409
/// DeviceAlreadyExists, 412 PreconditionFailed, each with the IoT Hub error body.
http_response render_registry(const hub_answer& a);

/// The three steps on one thread (unit tests).
http_response handle_registry(core::hub& hub, core::time_point now, const route& r,
                              const http_request& request);

}  // namespace emu::https
