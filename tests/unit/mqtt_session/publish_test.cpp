// Device PUBLISH rules (spec §3.4, §3.6): telemetry is stored with the hub's stamps and
// PUBACKed after the commit; QoS 2, foreign and unsupported topics close the connection.
#include <doctest/doctest.h>

#include "tests/unit/mqtt_session/session_harness.hpp"

using namespace emu;
using namespace emu::mqtt;
using namespace emu::mqtt::testing;

namespace {

std::string value_of(const std::vector<core::property>& props, std::string_view name) {
  for (const auto& p : props)
    if (p.name == name) return p.value;
  return "<missing>";
}

int count_of(const std::vector<core::property>& props, std::string_view name) {
  int n = 0;
  for (const auto& p : props) n += p.name == name ? 1 : 0;
  return n;
}

const std::string node_topic =
    "devices/dev1/messages/events/%24.mid=m-123&%24.cid=c-1&%24.ct=application%2Fjson&%24.ce=utf-8&"
    "temperatureAlert=false&a%20b=x%26y%3Dz";

}  // namespace

TEST_CASE("QoS 1 telemetry is stored with its properties and stamps, PUBACK after commit") {
  harness h;
  (void)h.connected();
  const auto out = h.in(make_publish(node_topic, qos_level::at_least_once, 42, R"({"t":21})"));
  CHECK(sent(out).empty());  // nothing acknowledged before the commit
  const auto stores = only<action::store_telemetry>(out);
  REQUIRE(stores.size() == 1);
  const auto& t = stores[0];
  CHECK(t.packet_id == 42);
  CHECK(t.body == R"({"t":21})");
  CHECK(value_of(t.properties, "$.mid") == "m-123");
  CHECK(value_of(t.properties, "$.cid") == "c-1");
  CHECK(value_of(t.properties, "$.ct") == "application/json");
  CHECK(value_of(t.properties, "$.ce") == "utf-8");
  CHECK(value_of(t.properties, "temperatureAlert") == "false");
  CHECK(value_of(t.properties, "a b") == "x&y=z");
  CHECK(value_of(t.properties, "iothub-connection-device-id") == "dev1");
  CHECK(value_of(t.properties, "iothub-connection-auth-generation-id") == "638000000000000001");
  CHECK(value_of(t.properties, "iothub-connection-auth-method") ==
        R"({"scope":"device","type":"sas","issuer":"iothub"})");
  CHECK(count_of(t.properties, "mqtt-retain") == 0);

  const auto acked = h.s->on_telemetry_stored(42, true, h.now);
  REQUIRE(sent_of<puback>(acked).size() == 1);
  CHECK(sent_of<puback>(acked)[0].packet_id == 42);
}

TEST_CASE("a failed telemetry commit closes the connection without PUBACK") {
  harness h;
  (void)h.connected();
  (void)h.in(make_publish("devices/dev1/messages/events/", qos_level::at_least_once, 1, "x"));
  const auto out = h.s->on_telemetry_stored(1, false, h.now);
  CHECK(sent(out).empty());
  CHECK(closed_with(out) == close_reason::store_failed);
}

TEST_CASE("QoS 0 telemetry is stored and not acknowledged") {
  harness h;
  (void)h.connected();
  const auto out =
      h.in(make_publish("devices/dev1/messages/events/", qos_level::at_most_once, 0, "x"));
  REQUIRE(only<action::store_telemetry>(out).size() == 1);
  CHECK(only<action::store_telemetry>(out)[0].packet_id == 0);
  CHECK(sent(h.s->on_telemetry_stored(0, true, h.now)).empty());
}

TEST_CASE("telemetry topic forms tolerated by the emulator (spec §3.6)") {
  for (const std::string topic :
       {"devices/dev1/messages/events", "devices/dev1/messages/events/",
        "devices/dev1/messages/events/?k=v", "devices/dev1/messages/events?k=v"}) {
    CAPTURE(topic);
    harness h;
    (void)h.connected();
    CHECK(has<action::store_telemetry>(h.in(make_publish(topic, qos_level::at_least_once, 1, ""))));
  }
}

TEST_CASE("RETAIN is not stored; the message carries mqtt-retain=true (spec §3.4)") {
  harness h;
  (void)h.connected();
  auto p = make_publish("devices/dev1/messages/events/", qos_level::at_least_once, 3, "x");
  p.retain = true;
  const auto stores = only<action::store_telemetry>(h.in(std::move(p)));
  REQUIRE(stores.size() == 1);
  CHECK(value_of(stores[0].properties, "mqtt-retain") == "true");
}

