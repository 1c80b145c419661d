// Decoding service C2D messages and encoding feedback (spec §2.2, §4.3; sdk-wire §2.4, §8).
#include <doctest/doctest.h>

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/codec/encoder.hpp>
#include <proton/codec/vector.hpp>
#include <proton/message.hpp>
#include <proton/message_id.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>
#include <proton/value.hpp>

#include <set>
#include <string>
#include <vector>

#include "emulator/amqp/encoding_check.hpp"
#include "emulator/amqp/message_codec.hpp"
#include "emulator/core/feedback.hpp"

using namespace emu::amqp;
using namespace std::string_literals;

namespace {

proton::message node_style_message() {
  // What azure-iothub's Client.send puts on the wire (sdk-wire §2.4).
  proton::message m;
  m.to("/devices/dev%201/messages/devicebound");
  m.id(proton::message_id(
      proton::uuid::copy("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0")));
  m.properties().put("iothub-ack", "full");
  m.properties().put("temperature", "21");
  m.body(proton::binary("hello"));
  m.inferred(true);
  return m;
}

std::vector<char> bytes_of(const proton::message& m) {
  return m.encode();
}

decoded<c2d_request> decode(const std::vector<char>& b) {
  return decode_c2d(std::span<const char>(b.data(), b.size()));
}

decoded<c2d_request> decode(const std::string& b) {
  return decode_c2d(std::span<const char>(b.data(), b.size()));
}

c2d_request ok(const decoded<c2d_request>& r) {
  if (!r) FAIL(r.error().condition << " " << r.error().description);
  return *r;
}

std::string condition_of(const decoded<c2d_request>& r) {
  return r ? std::string() : r.error().condition;
}

}  // namespace

TEST_CASE("a Node SDK send decodes to the device id and content") {
  const auto r = ok(decode(bytes_of(node_style_message())));
  CHECK(r.device_id == "dev 1");
  CHECK(r.content.to == "/devices/dev%201/messages/devicebound");
  CHECK(r.content.message_id == "12345678-9abc-def0-1234-56789abcdef0");
  CHECK(r.content.ack == emu::core::ack_mode::full);
  REQUIRE(r.content.properties.size() == 1);
  CHECK(r.content.properties[0].name == "temperature");
  CHECK(r.content.properties[0].value == "21");
  CHECK(r.content.body == "hello");
  CHECK_FALSE(r.content.absolute_expiry);
}

TEST_CASE("message-id and correlation-id of every allowed type become strings") {
  auto m = node_style_message();
  m.id(proton::message_id("m-1"));
  m.correlation_id(proton::message_id(std::uint64_t{42}));
  CHECK(ok(decode(bytes_of(m))).content.message_id == "m-1");
  CHECK(ok(decode(bytes_of(m))).content.correlation_id == "42");
  m.id(proton::message_id(proton::binary("\x01\xab"s)));
  m.correlation_id(proton::message_id(std::string("c")));
  CHECK(ok(decode(bytes_of(m))).content.message_id == "01ab");
  CHECK(ok(decode(bytes_of(m))).content.correlation_id == "c");
  m.id(proton::message_id());
  CHECK(ok(decode(bytes_of(m))).content.message_id.empty());
}

TEST_CASE("system properties are copied") {
  auto m = node_style_message();
  m.user("svc");
  m.content_type("application/json");
  m.content_encoding("utf-8");
  m.expiry_time(proton::timestamp(1'700'000'000'123));
  const auto r = ok(decode(bytes_of(m)));
  CHECK(r.content.user_id == "svc");
  CHECK(r.content.content_type == "application/json");
  CHECK(r.content.content_encoding == "utf-8");
  REQUIRE(r.content.absolute_expiry);
  CHECK(emu::core::to_unix_ms(*r.content.absolute_expiry) == 1'700'000'000'123);
}

TEST_CASE("property values of simple types become text; others are refused") {
  auto m = node_style_message();
  m.properties().put("n", 5);
  m.properties().put("b", true);
  m.properties().put("s", proton::symbol("sym"));
  const auto r = ok(decode(bytes_of(m)));
  std::map<std::string, std::string> props;
  for (const auto& p : r.content.properties) props[p.name] = p.value;
  CHECK(props["n"] == "5");
  CHECK(props["b"] == "true");
  CHECK(props["s"] == "sym");
}

