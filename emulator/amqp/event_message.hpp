#pragma once
/// A telemetry event as an Event Hubs reader receives it (next-capabilities §1.6).
///
/// - body: one data section with the device's bytes;
/// - properties: message-id, correlation-id, user-id, content-type, content-encoding, to from
///   the device's `$.mid`, `$.cid`, `$.uid`, `$.ct`, `$.ce`, `$.to`;
/// - message annotations: `x-opt-sequence-number` (long), `x-opt-offset` (string),
///   `x-opt-enqueued-time` (timestamp), `x-opt-partition-key` (the device id, the key that
///   chose the partition), `iothub-enqueuedtime` (timestamp), `iothub-message-source`, the hub's
///   stamps `iothub-connection-device-id`, `-module-id`, `-auth-method`, `-auth-generation-id`,
///   and `dt-subject` from `$.sub`;
/// - application properties: the device's own properties as strings (IoT Hub never modifies
///   them), `iothub-creation-time-utc` from `$.ctime`; a repeated name keeps its last value. Other
///   `$.` system properties (`$.exp`,
///   `$.ifid`, `$.on`: UNCONFIRMED on the Event Hubs side) are not forwarded.
///
/// Written byte by byte with amqp_writer, not through proton::message: this runs once per
/// event per reader (bench/RESULTS.md, issue 14).
///
/// Pure; thread-safe.
#include <string>
#include <vector>

#include "emulator/core/telemetry_message.hpp"

namespace emu::amqp {

std::vector<char> encode_event(const core::telemetry_message& event);

/// The delivery tag of an event: its partition's sequence number, 8 bytes big-endian.
std::string event_delivery_tag(const core::telemetry_message& event);

}  // namespace emu::amqp
