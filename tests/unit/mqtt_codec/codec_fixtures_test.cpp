// Decoding the byte-annotated fixtures, encoding them back byte for byte, and round trips.
#include <doctest/doctest.h>

#include <string>

#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/codec/encoder.hpp"
#include "tests/unit/mqtt_codec/fixtures.hpp"

namespace emu::mqtt::test {
namespace {

TEST_CASE("every fixture decodes to its value and encodes back to the same bytes") {
  const auto fixtures = all_fixtures();
  // One per packet type at least: CONNECT..DISCONNECT are types 1..14.
  bool seen[15] = {};
  for (const auto& f : fixtures) {
    CAPTURE(f.name);
    const auto r = decode(f.wire);
    REQUIRE(r.status == decode_status::complete);
    CHECK(r.error == decode_error::none);
    CHECK(r.consumed == f.wire.size());
    CHECK(r.value == f.value);
    CHECK(encode(f.value) == f.wire);
    seen[static_cast<int>(type_of(f.value))] = true;
  }
  for (int t = 1; t <= 14; ++t) {
    CAPTURE(t);
    CHECK(seen[t]);
  }
}

TEST_CASE("type_of matches the variant order") {
  CHECK(type_of(connect{}) == packet_type::connect);
  CHECK(type_of(publish{}) == packet_type::publish);
  CHECK(type_of(pubrel{}) == packet_type::pubrel);
  CHECK(type_of(unsuback{}) == packet_type::unsuback);
  CHECK(type_of(disconnect{}) == packet_type::disconnect);
}

TEST_CASE("the Node CONNECT decodes to the fields of sdk-wire §1.2") {
  const auto r = decode(all_fixtures().front().wire);
  REQUIRE(r.status == decode_status::complete);
  const auto& c = std::get<connect>(r.value);
  CHECK(c.client_id == "dev1");
  CHECK_FALSE(c.clean_session);
  CHECK(c.keep_alive == 180);
  CHECK_FALSE(c.will.has_value());
  CHECK(c.username == node_username);
  CHECK(c.password == node_password);
}

void check_round_trip(const packet& p) {
  const auto wire = encode(p);
  REQUIRE_FALSE(wire.empty());
  const auto r = decode(wire);
  REQUIRE(r.status == decode_status::complete);
  CHECK(r.consumed == wire.size());
  CHECK(r.value == p);
}

TEST_CASE("encode then decode gives the same packet") {
  check_round_trip(connect{"MQTT", 4, false, 65535, "dev/mod", std::nullopt, "", ""});
  check_round_trip(
      connect{"MQTT", 4, true, 1, "c",
              will_message{"t", std::string("\x00\xFF", 2), qos_level::exactly_once, false},
              std::nullopt, std::nullopt});
  check_round_trip(connect{"MQTT", 4, true, 1, "c", std::nullopt, "user",
                           std::string("\x00\x01\xFF", 3)});  // binary password
  check_round_trip(connack{false, connect_return_code::unacceptable_protocol_version});
  check_round_trip(connack{false, connect_return_code::identifier_rejected});
  check_round_trip(publish{false, qos_level::at_least_once, false, "$iothub/twin/GET/?$rid=1",
                           65535, std::string(1000, '\0')});
  check_round_trip(publish{false, qos_level::at_most_once, true, "\xC3\xBC/\xF0\x9F\x98\x80", 0,
                           ""});  // UTF-8 topic
  check_round_trip(puback{65535});
  check_round_trip(subscribe{1,
                             {{"#", qos_level::at_most_once},
                              {"+", qos_level::at_least_once},
                              {"/", qos_level::exactly_once},
                              {"a//b/+/#", qos_level::at_least_once}}});
  check_round_trip(suback{9, {suback_return_code::granted_qos2}});
  check_round_trip(unsubscribe{1, {"devices/dev1/messages/devicebound/#"}});
}

TEST_CASE("remaining length uses 1 to 4 bytes at the MQTT 2.2.3 boundaries") {
  // A PUBLISH with topic "t" at QoS 0 has remaining length 3 + payload.
  struct boundary {
    std::size_t remaining;
    std::size_t header;
  };
  for (const auto& b : {boundary{127, 2}, boundary{128, 3}, boundary{16'383, 3},
                        boundary{16'384, 4}, boundary{2'097'151, 4}, boundary{2'097'152, 5}}) {
    CAPTURE(b.remaining);
    const publish p{false, qos_level::at_most_once,          false, "t",
                    0,     std::string(b.remaining - 3, 'x')};
    const auto wire = encode(p);
    REQUIRE(wire.size() == b.header + b.remaining);
    const auto r = decode(wire);
    REQUIRE(r.status == decode_status::complete);
    CHECK(r.consumed == wire.size());
    CHECK(std::get<publish>(r.value).payload.size() == b.remaining - 3);
  }
}

TEST_CASE("a non-minimal remaining length is accepted (3.1.1 does not forbid it)") {
  const bytes wire{0xC0, 0x80, 0x00};  // PINGREQ, remaining length 0 written in two bytes
  const auto r = decode(wire);
  REQUIRE(r.status == decode_status::complete);
  CHECK(r.consumed == 3);
  CHECK(std::holds_alternative<pingreq>(r.value));
}

TEST_CASE("encode_publish from views equals encode of the packet") {
  const std::string topic = "devices/dev1/messages/devicebound/%24.to=%2Fdevices";
  const std::string payload = "body bytes";
  std::vector<std::uint8_t> a;
  REQUIRE(encode_publish({false, qos_level::at_least_once, false, topic, 17, payload}, a) ==
          encode_error::none);
  CHECK(a == encode(publish{false, qos_level::at_least_once, false, topic, 17, payload}));
}

TEST_CASE("encode appends to the output") {
  std::vector<std::uint8_t> out{0xAA};
  REQUIRE(encode(pingresp{}, out) == encode_error::none);
  REQUIRE(encode(puback{2}, out) == encode_error::none);
  CHECK(out == bytes{0xAA, 0xD0, 0x00, 0x40, 0x02, 0x00, 0x02});
}

TEST_CASE("encoder errors leave the output unchanged") {
  std::vector<std::uint8_t> out{1, 2, 3};
  const std::string long_field(65'536, 'a');
  CHECK(encode(publish{false, qos_level::at_most_once, false, long_field, 0, ""}, out) ==
        encode_error::field_too_long);
  CHECK(encode(connect{"MQTT", 4, true, 0, long_field, std::nullopt, std::nullopt, std::nullopt},
               out) == encode_error::field_too_long);
  CHECK(encode(connect{"MQTT", 4, true, 0, "c", std::nullopt, "u", long_field}, out) ==
        encode_error::field_too_long);
  CHECK(encode(subscribe{1, {{long_field, qos_level::at_most_once}}}, out) ==
        encode_error::field_too_long);
  CHECK(encode(unsubscribe{1, {long_field}}, out) == encode_error::field_too_long);
  CHECK(out == bytes{1, 2, 3});
  CHECK(encode(unsubscribe{1, {long_field}}).empty());
  // A field of exactly 65535 bytes is fine.
  CHECK(encode(publish{false, qos_level::at_most_once, false, std::string(65'535, 'a'), 0, ""},
               out) == encode_error::none);
}

TEST_CASE("encoder reports a packet above 268435455 bytes without allocating it") {
  std::vector<std::uint8_t> out;
  // A view of a fake payload: the encoder must refuse before touching its bytes.
  const char dummy = 0;
  const publish_view p{false, qos_level::at_most_once,
                       false, "t",
                       0,     std::string_view(&dummy, max_wire_remaining_length)};
  CHECK(encode_publish(p, out) == encode_error::packet_too_large);
  CHECK(out.empty());
}

TEST_CASE("error names are distinct") {
  std::vector<std::string_view> names;
  for (int e = 0; e <= static_cast<int>(decode_error::invalid_suback_return_code); ++e) {
    const auto name = to_string(static_cast<decode_error>(e));
    CHECK(name != "unknown");
    for (auto n : names) CHECK(n != name);
    names.push_back(name);
  }
  CHECK(to_string(decode_error::packet_too_large) == "packet_too_large");
  CHECK(to_string(encode_error::field_too_long) == "field_too_long");
  CHECK(to_string(encode_error::packet_too_large) == "packet_too_large");
  CHECK(to_string(encode_error::none) == "none");
}

}  // namespace
}  // namespace emu::mqtt::test
