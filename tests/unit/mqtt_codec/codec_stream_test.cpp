// Streaming behaviour: partial input, several packets per buffer, the packet size limit.
#include <doctest/doctest.h>

#include <string>

#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/codec/encoder.hpp"
#include "emulator/mqtt/codec/validation.hpp"
#include "tests/unit/mqtt_codec/fixtures.hpp"

namespace emu::mqtt::test {
namespace {

TEST_CASE("empty input needs one byte") {
  const auto r = decode(bytes{});
  CHECK(r.status == decode_status::need_more);
  CHECK(r.needed == 1);
}

TEST_CASE("every proper prefix of every fixture needs more, with a sensible `needed`") {
  for (const auto& f : all_fixtures()) {
    CAPTURE(f.name);
    for (std::size_t n = 0; n < f.wire.size(); ++n) {
      CAPTURE(n);
      const bytes prefix(f.wire.begin(), f.wire.begin() + static_cast<std::ptrdiff_t>(n));
      const auto r = decode(prefix);
      REQUIRE(r.status == decode_status::need_more);
      CHECK(r.needed > n);
      CHECK(r.needed <= f.wire.size());
    }
  }
}

TEST_CASE("once the fixed header is complete, `needed` is the whole packet") {
  const auto f = all_fixtures().front();  // Node CONNECT: 3-byte fixed header
  const auto r = decode(bytes(f.wire.begin(), f.wire.begin() + 3));
  CHECK(r.needed == f.wire.size());
}

TEST_CASE("several packets in one buffer are decoded one at a time") {
  const auto fixtures = all_fixtures();
  bytes stream;
  for (const auto& f : fixtures) stream = stream + f.wire;
  stream = stream + bytes{0x40, 0x02, 0x00};  // and the start of one more

  const decoder dec;
  std::size_t offset = 0;
  for (const auto& f : fixtures) {
    CAPTURE(f.name);
    const auto r = dec.decode(std::span<const std::uint8_t>(stream).subspan(offset));
    REQUIRE(r.status == decode_status::complete);
    CHECK(r.consumed == f.wire.size());
    CHECK(r.value == f.value);
    offset += r.consumed;
  }
  const auto tail = dec.decode(std::span<const std::uint8_t>(stream).subspan(offset));
  CHECK(tail.status == decode_status::need_more);
  CHECK(tail.needed == 4);
}

TEST_CASE("a decoded packet does not point into the input") {
  bytes wire = bytes{0x30, 0x05, 0x00, 0x01, 't', 'x', 'y'};
  auto r = decode(wire);
  REQUIRE(r.status == decode_status::complete);
  std::fill(wire.begin(), wire.end(), 0);
  const auto& p = std::get<publish>(r.value);
  CHECK(p.topic == "t");
  CHECK(p.payload == "xy");
}

TEST_CASE("string_view input works the same") {
  const decoder dec;
  const auto r = dec.decode(std::string_view("\xC0\x00\xD0", 3));
  REQUIRE(r.status == decode_status::complete);
  CHECK(r.consumed == 2);
  CHECK(std::holds_alternative<pingreq>(r.value));
}

TEST_CASE("maximum packet size: refused from the fixed header alone") {
  const decoder_limits limits{.max_remaining_length = 10};
  // Exactly at the limit: fine.
  const bytes at_limit = bytes{0x30, 0x0A, 0x00, 0x01, 't'} + str("1234567");
  CHECK(decode(at_limit, limits).status == decode_status::complete);
  // Its prefix after the header: need the whole packet.
  const auto partial = decode(bytes{0x30, 0x0A}, limits);
  CHECK(partial.status == decode_status::need_more);
  CHECK(partial.needed == 12);
  // One byte over: refused with only the two header bytes present.
  CHECK(decode_error_of({0x30, 0x0B}, limits) == decode_error::packet_too_large);
  // A multi-byte remaining length: refused as soon as its last byte arrives.
  CHECK(decode({0x30, 0x80}, limits).status == decode_status::need_more);
  CHECK(decode_error_of({0x30, 0x80, 0x01}, limits) == decode_error::packet_too_large);
  // Fixed-size packets under a tiny limit are refused too (the limit is on remaining length).
  CHECK(decode_error_of({0x40, 0x02}, {.max_remaining_length = 1}) ==
        decode_error::packet_too_large);
  CHECK(decode({0xC0, 0x00}, {.max_remaining_length = 0}).status == decode_status::complete);
}

TEST_CASE("the IoT Hub D2C limit as a server would configure it") {
  // 256 KiB payload (spec §3.1) plus room for a topic.
  const decoder dec({.max_remaining_length = 256 * 1024 + 1024});
  const auto ok = encode(publish{false, qos_level::at_least_once, false,
                                 "devices/dev1/messages/events/", 1, std::string(256 * 1024, 'x')});
  CHECK(dec.decode(std::span<const std::uint8_t>(ok)).status == decode_status::complete);
  const auto big =
      encode(publish{false, qos_level::at_least_once, false, "devices/dev1/messages/events/", 1,
                     std::string(257 * 1024, 'x')});
  // Only the first 4 bytes (fixed header) are given.
  const auto r = dec.decode(std::span<const std::uint8_t>(big).first(4));
  CHECK(r.status == decode_status::error);
  CHECK(r.error == decode_error::packet_too_large);
}

TEST_CASE("set_limits: a server raises the limit once the client is authenticated") {
  // The gateway decodes CONNECT under a small limit and later packets under the full one
  // (gateway_settings::max_connect_packet_size, issue 7).
  decoder dec({.max_remaining_length = 10});
  const bytes header{0x30, 0x0B};  // a PUBLISH announcing 11 bytes
  CHECK(dec.decode(std::span<const std::uint8_t>(header)).error == decode_error::packet_too_large);
  dec.set_limits({.max_remaining_length = 11});
  CHECK(dec.limits().max_remaining_length == 11);
  const auto r = dec.decode(std::span<const std::uint8_t>(header));
  CHECK(r.status == decode_status::need_more);
  CHECK(r.needed == 13);
}

TEST_CASE("errors in the first byte need nothing more") {
  CHECK(decode_error_of({0x00}) == decode_error::reserved_packet_type);
  CHECK(decode_error_of({0x36}) == decode_error::invalid_qos);
  CHECK(decode_error_of({0x60}) == decode_error::invalid_fixed_header_flags);
}

TEST_CASE("is_valid_mqtt_utf8") {
  CHECK(is_valid_mqtt_utf8(""));
  CHECK(is_valid_mqtt_utf8("plain ascii /+#"));
  CHECK(is_valid_mqtt_utf8("\xC2\x80"));          // U+0080
  CHECK(is_valid_mqtt_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  CHECK(is_valid_mqtt_utf8("\xEE\x80\x80"));      // U+E000, just above
  CHECK(is_valid_mqtt_utf8("\xEF\xBF\xBF"));      // U+FFFF (a non-character: allowed)
  CHECK(is_valid_mqtt_utf8("\xF0\x90\x80\x80"));  // U+10000
  CHECK(is_valid_mqtt_utf8("\x01\x1F\x7F"));      // control characters: SHOULD NOT, allowed
  CHECK_FALSE(is_valid_mqtt_utf8(std::string_view("\x00", 1)));
  CHECK_FALSE(is_valid_mqtt_utf8("\xC1\xBF"));          // overlong
  CHECK_FALSE(is_valid_mqtt_utf8("\xED\xA0\x80"));      // U+D800
  CHECK_FALSE(is_valid_mqtt_utf8("\xF0\x8F\xBF\xBF"));  // overlong 4-byte
  CHECK_FALSE(is_valid_mqtt_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(is_valid_mqtt_utf8("\xC3"));          // cut
  CHECK_FALSE(is_valid_mqtt_utf8("\xE2\x28\xA1"));  // bad continuation
  CHECK_FALSE(is_valid_mqtt_utf8("\xF0\x90\x80\x28"));
}

TEST_CASE("topic name and filter rules") {
  CHECK(is_valid_topic_name("a"));
  CHECK(is_valid_topic_name("/"));
  CHECK(is_valid_topic_name("$iothub/twin/GET/?$rid=1"));
  CHECK_FALSE(is_valid_topic_name(""));
  CHECK_FALSE(is_valid_topic_name("a/+/b"));
  CHECK_FALSE(is_valid_topic_name("#"));
  for (const char* ok : {"#", "+", "/", "a/#", "+/+", "/+", "+/", "a/+/b/#", "//", "$iothub/#"}) {
    CAPTURE(ok);
    CHECK(is_valid_topic_filter(ok));
  }
  for (const char* bad : {"", "a#", "#/a", "a/#/", "a+", "+a/b", "a/b+/c"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_valid_topic_filter(bad));
  }
}

}  // namespace
}  // namespace emu::mqtt::test
