#pragma once
/// Why a byte sequence is not an acceptable MQTT 3.1.1 packet, and why a packet could not be
/// encoded. Wire-data paths report these as values, never as exceptions.
#include <cstdint>
#include <string_view>

namespace emu::mqtt {

/// Decoder errors. Every one of them is a protocol violation after which MQTT 3.1.1 says the
/// receiver closes the network connection (MQTT 4.8), except the three a server answers first:
///   - unsupported_protocol_level          -> CONNACK 1, then close (MQTT-3.1.2-2)
///   - empty_client_id_persistent_session  -> CONNACK 2, then close (MQTT-3.1.3-8)
///   - packet_too_large                    -> close without reading the body
enum class decode_error : std::uint8_t {
  none = 0,
  /// The remaining-length field has a continuation bit in its fourth byte (MQTT 2.2.3).
  malformed_remaining_length,
  /// The remaining length exceeds the decoder's configured maximum. Reported as soon as the
  /// fixed header is complete, before the body is buffered.
  packet_too_large,
  /// Packet type 0 or 15 (MQTT 2.2.1: reserved).
  reserved_packet_type,
  /// Fixed-header flags other than those table 2.2 requires (MQTT-2.2.2-1, MQTT-2.2.2-2);
  /// SUBSCRIBE, UNSUBSCRIBE and PUBREL need 0b0010 (MQTT-3.8.1-1, MQTT-3.10.1-1, MQTT-3.6.1-1).
  invalid_fixed_header_flags,
  /// A field runs past the end of the remaining length (or a fixed-size packet is too short).
  truncated,
  /// Bytes left over after the last field (or a fixed-size packet is too long).
  trailing_bytes,
  /// CONNECT protocol name is not "MQTT" (MQTT-3.1.2-1).
  invalid_protocol_name,
  /// CONNECT protocol level is not 4 (MQTT-3.1.2-2): answer CONNACK 1.
  unsupported_protocol_level,
  /// CONNECT flags bit 0 is set (MQTT-3.1.2-3).
  connect_reserved_flag_set,
  /// Will QoS or Will Retain set without the Will flag (MQTT-3.1.2-13, MQTT-3.1.2-15).
  invalid_will_flags,
  /// Password flag set without the User Name flag (MQTT-3.1.2-22).
  password_without_username,
  /// A UTF-8 string is ill-formed or contains U+0000 or a surrogate (MQTT-1.5.3-1, -2).
  invalid_utf8,
  /// Zero-byte client id with CleanSession 0 (MQTT-3.1.3-8): answer CONNACK 2.
  empty_client_id_persistent_session,
  /// QoS 3 in a PUBLISH or in the Will QoS (MQTT-3.3.1-4, MQTT-3.1.2-14).
  invalid_qos,
  /// DUP set on a QoS 0 PUBLISH (MQTT-3.3.1-2).
  dup_with_qos0,
  /// Packet identifier 0 where one is required (MQTT-2.3.1-1).
  zero_packet_id,
  /// A topic name or filter of length 0 (MQTT-4.7.3-1).
  empty_topic,
  /// `+` or `#` in a PUBLISH (or Will) topic name (MQTT-3.3.2-2).
  wildcard_in_topic_name,
  /// A topic filter with a misplaced wildcard (MQTT-4.7.1-2, MQTT-4.7.1-3).
  invalid_topic_filter,
  /// SUBSCRIBE or UNSUBSCRIBE without topic filters (MQTT-3.8.3-3, MQTT-3.10.3-2), or SUBACK
  /// without return codes.
  no_topic_filters,
  /// A SUBSCRIBE requested-QoS byte with reserved bits set or QoS 3 (MQTT-3-8.3-4).
  invalid_requested_qos,
  /// CONNACK with reserved acknowledge-flag bits, a return code above 5, or session present
  /// with a non-zero return code (MQTT 3.2.2.1, MQTT-3.2.2-4, table 3.1).
  invalid_connack,
  /// SUBACK return code other than 0x00, 0x01, 0x02, 0x80 (MQTT-3.9.3-2).
  invalid_suback_return_code,
};

/// Stable snake_case name, e.g. "packet_too_large" (for logs and test messages).
std::string_view to_string(decode_error e);

/// Encoder errors: only what the wire cannot represent. The encoder does not enforce protocol
/// rules (a caller may deliberately build a non-conforming packet in a test); the decoder does.
enum class encode_error : std::uint8_t {
  none = 0,
  /// A string or binary field is longer than 65535 bytes (MQTT 1.5.3, 3.1.3.3).
  field_too_long,
  /// The remaining length would exceed 268435455 (MQTT 2.2.3).
  packet_too_large,
};

std::string_view to_string(encode_error e);

}  // namespace emu::mqtt
