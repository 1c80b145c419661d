#pragma once
/// Test control (issue 6 item 3, docs/test-control.md): views of the hub's state as JSON and the
/// operations that change it, as pure functions of the hub. They run on the hub executor thread.
/// The HTTPS server serves them only when test control is enabled and only to loopback peers;
/// they need no SAS token (the emulator's documented choice: a local test harness).
///
/// Clock travel (`POST /admin/clock/advance`) is not here: it moves the executor's clock, see
/// https_server.cpp.
#include <string_view>

#include <nlohmann/json.hpp>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/telemetry.hpp"
#include "emulator/core/time.hpp"
#include "emulator/https/http_message.hpp"
#include "emulator/https/routes.hpp"

namespace emu::https {

/// One queued C2D message: seq, messageId, correlationId, userId, contentType,
/// contentEncoding, state ("Enqueued"/"Invisible"), deliveryCount, enqueuedTimeUtc,
/// expiryTimeUtc, lockExpiryUtc (null unless Invisible), ack, properties {name: value}, body
/// (UTF-8 text, null when the bytes are not valid UTF-8) and bodyBase64.
nlohmann::json message_json(const core::c2d_message& m);

/// A feedback record: id, originalMessageId, deviceId, deviceGenerationId, statusCode,
/// description, enqueuedTimeUtc, batchId (0 while not yet batched).
nlohmann::json feedback_record_json(const core::feedback_record& r);

/// A feedback batch: id, createdTimeUtc, expiryTimeUtc, deliveryCount, locked,
/// lockExpiryUtc (null unless locked), records [...].
nlohmann::json feedback_batch_json(const core::feedback_batch& b);

/// A received telemetry message: id, deviceId, enqueuedTimeUtc, properties {name: value}, body,
/// bodyBase64.
nlohmann::json telemetry_json(const core::telemetry_message& t);

/// {"nowUtc": ISO 8601, "nowUnixMs": n, "offsetMs": n}: the emulator's time and how far it has
/// been moved ahead of the system clock.
nlohmann::json clock_json(core::time_point now, core::duration offset);

/// Parses the body of `POST /admin/devices/{id}/messages`:
///   {"messageId", "correlationId", "userId", "contentType", "contentEncoding": strings,
///    "ack": "none"|"positive"|"negative"|"full", "properties": {name: string},
///    "body": UTF-8 text  or  "bodyBase64": bytes,
///    "expiryTimeUtc": ISO 8601  or  "ttlSeconds": number (relative to the emulator's `now`)}
/// Every member is optional. `to` is set as the AMQP front sets it
/// (`/devices/{id}/messages/devicebound`).
core::result<core::c2d_content> parse_admin_message(std::string_view body,
                                                    std::string_view device_id,
                                                    core::time_point now);

/// Runs a test-control route other than clock travel: the device's queue (404 DeviceNotFound
/// for an unknown device), enqueue (201 {"seq"} or the hub's admission error, spec §1.4),
/// feedback {"pending": [...], "batches": [...]}, telemetry [...], reset (200 {}).
http_response handle_test_control(core::hub& hub, core::time_point now, const route& r,
                                  const http_request& request);

}  // namespace emu::https
