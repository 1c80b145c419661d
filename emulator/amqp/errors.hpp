#pragma once
/// AMQP error conditions the service endpoint sends, and the ONE place where hub errors become
/// AMQP conditions (spec §4.4, sdk-wire §2.5: the SDKs pick their exception from the condition
/// symbol alone, so these names are part of the wire contract).
///
/// Pure values; thread-safe.
#include <string>
#include <string_view>

#include "emulator/core/errors.hpp"

namespace emu::amqp {

/// The condition symbols used by this front (AMQP 1.0 §2.8.15 plus Microsoft extensions).
namespace condition {
inline constexpr std::string_view not_found = "amqp:not-found";
inline constexpr std::string_view resource_limit_exceeded = "amqp:resource-limit-exceeded";
inline constexpr std::string_view message_size_exceeded = "amqp:link:message-size-exceeded";
inline constexpr std::string_view unauthorized_access = "amqp:unauthorized-access";
inline constexpr std::string_view invalid_field = "amqp:invalid-field";
inline constexpr std::string_view decode_error = "amqp:decode-error";
inline constexpr std::string_view internal_error = "amqp:internal-error";
inline constexpr std::string_view not_allowed = "amqp:not-allowed";
inline constexpr std::string_view not_implemented = "amqp:not-implemented";
inline constexpr std::string_view connection_forced = "amqp:connection:forced";
inline constexpr std::string_view framing_error = "amqp:connection:framing-error";
inline constexpr std::string_view message_lock_lost = "com.microsoft:message-lock-lost";
inline constexpr std::string_view link_stolen = "amqp:link:stolen";
inline constexpr std::string_view link_redirect = "amqp:link:redirect";
inline constexpr std::string_view device_container_throttled =
    "com.microsoft:device-container-throttled";
inline constexpr std::string_view quota_exceeded = "com.microsoft:quota-exceeded";
}  // namespace condition

/// An AMQP `error` (condition + description) plus the IoT Hub error number, which is sent as
/// `com.microsoft:error-code` in the error's info map when non-zero (spec §4.4: "Error info may
/// carry com.microsoft:error-code").
struct amqp_error {
  std::string condition;
  std::string description;
  int error_code = 0;
  friend bool operator==(const amqp_error&, const amqp_error&) = default;
};

/// Maps a hub error to its AMQP condition. The description is
/// `ErrorCode:{Name};{message}` (spec §4.4 "ErrorCode:...-style text"), e.g.
/// `ErrorCode:DeviceNotFound;Device x not found.`
///   device_not_found → amqp:not-found, device_maximum_queue_depth_exceeded →
///   amqp:resource-limit-exceeded, message_too_large → amqp:link:message-size-exceeded,
///   unauthorized → amqp:unauthorized-access, argument_invalid → amqp:invalid-field,
///   device_message_lock_lost → com.microsoft:message-lock-lost, anything else →
///   amqp:internal-error.
amqp_error to_amqp_error(const core::error& e);

/// A malformed message or frame content (amqp:decode-error), described as
/// `ErrorCode:ArgumentInvalid;{what}`.
amqp_error decode_error(std::string_view what);
/// A well-formed message with an invalid field (amqp:invalid-field).
amqp_error invalid_field(std::string_view what);
/// The commit of the hub executor's round failed (amqp:internal-error, ServerError).
amqp_error commit_failed();
/// An operation needing a valid token (or SASL PLAIN) before it (amqp:unauthorized-access).
amqp_error unauthorized(std::string_view what);

}  // namespace emu::amqp
