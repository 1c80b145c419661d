// The telemetry event an Event Hubs reader receives (next-capabilities §1.6), written directly
// by amqp_writer: checked here by decoding it with Proton, the codec the clients' libraries
// agree with.
#include <doctest/doctest.h>

#include <proton/annotation_key.hpp>
#include <proton/binary.hpp>
#include <proton/message.hpp>
#include <proton/scalar.hpp>
#include <proton/symbol.hpp>
#include <proton/timestamp.hpp>

#include <span>
#include <string>
#include <vector>

#include "emulator/amqp/encoding_check.hpp"
#include "emulator/amqp/event_message.hpp"
#include "emulator/amqp/message_codec.hpp"

using namespace emu;
using namespace emu::amqp;

namespace {

core::telemetry_message sample_event() {
  core::telemetry_message e;
  e.partition = 2;
  e.sequence_number = 41;
  e.offset = 123456;
  e.device_id = "dev-1";
  e.enqueued_time = core::from_unix_ms(1'700'000'000'123);
  e.properties = {{"$.mid", "m-1"},
                  {"$.cid", "c-1"},
                  {"$.ct", "application/json"},
                  {"$.ce", "utf-8"},
                  {"temperature", "21.5"},
                  {"$.exp", "ignored"},
                  {"iothub-connection-device-id", "dev-1"},
                  {"iothub-connection-auth-generation-id", "g-1"},
                  {"iothub-connection-auth-method", "{\"scope\":\"device\"}"}};
  e.body = "{\"t\":21.5}";
  return e;
}

proton::message decode(const std::vector<char>& bytes) {
  REQUIRE(well_formed_values(std::span<const char>(bytes)));
  auto m = decode_message(std::span<const char>(bytes));
  REQUIRE(m);
  CHECK(m->body.data == 1);
  return m->message;
}

proton::value annotation(const proton::message& m, const std::string& key) {
  return m.message_annotations().get(proton::annotation_key(proton::symbol(key)));
}

}  // namespace

TEST_CASE("an event carries its body, properties, annotations and application properties") {
  const auto m = decode(encode_event(sample_event()));
  CHECK(proton::get<proton::binary>(m.body()) == proton::binary("{\"t\":21.5}"));
  CHECK(proton::get<std::string>(m.id()) == "m-1");
  CHECK(proton::get<std::string>(m.correlation_id()) == "c-1");
  CHECK(m.content_type() == "application/json");
  CHECK(m.content_encoding() == "utf-8");
  CHECK(m.user().empty());
  CHECK(proton::get<std::int64_t>(annotation(m, "x-opt-sequence-number")) == 41);
  CHECK(proton::get<std::string>(annotation(m, "x-opt-offset")) == "123456");
  CHECK(proton::get<proton::timestamp>(annotation(m, "x-opt-enqueued-time")).milliseconds() ==
        1'700'000'000'123);
  CHECK(proton::get<proton::timestamp>(annotation(m, "iothub-enqueuedtime")).milliseconds() ==
        1'700'000'000'123);
  CHECK(proton::get<std::string>(annotation(m, "x-opt-partition-key")) == "dev-1");
  CHECK(proton::get<std::string>(annotation(m, "iothub-message-source")) == "Telemetry");
  CHECK(proton::get<std::string>(annotation(m, "iothub-connection-device-id")) == "dev-1");
  CHECK(proton::get<std::string>(annotation(m, "iothub-connection-auth-generation-id")) == "g-1");
  CHECK(proton::get<std::string>(annotation(m, "iothub-connection-auth-method")) ==
        "{\"scope\":\"device\"}");
  CHECK_FALSE(m.message_annotations().exists(proton::symbol("iothub-connection-module-id")));
  CHECK(m.message_annotations().size() == 9);
  CHECK(m.properties().size() == 1);
  CHECK(proton::get<std::string>(m.properties().get("temperature")) == "21.5");
}

