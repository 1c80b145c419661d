// The MQTT gateway with real Mosquitto clients over real TLS: libmosquitto (C API) and the
// mosquitto_sub / mosquitto_pub programs (Debian mosquitto-clients), SAS token as password.
#include <doctest/doctest.h>

#include "tests/integration/mqtt/harness.hpp"

using namespace emu::mqtt::itest;

namespace {

std::vector<std::string> mosquitto_args(const test_server& s, const std::string& program,
                                        const std::string& device, const std::string& password) {
  return {program,  "-h", "127.0.0.1", "-p", std::to_string(s.port), "--cafile",
          s.ca,     "-i", device,      "-u", s.username(device),     "-P",
          password, "-V", "mqttv311"};
}

bool has_property(const json& props, const std::string& name, const std::string& value) {
  return props.contains(name) && props[name] == value;
}

}  // namespace

TEST_CASE("libmosquitto connects over TLS with a SAS token; a wrong key gets CONNACK 5") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  {
    mosq_client c(*s, "dev1", s->token("dev1"));
    const auto e = c.wait_for(mosq_client::event::connected);
    REQUIRE(e.has_value());
    CHECK(e->rc == 0);
  }
  {
    const std::string wrong_key = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    mosq_client c(*s, "dev1", s->token("dev1", wrong_key));
    const auto e = c.wait_for(mosq_client::event::connected);
    REQUIRE(e.has_value());
    CHECK(e->rc == 5);  // spec §3.3: Not Authorized
  }
}

TEST_CASE("mosquitto_sub with a wrong key: Connection Refused: not authorised") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  auto args = mosquitto_args(*s, "mosquitto_sub", "dev1",
                             s->token("dev1", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
  args.insert(args.end(), {"-t", c2d_filter("dev1"), "-q", "1"});
  child sub(args);
  const int rc = sub.wait_exit(20s);
  CHECK(rc != 0);
  CHECK(rc != -1);
  CHECK_MESSAGE(sub.output().find("Connection Refused: not authorised") != std::string::npos,
                sub.output());
}

TEST_CASE("mosquitto_sub receives a C2D message with its property bag; PUBACK completes it") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  s->send_c2d("dev1", "msg-1", "full",
              {{"correlationId", "corr-1"},
               {"properties", {{"color", "blue/green"}, {"a b", "x&y"}}},
               {"body", "hello device"}});
  auto args = mosquitto_args(*s, "mosquitto_sub", "dev1", s->token("dev1"));
  args.insert(args.end(), {"-c", "-t", c2d_filter("dev1"), "-q", "1", "-v", "-C", "1", "-W", "20"});
  child sub(args);
  REQUIRE(sub.wait_exit(30s) == 0);
  const std::string expected_topic =
      "devices/dev1/messages/devicebound/%24.cid=corr-1&%24.mid=msg-1&%24.to=%2Fdevices%2Fdev1%"
      "2Fmessages%2Fdevicebound&iothub-ack=full&a%20b=x%26y&color=blue%2Fgreen";
  CHECK(sub.output() == expected_topic + " hello device\n");

  // The PUBACK completed the message: queue empty, positive feedback (spec §1.5, §2.1).
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
  CHECK(eventually([&] {
    const auto fb = s->feedback();
    return fb.size() == 1 && fb[0]["originalMessageId"] == "msg-1" &&
           fb[0]["statusCode"] == "Success" && fb[0]["deviceId"] == "dev1";
  }));
}

