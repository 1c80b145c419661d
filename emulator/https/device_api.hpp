#pragma once
/// The device HTTPS API of `azure-iot-device-http` and the C SDK's HTTP transport
/// (next-capabilities §5; issue 15 item 2), in the three steps of hub_call.hpp:
///
///   POST   /devices/{id}/messages/events                 204: telemetry appended (one message
///                                                        or a batch, device_message.hpp)
///   GET    /devices/{id}/messages/devicebound            204: nothing to receive; 200: the
///          oldest enqueued message, now locked (c2d_queue: lock timeout, delivery count), body
///          = its bytes, `ETag: "<lock token>"` (quoted: the C SDK refuses a bare one),
///          `iothub-messageid`, `-correlationid`, `-userid`, `-to`, `-expiry`, `-ack`,
///          `-sequencenumber`, `-enqueuedtime`, `-deliverycount`, `iothub-app-<name>` per
///          property, `ContentType`, `ContentEncoding` (names the C SDK matches exactly)
///   DELETE /devices/{id}/messages/devicebound/{lock}     204: completed (feedback Success)
///   DELETE …/devicebound/{lock}?reject                   204: rejected (dead-lettered,
///                                                        feedback Rejected)
///   POST   …/devicebound/{lock}/abandon                  204: back in the queue, counted as a
///                                                        delivery
///
/// Auth: `Authorization: SharedAccessSignature …` of the device (its own key, `sr` covering
/// `{host}/devices/{id}`) or of a hub policy with DeviceConnect, checked on every request
/// (401 IotHubUnauthorizedAccess; an unknown or disabled device is refused alike, as on MQTT).
/// Settling: a lock token that is not a token is 400 ArgumentInvalid; a token of a lock that
/// is no longer held (completed, timed out, another device's, made up) is 412
/// DeviceMessageLockLost; an `If-Match` that names another token is 412 PreconditionFailed.
/// (Azure's exact codes for these are UNCONFIRMED, next-capabilities §10 #4: these are ours.)
#include <variant>

#include "emulator/core/client_certificate.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/time.hpp"
#include "emulator/https/http_message.hpp"
#include "emulator/https/hub_call.hpp"
#include "emulator/https/routes.hpp"

namespace emu::https {

/// A device API request ready for the hub, or its answer when it needs none (401 without
/// Authorization or client certificate, 400/413 for a body or lock token that cannot be
/// right). `certificate`: the connection's TLS client certificate, which authenticates an
/// X.509 device when the request has no Authorization header (README "Identities").
std::variant<http_response, hub_call> prepare_device_api(
    const route& r, const http_request& request,
    std::shared_ptr<const core::client_certificate> certificate = nullptr);

http_response render_device_api(const route& r, const hub_answer& a);

/// The three steps on one thread (unit tests).
http_response handle_device_api(core::hub& hub, core::time_point now, const route& r,
                                const http_request& request);

}  // namespace emu::https