TEST_CASE("an event of a module names the module; a device cannot set that annotation") {
  auto e = sample_event();
  e.properties.push_back({"iothub-connection-module-id", "spoofed"});
  SUBCASE("device telemetry") {
    const auto m = decode(encode_event(e));
    CHECK_FALSE(m.message_annotations().exists(proton::symbol("iothub-connection-module-id")));
    // Dropped altogether: the hub's stamp of that name (core::stamp_telemetry) is no
    // application property either; the annotation comes from the event alone.
    CHECK_FALSE(m.properties().exists("iothub-connection-module-id"));
  }
  SUBCASE("module telemetry") {
    e.module_id = "mod-a";
    const auto m = decode(encode_event(e));
    CHECK(proton::get<std::string>(annotation(m, "iothub-connection-module-id")) == "mod-a");
  }
}

TEST_CASE("the other system properties map to their AMQP places") {
  core::telemetry_message e;
  e.device_id = "d";
  e.properties = {{"$.uid", "user-7"},
                  {"$.to", "/x"},
                  {"$.sub", "thermostat1"},
                  {"$.ctime", "2026-12-04T06:00:00.000Z"}};
  const auto m = decode(encode_event(e));
  CHECK(m.user() == "user-7");
  CHECK(m.to() == "/x");
  CHECK(proton::get<std::string>(annotation(m, "dt-subject")) == "thermostat1");
  CHECK(proton::get<std::string>(m.properties().get("iothub-creation-time-utc")) ==
        "2026-12-04T06:00:00.000Z");
  CHECK(m.id().empty());
  CHECK(proton::get<proton::binary>(m.body()).empty());
}

TEST_CASE("without system or application properties only annotations and the body are sent") {
  core::telemetry_message e;
  e.device_id = "d";
  e.body = "x";
  const auto bytes = encode_event(e);
  const auto m = decode(bytes);
  CHECK(m.properties().empty());
  CHECK(m.id().empty());
  CHECK(m.content_type().empty());
  // Sections: message annotations (0x72), then data (0x75: 00 53 75 a0 01 "x") at the end.
  CHECK(static_cast<unsigned char>(bytes[2]) == 0x72);
  CHECK(static_cast<unsigned char>(bytes[bytes.size() - 4]) == 0x75);
}

TEST_CASE("a repeated property name keeps its last value, as one map key") {
  core::telemetry_message e;
  e.device_id = "d";
  e.properties = {
      {"a", "1"}, {"b", "2"}, {"a", "3"}, {"$.ctime", "t"}, {"iothub-creation-time-utc", "own"}};
  const auto m = decode(encode_event(e));
  CHECK(m.properties().size() == 3);
  CHECK(proton::get<std::string>(m.properties().get("a")) == "3");
  CHECK(proton::get<std::string>(m.properties().get("iothub-creation-time-utc")) == "own");

  core::telemetry_message many;
  many.device_id = "d";
  for (int i = 0; i < 40; ++i)
    many.properties.push_back({"k" + std::to_string(i % 20), "v" + std::to_string(i)});
  const auto mm = decode(encode_event(many));
  CHECK(mm.properties().size() == 20);
  CHECK(proton::get<std::string>(mm.properties().get("k3")) == "v23");
}

TEST_CASE("values longer than 255 bytes use the 32-bit encodings") {
  core::telemetry_message e;
  e.device_id = std::string(300, 'd');
  e.properties = {{std::string(256, 'k'), std::string(70'000, 'v')},
                  {"$.ct", std::string(400, 'c')}};
  e.body = std::string(65'536, 'b');
  const auto m = decode(encode_event(e));
  CHECK(proton::get<proton::binary>(m.body()).size() == 65'536);
  CHECK(proton::get<std::string>(m.properties().get(std::string(256, 'k'))).size() == 70'000);
  CHECK(m.content_type() == std::string(400, 'c'));
  CHECK(proton::get<std::string>(annotation(m, "x-opt-partition-key")) == std::string(300, 'd'));
}

TEST_CASE("the delivery tag is the sequence number, 8 bytes big-endian") {
  core::telemetry_message e;
  e.sequence_number = 0x0102030405060708;
  CHECK(event_delivery_tag(e) == std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}
