#pragma once
/// Test control (issue 6 item 3, docs/test-control.md): views of the hub's state as JSON and the
/// operations that change it, in the three steps of hub_call.hpp (bodies parsed and JSON
/// rendered on the I/O thread; only the hub operation on the hub executor). The HTTPS front
/// serves them only when test control is enabled and only to loopback peers; they need no SAS
/// token (the emulator's documented choice: a local test harness).
///
/// Clock travel (`POST /admin/clock/advance`) is not here: it moves the hub's clock and tells
/// every front (app::emulator::advance_clock), see https_front.cpp.
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/time.hpp"
#include "emulator/https/http_message.hpp"
#include "emulator/https/hub_call.hpp"
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
/// One line of the fault log (`GET /admin/faults`).
nlohmann::json fault_record_json(const core::fault_record& f);
/// `PATCH /admin/chaos`: the members given change (hub_faults.hpp).
struct chaos_patch {
  std::optional<core::duration> commit_delay;
  std::optional<int> failing_commits;
  std::optional<int> failing_writes;
  std::optional<int> failing_syncs;
  std::optional<int> rejected_put_tokens;
  std::optional<std::set<std::string>> paused_fronts;
};
core::result<chaos_patch> parse_chaos_patch(std::string_view body);
/// `GET /admin/chaos`: `{"commitDelayMs", "failNextCommits", "failNextWrites", "failNextSyncs",
/// "rejectNextPutTokens", "pausedFronts"}`.
nlohmann::json chaos_json(const core::hub_faults& f);
/// `POST /admin/devices/{id}/faults`: `{"type": "KillTcp", "delayInSecs": 0, "durationInSecs":
/// 10, "reason": "…"}`, read with the rules of the telemetry properties (fault_request.hpp).
core::result<core::fault_request> parse_admin_fault(std::string_view body);

/// {"nowUtc": ISO 8601, "nowUnixMs": n, "offsetMs": n}: the emulator's time and how far it has
/// been moved ahead of the system clock.
nlohmann::json clock_json(core::time_point now, core::duration offset);

/// A message for `POST /admin/devices/{id}/messages`, as parsed: its content, and its time to
/// live when given relative to the hub's time (`ttlSeconds`), which only the hub knows.
struct admin_message {
  core::c2d_content content;
  std::optional<core::duration> ttl;
};

/// Parses the body of `POST /admin/devices/{id}/messages`:
///   {"messageId", "correlationId", "userId", "contentType", "contentEncoding": strings,
///    "ack": "none"|"positive"|"negative"|"full", "properties": {name: string},
///    "body": UTF-8 text  or  "bodyBase64": bytes,
///    "expiryTimeUtc": ISO 8601  or  "ttlSeconds": number (relative to the emulator's `now`)}
/// Every member is optional. `to` is set as the AMQP front sets it
/// (`/devices/{id}/messages/devicebound`).
core::result<admin_message> parse_admin_message(std::string_view body, std::string_view device_id);
/// The same, with a `ttlSeconds` turned into an absolute expiry at `now`.
core::result<core::c2d_content> parse_admin_message(std::string_view body,
                                                    std::string_view device_id,
                                                    core::time_point now);

/// A test-control route other than the clock, ready for the hub (or answered at once when its
/// body is malformed): the device's queue, enqueue, feedback, telemetry, reset.
std::variant<http_response, hub_call> prepare_test_control(const route& r,
                                                           const http_request& request);
/// Responses: the queue [...] (404 DeviceNotFound for an unknown device), enqueue 201 {"seq"}
/// or the hub's admission error (spec §1.4), feedback {"pending": [...], "batches": [...]},
/// telemetry [...], reset 200 {}.
http_response render_test_control(const hub_answer& a);

/// The three steps on one thread (unit tests).
http_response handle_test_control(core::hub& hub, core::time_point now, const route& r,
                                  const http_request& request);

}  // namespace emu::https