TEST_CASE("mosquitto_pub telemetry is PUBACKed after commit and stored with the stamps") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  auto args = mosquitto_args(*s, "mosquitto_pub", "dev1", s->token("dev1"));
  args.insert(args.end(), {"-t", "devices/dev1/messages/events/%24.ct=application%2Fjson&level=hi",
                           "-q", "1", "-m", R"({"temp":21})"});
  child pub(args);
  REQUIRE_MESSAGE(pub.wait_exit(20s) == 0, pub.output());
  const auto t = s->telemetry();
  REQUIRE(t.size() == 1);
  CHECK(t[0]["deviceId"] == "dev1");
  CHECK(t[0]["body"] == R"({"temp":21})");
  const auto& props = t[0]["properties"];
  CHECK(has_property(props, "$.ct", "application/json"));
  CHECK(has_property(props, "level", "hi"));
  CHECK(has_property(props, "iothub-connection-device-id", "dev1"));
  CHECK(has_property(props, "iothub-connection-auth-method",
                     R"({"scope":"device","type":"sas","issuer":"iothub"})"));
}

TEST_CASE("libmosquitto: publishing or subscribing to another device's topic disconnects") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  {
    mosq_client c(*s, "dev1", s->token("dev1"));
    REQUIRE(c.wait_for(mosq_client::event::connected)->rc == 0);
    REQUIRE(mosquitto_publish(c.get(), nullptr, "devices/dev2/messages/events/", 1, "x", 1,
                              false) == MOSQ_ERR_SUCCESS);
    const auto e = c.wait_for(mosq_client::event::disconnected);
    REQUIRE(e.has_value());
    CHECK(e->rc != 0);  // not a DISCONNECT of ours: the server closed the connection
  }
  {
    mosq_client c(*s, "dev1", s->token("dev1"));
    REQUIRE(c.wait_for(mosq_client::event::connected)->rc == 0);
    REQUIRE(mosquitto_subscribe(c.get(), nullptr, c2d_filter("dev2").c_str(), 1) ==
            MOSQ_ERR_SUCCESS);
    const auto e = c.wait_for(mosq_client::event::disconnected);
    REQUIRE(e.has_value());
    CHECK(e->rc != 0);
  }
  CHECK(s->telemetry().empty());
}

TEST_CASE("libmosquitto: subscribe, C2D pushed at once with its properties, completed") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  mosq_client c(*s, "dev1", s->token("dev1"));
  REQUIRE(c.wait_for(mosq_client::event::connected)->rc == 0);
  REQUIRE(mosquitto_subscribe(c.get(), nullptr, c2d_filter("dev1").c_str(), 2) == MOSQ_ERR_SUCCESS);
  const auto sub = c.wait_for(mosq_client::event::subscribed);
  REQUIRE(sub.has_value());
  CHECK(sub->granted == std::vector<int>{1});  // spec §3.4: QoS 2 granted as 1

  // The device is online and subscribed: the message is pushed by the hub's event, no polling.
  s->send_c2d("dev1", "m-2", "positive", {{"properties", {{"k", "v"}}}, {"body", "payload-2"}});
  const auto m = c.wait_for(mosq_client::event::message);
  REQUIRE(m.has_value());
  CHECK(m->qos == 1);
  CHECK(m->payload == "payload-2");
  CHECK(m->topic ==
        "devices/dev1/messages/devicebound/%24.mid=m-2&%24.to=%2Fdevices%2Fdev1%2Fmessages%"
        "2Fdevicebound&iothub-ack=positive&k=v");
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
  CHECK(eventually([&] { return s->feedback().size() == 1; }));
}

TEST_CASE("a second connection with the same client id closes the first (spec §3.3)") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  mosq_client first(*s, "dev1", s->token("dev1"));
  REQUIRE(first.wait_for(mosq_client::event::connected)->rc == 0);
  // libmosquitto would reconnect on its own; keep it from doing so after the takeover.
  mosquitto_reconnect_delay_set(first.get(), 3600, 3600, false);
  mosq_client second(*s, "dev1", s->token("dev1"));
  REQUIRE(second.wait_for(mosq_client::event::connected)->rc == 0);
  const auto e = first.wait_for(mosq_client::event::disconnected);
  REQUIRE(e.has_value());
  CHECK(e->rc != 0);
}
