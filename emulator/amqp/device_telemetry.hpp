#pragma once
/// A device's telemetry message on its AMQP link `/devices/{id}/messages/events`
/// (next-capabilities §4; sdk-wire §4), as the hub stores it: the property names of the MQTT
/// property bag, so the Event Hubs side (event_message.hpp) gives every transport's telemetry
/// the same shape.
///
///   message-id, correlation-id (string, uuid, ulong, binary) → `$.mid`, `$.cid`
///   user-id → `$.uid`; content-type, content-encoding → `$.ct`, `$.ce`
///   absolute-expiry-time → `$.exp` (ISO 8601)
///   message annotations `iothub-interface-id` → `$.ifid`, `dt-subject` → `$.sub`
///   application properties (simple values, as text) → themselves
///   body: one data section (or none); the bytes as sent
///
/// Refused: amqp-value / amqp-sequence bodies and several data sections (amqp:decode-error),
/// list or map property values (amqp:invalid-field), more than 256 KB of body and properties
/// (amqp:link:message-size-exceeded). The hub's stamps are added later (telemetry_stamps).
///
/// Pure; thread-safe.
#include <span>
#include <string>
#include <vector>

#include "emulator/amqp/message_codec.hpp"
#include "emulator/core/c2d_message.hpp"

namespace emu::amqp {

struct device_telemetry {
  std::vector<core::property> properties;
  std::string body;
};

decoded<device_telemetry> decode_device_telemetry(std::span<const char> bytes);

/// A batch (message-format 0x80013700, transfer_frame.hpp; the C SDK sends all its telemetry
/// so): each data section of the body is one encoded message, decoded as above, in order. The
/// outer message's own properties are not stored (the C SDK copies fault-injection properties
/// there). Refused as a whole when any message is: amqp:decode-error for a body without data
/// sections or with an amqp-value / amqp-sequence section, more than `max_batch_messages`
/// messages, or a message that is not one.
inline constexpr std::size_t max_batch_messages = 500;
decoded<std::vector<device_telemetry>> decode_device_telemetry_batch(std::span<const char> bytes);

}  // namespace emu::amqp
