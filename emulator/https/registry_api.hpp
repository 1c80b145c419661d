#pragma once
/// The registry REST operations of the official SDKs (sdk-wire §3, spec §7, §1.7), as pure
/// functions of the hub: each authorizes the request's SAS token, performs the operation and
/// builds the response. They run on the hub executor thread (the only owner of the hub), in
/// the same round, so the answer describes exactly what is committed.
///
/// Permissions (spec §5.3): RegistryRead for GET, RegistryWrite for PUT and DELETE of a device,
/// ServiceConnect for the purge (the spec leaves its permission UNCONFIRMED; the emulator's
/// choice, because purge acts on the C2D queue, a service endpoint).
#include "emulator/core/access_policy.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/time.hpp"
#include "emulator/https/http_message.hpp"
#include "emulator/https/routes.hpp"

namespace emu::https {

/// The permission a registry route needs (routes that are not registry routes: none).
core::permission required_permission(route_kind k);

/// Runs a registry route (list/get/put/delete device, purge). Responses:
///   list   200 [device…]                      get    200 device + ETag
///   put    200 device + ETag (create without If-Match: 409 if it exists; update with If-Match
///          "etag" or "*": 412 on mismatch, 404 if missing)
///   delete 204 (If-Match optional: "*" or the etag; 412 on mismatch)
///   purge  200 {"deviceId","totalMessagesPurged"}
/// Errors: 401 IotHubUnauthorizedAccess, 400 ArgumentInvalid, 404 DeviceNotFound, 409
/// DeviceAlreadyExists, 412 PreconditionFailed, each with the IoT Hub error body.
http_response handle_registry(core::hub& hub, core::time_point now, const route& r,
                              const http_request& request);

}  // namespace emu::https