TEST_CASE("a device cannot spoof the hub's stamps (spec §3.6)") {
  harness h;
  (void)h.connected();
  const auto stores = only<action::store_telemetry>(
      h.in(make_publish("devices/dev1/messages/events/iothub-connection-device-id=dev9&"
                        "IOTHUB-CONNECTION-AUTH-METHOD=x",
                        qos_level::at_least_once, 3, "x")));
  REQUIRE(stores.size() == 1);
  CHECK(count_of(stores[0].properties, "iothub-connection-device-id") == 1);
  CHECK(value_of(stores[0].properties, "iothub-connection-device-id") == "dev1");
  CHECK(count_of(stores[0].properties, "IOTHUB-CONNECTION-AUTH-METHOD") == 0);
}

TEST_CASE("a hub-policy token is stamped with scope hub") {
  harness h;
  (void)h.open();
  (void)h.in(make_connect());
  auto r = h.accepted();
  r.hub_scope = true;
  (void)h.s->on_auth_result(r, h.now);
  const auto stores = only<action::store_telemetry>(
      h.in(make_publish("devices/dev1/messages/events/", qos_level::at_least_once, 3, "x")));
  REQUIRE(stores.size() == 1);
  CHECK(value_of(stores[0].properties, "iothub-connection-auth-method") ==
        R"({"scope":"hub","type":"sas","issuer":"iothub"})");
}

TEST_CASE("QoS 2 publish closes the connection (spec §3.4)") {
  harness h;
  (void)h.connected();
  const auto out =
      h.in(make_publish("devices/dev1/messages/events/", qos_level::exactly_once, 5, "x"));
  CHECK_FALSE(has<action::store_telemetry>(out));
  CHECK(closed_with(out) == close_reason::qos2_publish);
}

TEST_CASE("publishing to another device's or an unsupported topic closes the connection") {
  for (const std::string topic :
       {"devices/dev2/messages/events/", "devices/dev1/messages/devicebound/x", "foo/bar",
        "devices/dev1/modules/m1/messages/events/",
        "devices/dev1/messages/events/bad%zzescape=1"}) {
    CAPTURE(topic);
    harness h;
    (void)h.connected();
    const auto out = h.in(make_publish(topic, qos_level::at_least_once, 1, "x"));
    CHECK_FALSE(has<action::store_telemetry>(out));
    const auto why = closed_with(out);
    CHECK((why == close_reason::forbidden_topic || why == close_reason::protocol_error));
  }
}

TEST_CASE("telemetry above 256 KB closes the connection; 256 KB is accepted (spec §3.1)") {
  {
    harness h;
    (void)h.connected();
    const auto out = h.in(make_publish("devices/dev1/messages/events/", qos_level::at_least_once, 1,
                                       std::string(256 * 1024, 'x')));
    CHECK(has<action::store_telemetry>(out));
  }
  {
    harness h;
    (void)h.connected();
    const auto out = h.in(make_publish("devices/dev1/messages/events/", qos_level::at_least_once, 1,
                                       std::string(256 * 1024 + 1, 'x')));
    CHECK(closed_with(out) == close_reason::message_too_large);
  }
}

TEST_CASE("the Will is stored as telemetry when the connection drops without DISCONNECT") {
  auto with_will = [] {
    auto c = make_connect();
    c.will = will_message{"devices/dev1/messages/events/state=gone", "bye",
                          qos_level::at_least_once, false};
    return c;
  };
  {
    harness h;
    (void)h.connected(with_will());
    const auto out = h.s->close(close_reason::connection_lost, h.now);
    const auto stores = only<action::store_telemetry>(out);
    REQUIRE(stores.size() == 1);
    CHECK(stores[0].packet_id == 0);
    CHECK(stores[0].body == "bye");
    CHECK(value_of(stores[0].properties, "iothub-MessageType") == "Will");
    CHECK(value_of(stores[0].properties, "state") == "gone");
    CHECK(value_of(stores[0].properties, "iothub-connection-device-id") == "dev1");
  }
  {
    // MQTT-3.14.4-3: DISCONNECT discards the Will.
    harness h;
    (void)h.connected(with_will());
    const auto out = h.in(disconnect{});
    CHECK(closed_with(out) == close_reason::client_disconnect);
    CHECK_FALSE(has<action::store_telemetry>(out));
    CHECK(h.s->close(close_reason::connection_lost, h.now).empty());
  }
  {
    // A protocol error also publishes it (MQTT-3.1.2-8).
    harness h;
    (void)h.connected(with_will());
    const auto out = h.in(pubrel{1});
    CHECK(has<action::store_telemetry>(out));
  }
}
