// A device's telemetry message on its AMQP link (next-capabilities §4): the property names of
// the MQTT property bag, refusals with their conditions.
#include <doctest/doctest.h>

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>
#include <proton/uuid.hpp>

#include <span>
#include <string>
#include <vector>

#include "emulator/amqp/device_telemetry.hpp"

using namespace emu;
using namespace emu::amqp;

namespace {

decoded<device_telemetry> decode(const proton::message& m) {
  const auto bytes = encode_message(m);
  REQUIRE(bytes);
  return decode_device_telemetry(std::span<const char>(*bytes));
}

std::string value_of(const device_telemetry& t, const std::string& name) {
  for (const auto& p : t.properties)
    if (p.name == name) return p.value;
  return "<absent>";
}

}  // namespace

TEST_CASE("the Node SDK's telemetry message maps to the MQTT property names") {
  proton::message m;
  m.id(proton::uuid::copy("\x12\x34\x56\x78\x9a\xbc\xde\xf0\x12\x34\x56\x78\x9a\xbc\xde\xf0"));
  m.correlation_id(std::string("c-1"));
  m.content_type("application/json");
  m.content_encoding("utf-8");
  m.user("u");
  m.expiry_time(proton::timestamp(1'700'000'000'000));
  m.message_annotations().put(proton::symbol("dt-subject"), std::string("thermostat1"));
  m.message_annotations().put(proton::symbol("iothub-interface-id"), std::string("dtmi:x;1"));
  m.properties().put("temperature", 21);
  m.properties().put("ok", true);
  m.properties().put("$.mid", std::string("posing as a system property"));
  m.body(proton::binary("{\"t\":1}"));
  m.inferred(true);
  const auto t = decode(m);
  REQUIRE(t);
  CHECK(t->body == "{\"t\":1}");
  CHECK(value_of(*t, "$.mid") == "12345678-9abc-def0-1234-56789abcdef0");
  CHECK(value_of(*t, "$.cid") == "c-1");
  CHECK(value_of(*t, "$.ct") == "application/json");
  CHECK(value_of(*t, "$.ce") == "utf-8");
  CHECK(value_of(*t, "$.uid") == "u");
  CHECK(value_of(*t, "$.exp") == "2023-11-14T22:13:20.0000000Z");
  CHECK(value_of(*t, "$.sub") == "thermostat1");
  CHECK(value_of(*t, "$.ifid") == "dtmi:x;1");
  CHECK(value_of(*t, "temperature") == "21");
  CHECK(value_of(*t, "ok") == "true");
  int mids = 0;
  for (const auto& p : t->properties) mids += p.name == "$.mid" ? 1 : 0;
  CHECK(mids == 1);  // the message-id's, not the application property's
}

TEST_CASE("an empty message is an empty event; bad ones are refused with their condition") {
  proton::message empty;
  const auto t = decode(empty);
  REQUIRE(t);
  CHECK(t->body.empty());
  CHECK(t->properties.empty());

  proton::message value_body;
  value_body.body(std::string("text"));  // an amqp-value section
  CHECK(decode(value_body).error().condition == "amqp:decode-error");

  // application-properties {"l": [true, false]}, then a data section "x".
  const std::string list_prop =
      std::string("\x00\x53\x74\xc1\x09\x02\xa1\x01l\xc0\x03\x02\x41\x42", 14) +
      std::string("\x00\x53\x75\xa0\x01x", 6);
  CHECK(decode_device_telemetry(std::span<const char>(list_prop.data(), list_prop.size()))
            .error()
            .condition == "amqp:invalid-field");

  proton::message big;
  big.body(proton::binary(std::string(256 * 1024 + 1, 'x')));
  big.inferred(true);
  CHECK(decode(big).error().condition == "amqp:link:message-size-exceeded");

  const std::string garbage = "\x00\x53\x75\xa0\x05";
  CHECK(decode_device_telemetry(std::span<const char>(garbage.data(), garbage.size()))
            .error()
            .condition == "amqp:decode-error");
}

TEST_CASE("a batched message (format 0x80013700) is its data sections, each a message") {
  proton::message one;
  one.id("b-1");
  one.body(proton::binary(std::string("one")));
  one.inferred(true);
  proton::message two = one;
  two.id("b-2");
  two.body(proton::binary(std::string("two")));
  const auto e1 = encode_message(one);
  const auto e2 = encode_message(two);
  REQUIRE((e1 && e2));
  // The outer message: two data sections, written by hand (proton::message has one body).
  std::vector<char> batch;
  const auto section = [&batch](const std::vector<char>& inner) {
    const char head[] = {0x00, 0x53, 0x75, static_cast<char>(0xb0)};
    batch.insert(batch.end(), head, head + 4);
    const auto n = static_cast<std::uint32_t>(inner.size());
    for (int shift = 24; shift >= 0; shift -= 8) batch.push_back(static_cast<char>(n >> shift));
    batch.insert(batch.end(), inner.begin(), inner.end());
  };
  section(*e1);
  section(*e2);
  const auto r = decode_device_telemetry_batch(std::span<const char>(batch));
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].body == "one");
  CHECK(value_of((*r)[0], "$.mid") == "b-1");
  CHECK((*r)[1].body == "two");

  // Refused whole: a section that is not a message, or no section at all.
  section(std::vector<char>{'n', 'o'});
  CHECK(decode_device_telemetry_batch(std::span<const char>(batch)).error().condition ==
        "amqp:decode-error");
  proton::message empty;
  const auto e = encode_message(empty);
  REQUIRE(e);
  CHECK_FALSE(decode_device_telemetry_batch(std::span<const char>(*e)));
}