TEST_CASE("iothub-ack: exactly none|positive|negative|full, else amqp:invalid-field") {
  auto m = node_style_message();
  for (const char* v : {"none", "positive", "negative", "full"}) {
    m.properties().put("iothub-ack", v);
    CHECK(decode(bytes_of(m)).ok());
  }
  m.properties().put("iothub-ack", "Full");
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:invalid-field");
  m.properties().put("iothub-ack", "sometimes");
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:invalid-field");
  m.properties().put("iothub-ack", 1);
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:invalid-field");
}

TEST_CASE("`to` must name a device's devicebound queue") {
  auto m = node_style_message();
  m.to("/devices/dev1/messages/deviceBound");  // the C SDK's and C#'s spelling
  CHECK(ok(decode(bytes_of(m))).device_id == "dev1");
  m.to("/devices/dev1/messages/events");
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:invalid-field");
  m.to("");
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:invalid-field");
}

TEST_CASE("bodies: one data section or none; amqp-value and amqp-sequence are decode errors") {
  auto m = node_style_message();
  m.body(proton::binary("x"));
  m.inferred(false);  // amqp-value holding a binary
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:decode-error");
  m.body(std::string("text"));
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:decode-error");
  proton::value seq = std::vector<proton::value>{proton::value(1)};
  REQUIRE(seq.type() == proton::LIST);
  m.body(seq);
  m.inferred(true);  // amqp-sequence
  CHECK(condition_of(decode(bytes_of(m))) == "amqp:decode-error");

  proton::message empty;
  empty.to("/devices/d/messages/devicebound");
  CHECK(ok(decode(bytes_of(empty))).content.body.empty());

  // Two data sections (AMQP allows it; devices expect one).
  auto two = bytes_of(node_style_message());
  const std::string data = "\x00\x53\x75\xa0\x01y"s;
  two.insert(two.end(), data.begin(), data.end());
  CHECK(condition_of(decode(two)) == "amqp:decode-error");
}

TEST_CASE("malformed bytes are amqp:decode-error, never a crash") {
  const auto good = bytes_of(node_style_message());
  // Cutting at a section boundary leaves a shorter, well-formed message; anywhere else the
  // message is truncated.
  std::set<std::size_t> boundaries;
  for (std::size_t at = 0; at < good.size();) {
    at += *first_value_size(std::span<const char>(good.data() + at, good.size() - at));
    boundaries.insert(at);
  }
  for (std::size_t cut = 1; cut < good.size(); ++cut) {
    if (boundaries.count(cut) != 0) continue;
    std::vector<char> part(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(cut));
    const auto r = decode(part);
    CHECK_MESSAGE(condition_of(r) == "amqp:decode-error", "cut at " << cut);
  }
  CHECK(condition_of(decode(std::string())) == "amqp:decode-error");
  CHECK(condition_of(decode("garbage"s)) == "amqp:decode-error");
  CHECK(condition_of(decode("\x00\x53\x70\xff"s)) == "amqp:decode-error");
  CHECK(condition_of(decode("\x00\x53\x99\x40"s)) == "amqp:decode-error");  // unknown section
  CHECK(condition_of(decode("\x00\x53\x73\xa1\x01x"s)) ==
        "amqp:decode-error");  // properties not a list
  // 100 000 nested lists inside an application-properties value: refused before Proton's
  // recursive decoder sees them.
  std::string bomb = "\x00\x53\x77"s;
  for (int i = 0; i < 100000; ++i) bomb += "\xd0\x00\x00\x00\x00\x00\x00\x00\x01"s;
  CHECK(condition_of(decode(bomb)) == "amqp:decode-error");
}

