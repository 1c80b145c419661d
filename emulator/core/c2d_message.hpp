#pragma once
/// Cloud-to-device messages: what a back-end sends, and the queued message with its state
/// (spec §1).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/time.hpp"

namespace emu::core {

/// `iothub-ack`: which outcomes produce a feedback record (spec §2.1).
enum class ack_mode : std::uint8_t { none, positive, negative, full };
std::string_view to_string(ack_mode a);
/// Exactly `none|positive|negative|full` (lower case, as the C# device parser accepts).
std::optional<ack_mode> parse_ack_mode(std::string_view s);

struct property {
  std::string name;
  std::string value;
  friend bool operator==(const property&, const property&) = default;
};

/// What a back-end sends: the message as it arrives on the service endpoint, after the front
/// has turned message-id and correlation-id of any AMQP type into strings (spec §4.3).
struct c2d_content {
  std::string message_id;
  std::string correlation_id;
  std::string user_id;
  std::string to;  // the AMQP `to` verbatim; echoed as `$.to`
  std::string content_type;
  std::string content_encoding;
  std::vector<property> properties;  // application properties, `iothub-ack` excluded
  ack_mode ack = ack_mode::none;
  std::string body;  // bytes
  /// AMQP absolute-expiry-time, when the sender set one (spec §1.3).
  std::optional<time_point> absolute_expiry;
  friend bool operator==(const c2d_content&, const c2d_content&) = default;
};

/// Size as IoT Hub counts it: body + system property values + application property names and
/// values (spec §1.4, MSG-DOC). The `iothub-ack` property counts as an application property.
std::size_t message_size(const c2d_content& c);

/// The queue states a message can be in while it is in the queue. Completed and dead-lettered
/// messages leave the queue (spec §1.1) and exist afterwards only as feedback records.
enum class c2d_state : std::uint8_t { enqueued, invisible };
std::string_view to_string(c2d_state s);

struct c2d_message {
  std::uint64_t seq = 0;  // hub-wide sequence number, never reused
  std::string device_id;
  std::string device_generation_id;
  c2d_content content;
  time_point enqueued_time{};
  time_point expiry_time{};
  c2d_state state = c2d_state::enqueued;
  int delivery_count = 0;
  /// Non-zero while invisible: identifies this particular lock, so a settlement that arrives
  /// after the lock timed out (and the message was locked again) is refused as lock lost.
  std::uint64_t lock_id = 0;
  time_point lock_expiry{};
  friend bool operator==(const c2d_message&, const c2d_message&) = default;
};

/// A message handed to a device: the queue entry plus the lock that must settle it.
struct c2d_delivery {
  c2d_message message;
  std::uint64_t lock_id = 0;
};

}  // namespace emu::core
