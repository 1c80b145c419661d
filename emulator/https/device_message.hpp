#pragma once
/// Device-to-cloud messages as the device HTTPS API carries them (next-capabilities §5):
///
/// - one message: the body is the request body; `iothub-app-<name>` headers are application
///   properties (`<name>` as sent), `dt-subject` (no prefix) is the subject, and
///   `IoTHub-MessageId`, `-CorrelationId`, `-UserId`, `iothub-contenttype`,
///   `iothub-contentencoding`, `IoTHub-Expiry`, `iothub-interface-id` are the system
///   properties (`$.mid`, `$.cid`, `$.uid`, `$.ct`, `$.ce`, `$.exp`, `$.ifid`, the names the
///   MQTT property bag uses). `iothub-to` (the path again), `IoTHub-Ack` (D2C has no
///   feedback) and other `iothub-` headers are ignored;
/// - a batch, `Content-Type: application/vnd.microsoft.iothub.json`: a JSON array of
///   `{"body": "<base64>", "properties": {"<header name>": "<value>", …}}`, each property
///   named as its header would be.
///
/// Each message, and a batch in all, may be at most 256 KB (body plus property names and
/// values, spec §3.1): 413 MessageTooLarge otherwise. A batch that is not such an array, or
/// an empty one, is 400 ArgumentInvalid. The hub's stamps are added later (telemetry_stamps).
///
/// Pure; thread-safe.
#include <string>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/https/http_message.hpp"

namespace emu::https {

struct device_message {
  std::vector<core::property> properties;
  std::string body;
  friend bool operator==(const device_message&, const device_message&) = default;
};

/// The message or messages of a `POST /devices/{id}/messages/events` request.
core::result<std::vector<device_message>> parse_device_messages(const http_request& request);

}  // namespace emu::https