TEST_CASE("a non-string property key is amqp:invalid-field") {
  // properties section with {1: "a"} after a valid `to`.
  proton::message m;
  m.to("/devices/d/messages/devicebound");
  auto bytes = m.encode();
  const std::string props = "\x00\x53\x74\xc1\x06\x02\x54\x01\xa1\x01\x61"s;
  bytes.insert(bytes.end(), props.begin(), props.end());
  CHECK(condition_of(decode(bytes)) == "amqp:invalid-field");
}

TEST_CASE("a list or map property value is amqp:invalid-field") {
  proton::message m;
  m.to("/devices/d/messages/devicebound");
  auto bytes = m.encode();
  // {"l": [1]}
  const std::string props = "\x00\x53\x74\xc1\x09\x02\xa1\x01l\xc0\x03\x01\x54\x01"s;
  bytes.insert(bytes.end(), props.begin(), props.end());
  CHECK(condition_of(decode(bytes)) == "amqp:invalid-field");
}

TEST_CASE("encoding_check: structure, sizes, arrays and depth") {
  CHECK(well_formed_values(std::span<const char>()));
  const std::string list = "\xc0\x03\x02\x41\x42"s;  // [true, false]
  CHECK(first_value_size(std::span<const char>(list.data(), list.size())) == 5);
  const std::string lying = "\xc0\x03\x05\x41\x42"s;  // count 5 in 2 bytes
  CHECK_FALSE(first_value_size(std::span<const char>(lying.data(), lying.size())));
  const std::string overflow = "\xc0\x02\x01\xa1\x05x"s;  // string runs past the list
  CHECK_FALSE(first_value_size(std::span<const char>(overflow.data(), overflow.size())));
  const std::string symbols =
      "\xe0\x06\x02\xa3\x01"
      "a\x01"
      "b"s;  // array of 2 symbols
  CHECK(first_value_size(std::span<const char>(symbols.data(), symbols.size())) == 8);
  const std::string lists = "\xe0\x04\x01\xc0\x00\x00"s;  // array of lists: refused
  CHECK_FALSE(first_value_size(std::span<const char>(lists.data(), lists.size())));
  std::string nested;
  for (int i = 0; i < 40; ++i) nested += "\xd0\x00\x00\x00\x00\x00\x00\x00\x01"s;
  nested += "\x40";
  CHECK_FALSE(first_value_size(std::span<const char>(nested.data(), nested.size())));
  const std::string described = "\x00\x53\x10\xc0\x01\x00"s;
  CHECK(first_value_size(std::span<const char>(described.data(), described.size())) == 6);
  const std::string odd_map = "\xc1\x02\x01\x40"s;
  CHECK_FALSE(first_value_size(std::span<const char>(odd_map.data(), odd_map.size())));
}

TEST_CASE("feedback: content-type, user-id, iothub-enqueuedtime, one data section") {
  emu::core::feedback_batch b;
  b.id = 7;
  b.lock_id = 9;
  b.created = emu::core::from_unix_ms(1'700'000'000'000);
  emu::core::feedback_record r;
  r.original_message_id = "m-1";
  r.device_id = "dev1";
  r.device_generation_id = "g";
  r.enqueued_time = b.created;
  b.records.push_back(r);
  const auto bytes = encode_feedback(b, "emuhub");
  auto d = decode_message(std::span<const char>(bytes.data(), bytes.size()));
  REQUIRE(d.ok());
  const auto& dm = *d;
  CHECK(dm.body.data == 1);
  CHECK_FALSE(dm.body.value);
  const proton::message& m = dm.message;
  CHECK(m.content_type() == "application/vnd.microsoft.iothub.feedback.json");
  CHECK(m.user() == "emuhub");
  const proton::value t =
      m.message_annotations().get(proton::annotation_key(proton::symbol("iothub-enqueuedtime")));
  REQUIRE(t.type() == proton::TIMESTAMP);
  CHECK(proton::get<proton::timestamp>(t).milliseconds() == 1'700'000'000'000);
  CHECK(std::string(proton::get<proton::binary>(m.body())) == emu::core::feedback_json(b));

  const auto tag = feedback_delivery_tag(7, 9);
  CHECK(tag.size() == 16);
  CHECK(tag == std::string("\0\0\0\0\0\0\0\x07\0\0\0\0\0\0\0\x09", 16));
}
