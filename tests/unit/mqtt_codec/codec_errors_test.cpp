// Every malformed-input error of the decoder, each with a hand-written packet.
#include <doctest/doctest.h>

#include <string>

#include "emulator/mqtt/codec/decoder.hpp"
#include "tests/unit/mqtt_codec/test_bytes.hpp"

namespace emu::mqtt::test {
namespace {

/// A CONNECT with the given flags byte and payload after "MQTT", level 4, flags, keep alive 0.
bytes connect_with(std::uint8_t level, std::uint8_t flags, const bytes& payload) {
  const bytes body = bytes{0x00, 0x04, 'M', 'Q', 'T', 'T', level, flags, 0x00, 0x00} + payload;
  return bytes{0x10, static_cast<std::uint8_t>(body.size())} + body;
}

/// A PUBLISH (first byte given) with the given body.
bytes packet_with(std::uint8_t first, const bytes& body) {
  return bytes{first, static_cast<std::uint8_t>(body.size())} + body;
}

TEST_CASE("malformed remaining length: continuation bit in the fourth byte (MQTT 2.2.3)") {
  CHECK(decode_error_of({0x30, 0xFF, 0xFF, 0xFF, 0xFF}) ==
        decode_error::malformed_remaining_length);
  CHECK(decode_error_of({0xC0, 0x80, 0x80, 0x80, 0x80, 0x00}) ==
        decode_error::malformed_remaining_length);
  // Four bytes with the last one terminating is the maximum, 268435455: not an error.
  const auto r = decode({0x30, 0xFF, 0xFF, 0xFF, 0x7F});
  CHECK(r.status == decode_status::need_more);
  CHECK(r.needed == 5 + 268'435'455);
}

TEST_CASE("reserved packet types 0 and 15 (MQTT 2.2.1)") {
  CHECK(decode_error_of({0x00}) == decode_error::reserved_packet_type);
  CHECK(decode_error_of({0xF0, 0x00}) == decode_error::reserved_packet_type);
}

TEST_CASE("fixed header flags (MQTT-2.2.2-1, MQTT-2.2.2-2)") {
  CHECK(decode_error_of({0x11}) == decode_error::invalid_fixed_header_flags);  // CONNECT
  CHECK(decode_error_of({0x28, 0x02, 0x00, 0x00}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0x41, 0x02, 0x00, 0x01}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0x52}) == decode_error::invalid_fixed_header_flags);  // PUBREC 0010
  CHECK(decode_error_of({0x72}) == decode_error::invalid_fixed_header_flags);  // PUBCOMP
  CHECK(decode_error_of({0x92}) == decode_error::invalid_fixed_header_flags);  // SUBACK
  CHECK(decode_error_of({0xB8}) == decode_error::invalid_fixed_header_flags);  // UNSUBACK
  CHECK(decode_error_of({0xC2, 0x00}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0xD1, 0x00}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0xE4, 0x00}) == decode_error::invalid_fixed_header_flags);
  // PUBREL, SUBSCRIBE, UNSUBSCRIBE need exactly 0010 (MQTT-3.6.1-1, -3.8.1-1, -3.10.1-1).
  CHECK(decode_error_of({0x60, 0x02, 0x00, 0x01}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0x63}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0x80}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0x8A}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0xA0}) == decode_error::invalid_fixed_header_flags);
  CHECK(decode_error_of({0xA3}) == decode_error::invalid_fixed_header_flags);
}

TEST_CASE("publish QoS 3 and DUP on QoS 0 are refused from the first byte") {
  CHECK(decode_error_of({0x36}) == decode_error::invalid_qos);  // MQTT-3.3.1-4
  CHECK(decode_error_of({0x3F, 0x05}) == decode_error::invalid_qos);
  CHECK(decode_error_of({0x38}) == decode_error::dup_with_qos0);  // MQTT-3.3.1-2
  CHECK(decode_error_of({0x39, 0x00}) == decode_error::dup_with_qos0);
}

