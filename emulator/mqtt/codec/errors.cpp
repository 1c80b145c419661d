#include "emulator/mqtt/codec/errors.hpp"

namespace emu::mqtt {

std::string_view to_string(decode_error e) {
  switch (e) {
    case decode_error::none:
      return "none";
    case decode_error::malformed_remaining_length:
      return "malformed_remaining_length";
    case decode_error::packet_too_large:
      return "packet_too_large";
    case decode_error::reserved_packet_type:
      return "reserved_packet_type";
    case decode_error::invalid_fixed_header_flags:
      return "invalid_fixed_header_flags";
    case decode_error::truncated:
      return "truncated";
    case decode_error::trailing_bytes:
      return "trailing_bytes";
    case decode_error::invalid_protocol_name:
      return "invalid_protocol_name";
    case decode_error::unsupported_protocol_level:
      return "unsupported_protocol_level";
    case decode_error::connect_reserved_flag_set:
      return "connect_reserved_flag_set";
    case decode_error::invalid_will_flags:
      return "invalid_will_flags";
    case decode_error::password_without_username:
      return "password_without_username";
    case decode_error::invalid_utf8:
      return "invalid_utf8";
    case decode_error::empty_client_id_persistent_session:
      return "empty_client_id_persistent_session";
    case decode_error::invalid_qos:
      return "invalid_qos";
    case decode_error::dup_with_qos0:
      return "dup_with_qos0";
    case decode_error::zero_packet_id:
      return "zero_packet_id";
    case decode_error::empty_topic:
      return "empty_topic";
    case decode_error::wildcard_in_topic_name:
      return "wildcard_in_topic_name";
    case decode_error::invalid_topic_filter:
      return "invalid_topic_filter";
    case decode_error::no_topic_filters:
      return "no_topic_filters";
    case decode_error::invalid_requested_qos:
      return "invalid_requested_qos";
    case decode_error::invalid_connack:
      return "invalid_connack";
    case decode_error::invalid_suback_return_code:
      return "invalid_suback_return_code";
  }
  return "unknown";
}

std::string_view to_string(encode_error e) {
  switch (e) {
    case encode_error::none:
      return "none";
    case encode_error::field_too_long:
      return "field_too_long";
    case encode_error::packet_too_large:
      return "packet_too_large";
  }
  return "unknown";
}

}  // namespace emu::mqtt