TEST_CASE("truncated fields") {
  // CONNECT whose client id claims 5 bytes but only 2 follow.
  CHECK(decode_error_of(connect_with(4, 0x02, {0x00, 0x05, 'a', 'b'})) == decode_error::truncated);
  // CONNECT cut inside the protocol name / before level / flags / keep alive.
  CHECK(decode_error_of({0x10, 0x00}) == decode_error::truncated);
  CHECK(decode_error_of({0x10, 0x03, 0x00, 0x04, 'M'}) == decode_error::truncated);
  CHECK(decode_error_of({0x10, 0x06, 0x00, 0x04, 'M', 'Q', 'T', 'T'}) == decode_error::truncated);
  CHECK(decode_error_of({0x10, 0x07, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04}) ==
        decode_error::truncated);
  CHECK(decode_error_of({0x10, 0x09, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02, 0x00}) ==
        decode_error::truncated);
  // Flags announce a will / user name / password that is not there.
  CHECK(decode_error_of(connect_with(4, 0x06, {0x00, 0x01, 'c'})) == decode_error::truncated);
  CHECK(decode_error_of(connect_with(4, 0x06, {0x00, 0x01, 'c', 0x00, 0x01, 't'})) ==
        decode_error::truncated);
  CHECK(decode_error_of(connect_with(4, 0x82, {0x00, 0x01, 'c'})) == decode_error::truncated);
  CHECK(decode_error_of(connect_with(4, 0xC2, {0x00, 0x01, 'c', 0x00, 0x01, 'u'})) ==
        decode_error::truncated);
  CHECK(
      decode_error_of(connect_with(4, 0xC2, {0x00, 0x01, 'c', 0x00, 0x01, 'u', 0x00, 0x02, 'p'})) ==
      decode_error::truncated);
  // PUBLISH whose topic length runs past the packet; QoS 1 without packet id.
  CHECK(decode_error_of(packet_with(0x30, {0x00, 0x09, 'a'})) == decode_error::truncated);
  CHECK(decode_error_of(packet_with(0x30, {0x00})) == decode_error::truncated);
  CHECK(decode_error_of(packet_with(0x32, {0x00, 0x01, 'a', 0x00})) == decode_error::truncated);
  // SUBSCRIBE filter without its QoS byte; UNSUBSCRIBE with a cut filter.
  CHECK(decode_error_of(packet_with(0x82, {0x00, 0x01, 0x00, 0x01, 'a'})) ==
        decode_error::truncated);
  CHECK(decode_error_of(packet_with(0xA2, {0x00, 0x01, 0x00, 0x03, 'a'})) ==
        decode_error::truncated);
  CHECK(decode_error_of(packet_with(0x82, {0x00})) == decode_error::truncated);
  // Fixed-size packets that are too short: refused from the fixed header.
  CHECK(decode_error_of({0x40, 0x01}) == decode_error::truncated);
  CHECK(decode_error_of({0x20, 0x00}) == decode_error::truncated);
  CHECK(decode_error_of({0x62, 0x01}) == decode_error::truncated);
}

TEST_CASE("trailing bytes") {
  CHECK(decode_error_of({0x40, 0x03}) == decode_error::trailing_bytes);  // PUBACK length 3
  CHECK(decode_error_of({0xB0, 0x04}) == decode_error::trailing_bytes);
  CHECK(decode_error_of({0xC0, 0x01}) == decode_error::trailing_bytes);  // PINGREQ length 1
  CHECK(decode_error_of({0xE0, 0x7F}) == decode_error::trailing_bytes);
  CHECK(decode_error_of({0x20, 0x03}) == decode_error::trailing_bytes);
  // CONNECT with a byte after the last field its flags announce.
  CHECK(decode_error_of(connect_with(4, 0x02, {0x00, 0x01, 'c', 0xFF})) ==
        decode_error::trailing_bytes);
}

TEST_CASE("CONNECT protocol name and level (MQTT-3.1.2-1, MQTT-3.1.2-2)") {
  // MQTT 3.1 ("MQIsdp", level 3).
  const bytes mqisdp = bytes{0x10, 0x0F, 0x00, 0x06} + str("MQIsdp") +
                       bytes{0x03, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c'};
  CHECK(decode_error_of(mqisdp) == decode_error::invalid_protocol_name);
  CHECK(decode_error_of(bytes{0x10, 0x0D, 0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x00,
                              0x00, 0x01, 'c'}) == decode_error::invalid_protocol_name);
  // Level 3 and level 5 with the name "MQTT": answer CONNACK 1.
  CHECK(decode_error_of(connect_with(3, 0x02, {0x00, 0x01, 'c'})) ==
        decode_error::unsupported_protocol_level);
  // An MQTT 5 CONNECT: properties length 0 after keep alive, then client id. Its layout is
  // different, yet it must still be reported as a level problem.
  CHECK(decode_error_of(connect_with(5, 0x02, {0x00, 0x00, 0x01, 'c'})) ==
        decode_error::unsupported_protocol_level);
  // Level check precedes flag checks.
  CHECK(decode_error_of(connect_with(5, 0x01, {})) == decode_error::unsupported_protocol_level);
}

TEST_CASE("CONNECT flags") {
  // MQTT-3.1.2-3: reserved bit 0.
  CHECK(decode_error_of(connect_with(4, 0x03, {0x00, 0x01, 'c'})) ==
        decode_error::connect_reserved_flag_set);
  CHECK(decode_error_of(connect_with(4, 0x01, {0x00, 0x01, 'c'})) ==
        decode_error::connect_reserved_flag_set);
  // MQTT-3.1.2-13 / -15: will QoS or will retain without the will flag.
  CHECK(decode_error_of(connect_with(4, 0x0A, {0x00, 0x01, 'c'})) ==
        decode_error::invalid_will_flags);
  CHECK(decode_error_of(connect_with(4, 0x22, {0x00, 0x01, 'c'})) ==
        decode_error::invalid_will_flags);
  // MQTT-3.1.2-14: will QoS 3.
  CHECK(decode_error_of(connect_with(4, 0x1E, {0x00, 0x01, 'c', 0x00, 0x01, 't', 0x00, 0x00})) ==
        decode_error::invalid_qos);
  // MQTT-3.1.2-22: password without user name.
  CHECK(decode_error_of(connect_with(4, 0x42, {0x00, 0x01, 'c', 0x00, 0x01, 'p'})) ==
        decode_error::password_without_username);
}

TEST_CASE("empty client id with clean session 0 (MQTT-3.1.3-8)") {
  CHECK(decode_error_of(connect_with(4, 0x00, {0x00, 0x00})) ==
        decode_error::empty_client_id_persistent_session);
  // Only once the rest is well-formed: a malformed packet is reported as malformed.
  CHECK(decode_error_of(connect_with(4, 0x00, {0x00, 0x00, 0x01})) == decode_error::trailing_bytes);
  // Clean session 1 with an empty id is fine (MQTT-3.1.3-7).
  CHECK(decode(connect_with(4, 0x02, {0x00, 0x00})).status == decode_status::complete);
}

TEST_CASE("UTF-8 rules of MQTT 1.5.3 in every string field") {
  const bytes bad_strings[] = {
      {0x00, 0x02, 0xC0, 0x80},              // overlong U+0000
      {0x00, 0x01, 0x00},                    // U+0000 (MQTT-1.5.3-2)
      {0x00, 0x03, 0xED, 0xA0, 0x80},        // U+D800, a surrogate (MQTT-1.5.3-1)
      {0x00, 0x03, 0xED, 0xBF, 0xBF},        // U+DFFF
      {0x00, 0x01, 0xFF},                    // never valid
      {0x00, 0x01, 0x80},                    // stray continuation byte
      {0x00, 0x02, 0xE2, 0x82},              // cut 3-byte sequence
      {0x00, 0x04, 0xF4, 0x90, 0x80, 0x80},  // above U+10FFFF
      {0x00, 0x03, 0xE0, 0x80, 0x80},        // overlong 3-byte
  };
  for (const auto& s : bad_strings) {
    CAPTURE(s.size());
    // Client id.
    CHECK(decode_error_of(connect_with(4, 0x02, s)) == decode_error::invalid_utf8);
    // User name.
    CHECK(decode_error_of(connect_with(4, 0x82, bytes{0x00, 0x01, 'c'} + s)) ==
          decode_error::invalid_utf8);
    // Will topic.
    CHECK(decode_error_of(connect_with(4, 0x06, bytes{0x00, 0x01, 'c'} + s + bytes{0x00, 0x00})) ==
          decode_error::invalid_utf8);
    // PUBLISH topic.
    CHECK(decode_error_of(packet_with(0x30, s)) == decode_error::invalid_utf8);
    // SUBSCRIBE and UNSUBSCRIBE filters.
    CHECK(decode_error_of(packet_with(0x82, bytes{0x00, 0x01} + s + bytes{0x00})) ==
          decode_error::invalid_utf8);
    CHECK(decode_error_of(packet_with(0xA2, bytes{0x00, 0x01} + s)) == decode_error::invalid_utf8);
  }
  // The password and will message are binary: any bytes are fine.
  CHECK(decode(connect_with(4, 0xC6,
                            {0x00, 0x01, 'c', 0x00, 0x01, 't', 0x00, 0x02, 0x00, 0xFF, 0x00, 0x01,
                             'u', 0x00, 0x02, 0xC0, 0x80}))
            .status == decode_status::complete);
  // So is the PUBLISH payload.
  CHECK(decode(packet_with(0x30, {0x00, 0x01, 't', 0xFF, 0x00})).status == decode_status::complete);
  // Valid multi-byte characters up to U+10FFFF, and U+FEFF (not stripped, MQTT-1.5.3-3).
  CHECK(decode(packet_with(0x30, {0x00, 0x0C, 0xC3, 0xBC, 0xE2, 0x82, 0xAC, 0xF4, 0x8F, 0xBF, 0xBF,
                                  0xEF, 0xBB, 0xBF}))
            .status == decode_status::complete);
}

TEST_CASE("packet identifier 0 where one is required (MQTT-2.3.1-1)") {
  CHECK(decode_error_of(packet_with(0x32, {0x00, 0x01, 'a', 0x00, 0x00})) ==
        decode_error::zero_packet_id);
  CHECK(decode_error_of(packet_with(0x34, {0x00, 0x01, 'a', 0x00, 0x00})) ==
        decode_error::zero_packet_id);
  CHECK(decode_error_of({0x40, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  CHECK(decode_error_of({0x50, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  CHECK(decode_error_of({0x62, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  CHECK(decode_error_of({0x70, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  CHECK(decode_error_of({0xB0, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  CHECK(decode_error_of(packet_with(0x82, {0x00, 0x00, 0x00, 0x01, 'a', 0x00})) ==
        decode_error::zero_packet_id);
  CHECK(decode_error_of(packet_with(0x90, {0x00, 0x00, 0x00})) == decode_error::zero_packet_id);
  CHECK(decode_error_of(packet_with(0xA2, {0x00, 0x00, 0x00, 0x01, 'a'})) ==
        decode_error::zero_packet_id);
  // QoS 0 has no packet id at all.
  CHECK(decode(packet_with(0x30, {0x00, 0x01, 'a', 0x00, 0x00})).status == decode_status::complete);
}

TEST_CASE("topic names: non-empty, no wildcards (MQTT-4.7.3-1, MQTT-3.3.2-2)") {
  CHECK(decode_error_of(packet_with(0x30, {0x00, 0x00, 'x'})) == decode_error::empty_topic);
  CHECK(decode_error_of(packet_with(0x30, {0x00, 0x03, 'a', '/', '+'})) ==
        decode_error::wildcard_in_topic_name);
  CHECK(decode_error_of(packet_with(0x30, {0x00, 0x03, 'a', '/', '#'})) ==
        decode_error::wildcard_in_topic_name);
  CHECK(decode_error_of(packet_with(0x32, {0x00, 0x02, 'a', '+', 0x00, 0x01})) ==
        decode_error::wildcard_in_topic_name);
  // Will topic is a topic name too.
  CHECK(decode_error_of(connect_with(4, 0x06, {0x00, 0x01, 'c', 0x00, 0x01, '#', 0x00, 0x00})) ==
        decode_error::wildcard_in_topic_name);
  CHECK(decode_error_of(connect_with(4, 0x06, {0x00, 0x01, 'c', 0x00, 0x00, 0x00, 0x00})) ==
        decode_error::empty_topic);
  // `$` topics are legal names ($iothub/…).
  CHECK(decode(packet_with(0x30, {0x00, 0x02, '$', 'x'})).status == decode_status::complete);
}

TEST_CASE("topic filters: wildcard placement (MQTT-4.7.1-2, MQTT-4.7.1-3)") {
  for (const std::string bad : {"a/#/b", "a#", "#/", "a/b#", "a/+b", "+a", "a/++", "##"}) {
    CAPTURE(bad);
    const bytes sub = packet_with(0x82, bytes{0x00, 0x01} + field(bad) + bytes{0x01});
    CHECK(decode_error_of(sub) == decode_error::invalid_topic_filter);
    const bytes unsub = packet_with(0xA2, bytes{0x00, 0x01} + field(bad));
    CHECK(decode_error_of(unsub) == decode_error::invalid_topic_filter);
  }
  CHECK(decode_error_of(packet_with(0x82, {0x00, 0x01, 0x00, 0x00, 0x01})) ==
        decode_error::empty_topic);
  CHECK(decode_error_of(packet_with(0xA2, {0x00, 0x01, 0x00, 0x00})) == decode_error::empty_topic);
}

TEST_CASE("SUBSCRIBE / UNSUBSCRIBE without filters, SUBACK without codes") {
  CHECK(decode_error_of({0x82, 0x02, 0x00, 0x01}) == decode_error::no_topic_filters);  // 3.8.3-3
  CHECK(decode_error_of({0xA2, 0x02, 0x00, 0x01}) == decode_error::no_topic_filters);  // 3.10.3-2
  CHECK(decode_error_of({0x90, 0x02, 0x00, 0x01}) == decode_error::no_topic_filters);
}

TEST_CASE("SUBSCRIBE requested QoS byte (MQTT-3-8.3-4)") {
  CHECK(decode_error_of(packet_with(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x03})) ==
        decode_error::invalid_requested_qos);
  CHECK(decode_error_of(packet_with(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x41})) ==
        decode_error::invalid_requested_qos);
  CHECK(decode_error_of(packet_with(0x82, {0x00, 0x01, 0x00, 0x01, 'a', 0x01, 0x00, 0x01, 'b',
                                           0x80})) == decode_error::invalid_requested_qos);
}

TEST_CASE("CONNACK rules") {
  CHECK(decode_error_of({0x20, 0x02, 0x02, 0x00}) == decode_error::invalid_connack);  // reserved
  CHECK(decode_error_of({0x20, 0x02, 0x80, 0x00}) == decode_error::invalid_connack);
  CHECK(decode_error_of({0x20, 0x02, 0x00, 0x06}) == decode_error::invalid_connack);  // rc 6
  CHECK(decode_error_of({0x20, 0x02, 0x01, 0x05}) == decode_error::invalid_connack);  // 3.2.2-4
}

TEST_CASE("SUBACK return codes (MQTT-3.9.3-2)") {
  CHECK(decode_error_of({0x90, 0x03, 0x00, 0x01, 0x03}) ==
        decode_error::invalid_suback_return_code);
  CHECK(decode_error_of({0x90, 0x04, 0x00, 0x01, 0x00, 0x81}) ==
        decode_error::invalid_suback_return_code);
}

TEST_CASE("errors carry no packet and no consumed count") {
  const auto r = decode({0x40, 0x02, 0x00, 0x00});
  CHECK(r.status == decode_status::error);
  CHECK(r.consumed == 0);
}

}  // namespace
}  // namespace emu::mqtt::test
