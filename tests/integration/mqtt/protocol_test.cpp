// The MQTT gateway's protocol rules over real TLS sockets, with a raw client built on the
// project's codec against the iothub-emulator executable: CONNACK codes and flags, persistent
// sessions across connections, restart (kill -9) with messages in flight, keep-alive and
// slowloris timeouts, the packet size limit.
#include <doctest/doctest.h>

#include "tests/integration/mqtt/harness.hpp"

using namespace emu::mqtt;
using namespace emu::mqtt::itest;

TEST_CASE("CONNACK 1 for a protocol level other than 4; nothing but CONNECT first") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  {
    raw_client c(s->port, s->ca);
    emu::mqtt::connect k;
    k.protocol_level = 5;
    k.client_id = "dev1";
    k.username = s->username("dev1");
    k.password = s->token("dev1");
    c.send(k);
    const auto ack = c.receive_as<connack>();
    CHECK(ack.return_code == connect_return_code::unacceptable_protocol_version);
    CHECK(c.wait_closed());
  }
  {
    raw_client c(s->port, s->ca);
    c.send(pingreq{});
    CHECK(c.wait_closed());
  }
}

TEST_CASE("persistent session: the subscription survives reconnects, clean session 1 drops it") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  {
    raw_client c(s->port, s->ca);
    const auto ack = c.connect_as(*s, "dev1", false);
    CHECK(ack.return_code == connect_return_code::accepted);
    CHECK_FALSE(ack.session_present);
    CHECK(c.subscribe_c2d("dev1").return_codes == std::vector{suback_return_code::granted_qos1});
    c.send(disconnect{});
    CHECK(c.wait_closed());
  }
  s->send_c2d("dev1", "while-offline");
  {
    // sdk-wire §1.3: reconnect without SUBSCRIBE (token renewal) and receive at once.
    raw_client c(s->port, s->ca);
    const auto ack = c.connect_as(*s, "dev1", false);
    CHECK(ack.session_present);
    const auto p = c.receive_as<publish>();
    CHECK(p.qos == qos_level::at_least_once);
    CHECK(p.topic.find("%24.mid=while-offline&") != std::string::npos);
    c.send(puback{p.packet_id});
    CHECK(eventually([&] { return s->queue("dev1").empty(); }));
    c.send(disconnect{});
  }
  s->send_c2d("dev1", "after-clean");
  {
    raw_client c(s->port, s->ca);
    const auto ack = c.connect_as(*s, "dev1", true);
    CHECK_FALSE(ack.session_present);
    // Nothing is delivered without a subscription: a PINGREQ round-trip proves the server
    // would have sent the PUBLISH before the PINGRESP (it sends right after CONNACK).
    c.send(pingreq{});
    CHECK(std::holds_alternative<pingresp>(*c.receive()));
    c.send(disconnect{});
  }
  {
    raw_client c(s->port, s->ca);
    CHECK_FALSE(c.connect_as(*s, "dev1", false).session_present);  // clean 1 removed it
  }
  CHECK(s->queue("dev1").size() == 1);
}

TEST_CASE("a disconnect releases the in-flight message: the next connection gets it again") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  s->send_c2d("dev1", "m-1");
  {
    raw_client c(s->port, s->ca);
    c.connect_as(*s, "dev1", false);
    c.subscribe_c2d("dev1");
    const auto p = c.receive_as<publish>();
    CHECK(p.topic.find("m-1") != std::string::npos);
    // No PUBACK: the connection goes away with the message in flight.
  }
  raw_client c(s->port, s->ca);
  CHECK(c.connect_as(*s, "dev1", false).session_present);
  const auto p = c.receive_as<publish>();
  CHECK(p.topic.find("m-1") != std::string::npos);
  c.send(puback{p.packet_id});
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
}

TEST_CASE("restart with a message in flight: nothing is lost, it is delivered again") {
  temp_dir dir;
  const auto data = dir.path / "data";
  {
    auto s = start_server({data});
    s->send_c2d("dev1", "survivor", "positive", {{"body", "keep me"}});
    raw_client c(s->port, s->ca);
    c.connect_as(*s, "dev1", false);
    c.subscribe_c2d("dev1");
    const auto p = c.receive_as<publish>();
    CHECK(p.payload == "keep me");
    CHECK(s->queue("dev1")[0]["state"] == "Invisible");
    s->kill9();  // between the delivery and its PUBACK
    CHECK(c.wait_closed());
  }
  auto s = start_server({data});  // same data directory, same CA
  CHECK(s->queue("dev1").size() == 1);
  raw_client c(s->port, s->ca);
  // The session (subscription) survived the restart too (spec §1.6).
  CHECK(c.connect_as(*s, "dev1", false).session_present);
  const auto p = c.receive_as<publish>();
  CHECK(p.topic.find("%24.mid=survivor&") != std::string::npos);
  CHECK(p.payload == "keep me");
  c.send(puback{p.packet_id});
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
  CHECK(eventually([&] { return s->feedback().size() == 1; }));
}

TEST_CASE("messages go out in order, one in flight at a time (window 1)") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  for (int i = 1; i <= 3; ++i) s->send_c2d("dev1", "m" + std::to_string(i));
  raw_client c(s->port, s->ca);
  c.connect_as(*s, "dev1", true);
  c.subscribe_c2d("dev1");
  for (int i = 1; i <= 3; ++i) {
    const auto p = c.receive_as<publish>();
    CHECK(p.topic.find("%24.mid=m" + std::to_string(i) + "&") != std::string::npos);
    // The window is full: nothing else arrives before the PUBACK.
    c.send(pingreq{});
    CHECK(std::holds_alternative<pingresp>(*c.receive()));
    c.send(puback{p.packet_id});
  }
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
}

TEST_CASE("a window of 3 sends three messages before any PUBACK") {
  temp_dir dir;
  auto s = start_server({dir.path / "data", {{"mqtt", {{"inflightWindow", 3}}}}});
  for (int i = 1; i <= 4; ++i) s->send_c2d("dev1", "m" + std::to_string(i));
  raw_client c(s->port, s->ca);
  c.connect_as(*s, "dev1", true);
  c.subscribe_c2d("dev1");
  std::vector<publish> got;
  for (int i = 0; i < 3; ++i) got.push_back(c.receive_as<publish>());
  c.send(pingreq{});
  CHECK(std::holds_alternative<pingresp>(*c.receive()));  // not a fourth PUBLISH
  c.send(puback{got[0].packet_id});
  CHECK(c.receive_as<publish>().topic.find("%24.mid=m4&") != std::string::npos);
}

TEST_CASE("QoS 0 subscription: PUBLISH QoS 0 completes the message on send") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  s->send_c2d("dev1", "q0", "positive");
  raw_client c(s->port, s->ca);
  c.connect_as(*s, "dev1", true);
  CHECK(c.subscribe_c2d("dev1", 1, qos_level::at_most_once).return_codes ==
        std::vector{suback_return_code::granted_qos0});
  const auto p = c.receive_as<publish>();
  CHECK(p.qos == qos_level::at_most_once);
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
  CHECK(eventually([&] { return s->feedback().size() == 1; }));
}

TEST_CASE("unknown $iothub subscriptions get 0x80; QoS 2 publish closes") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  c.connect_as(*s, "dev1", true);
  subscribe sub;
  sub.packet_id = 5;
  // The twin and method filters are granted (twin_test.cpp); any other $iothub filter is not
  // a topic IoT Hub offers.
  sub.subscriptions = {{"$iothub/unknown/#", qos_level::at_most_once}};
  c.send(sub);
  CHECK(c.receive_as<suback>().return_codes == std::vector{suback_return_code::failure});
  publish p;
  p.topic = "devices/dev1/messages/events/";
  p.qos = qos_level::exactly_once;
  p.packet_id = 9;
  c.send(p);
  CHECK(c.wait_closed());
  CHECK(s->telemetry().empty());
}

TEST_CASE("a disabled device is refused, and its open connection is closed") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client open(s->port, s->ca);
  REQUIRE(open.connect_as(*s, "dev3", false).return_code == connect_return_code::accepted);
  s->disable("dev3");
  CHECK(open.wait_closed());
  raw_client again(s->port, s->ca);
  CHECK(again.connect_as(*s, "dev3", false).return_code == connect_return_code::not_authorized);
  CHECK(again.wait_closed());
}

TEST_CASE("keep-alive: a silent client is closed after 1.5 x its keep-alive") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  c.connect_as(*s, "dev1", true, /*keep_alive=*/1);
  const auto start = clock::now();
  CHECK(c.wait_closed(10s));
  CHECK(clock::now() - start >= 1400ms);
}

// Clock travel (docs/test-control.md) reaches the MQTT gateway: a token expiry or a keep-alive
// deadline that the travel passes closes the connection at once, without waiting for the wall
// clock (issue 12: the gateway's timers used to run on the wall clock only).
TEST_CASE("clock travel: a token that expires in the travelled time closes the connection") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  // se = now + 60 s, accepted until se + 5 min of skew; keep-alive 0 = the 1767 s cap.
  REQUIRE(c.connect_as(*s, "dev1", true, /*keep_alive=*/0, s->token("dev1", {}, 60)).return_code ==
          connect_return_code::accepted);
  c.send(pingreq{});
  REQUIRE(std::holds_alternative<pingresp>(*c.receive()));
  s->request("POST", "/admin/clock/advance", json{{"seconds", 400}}, 200);
  CHECK(c.wait_closed(10s));
  CHECK(eventually([&] { return s->log().find("closed: token_expired") != std::string::npos; }));
}

TEST_CASE("clock travel: a keep-alive deadline passed by the travel closes the connection") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  // Keep-alive 60 s: closed when nothing arrives for 90 s (spec §3.3). The token lasts 3 h.
  REQUIRE(c.connect_as(*s, "dev1", true, /*keep_alive=*/60, s->token("dev1", {}, 3 * 3600))
              .return_code == connect_return_code::accepted);
  c.send(pingreq{});
  REQUIRE(std::holds_alternative<pingresp>(*c.receive()));
  s->request("POST", "/admin/clock/advance", json{{"seconds", 100}}, 200);
  CHECK(c.wait_closed(10s));
  CHECK(eventually([&] { return s->log().find("closed: keep_alive_timeout") != std::string::npos; }));
}

TEST_CASE("clock travel short of every deadline keeps the connection open") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  REQUIRE(c.connect_as(*s, "dev1", true, /*keep_alive=*/60, s->token("dev1", {}, 3 * 3600))
              .return_code == connect_return_code::accepted);
  s->request("POST", "/admin/clock/advance", json{{"seconds", 30}}, 200);
  // Still served after the travel: the PINGRESP comes on the same connection.
  c.send(pingreq{});
  const auto p = c.receive(10s);
  REQUIRE(p.has_value());
  CHECK(std::holds_alternative<pingresp>(*p));
  CHECK_FALSE(c.closed());
}

TEST_CASE("slowloris: no CONNECT, or no TLS handshake, within the time limit closes") {
  temp_dir dir;
  auto s = start_server(
      {dir.path / "data",
       {{"mqtt", {{"connectTimeoutSeconds", 0.5}, {"tlsHandshakeTimeoutSeconds", 0.5}}}}});
  {
    raw_client c(s->port, s->ca);  // TLS done, then silence
    CHECK(c.wait_closed(10s));
  }
  {
    raw_client c(s->port, s->ca, /*tls=*/false);  // TCP only, no ClientHello
    CHECK(c.wait_closed(10s));
  }
}

TEST_CASE("a packet above the maximum size is refused before its body arrives") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  c.connect_as(*s, "dev1", true);
  // PUBLISH QoS 0 header announcing 16 MB; no body follows.
  c.send_bytes({0x30, 0x80, 0x80, 0x80, 0x08});
  CHECK(c.wait_closed(10s));
}

TEST_CASE("pipelined packets behind CONNECT are answered after CONNACK") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  emu::mqtt::connect k;
  k.client_id = "dev1";
  k.clean_session = true;
  k.keep_alive = 60;
  k.username = s->username("dev1");
  k.password = s->token("dev1");
  auto bytes = encode(packet{k});
  subscribe sub;
  sub.packet_id = 3;
  sub.subscriptions = {{c2d_filter("dev1"), qos_level::at_least_once}};
  const auto more = encode(packet{sub});
  bytes.insert(bytes.end(), more.begin(), more.end());
  c.send_bytes(bytes);
  CHECK(c.receive_as<connack>().return_code == connect_return_code::accepted);
  CHECK(c.receive_as<suback>().packet_id == 3);
}

TEST_CASE("plain TCP only when enabled: the same rules on the plain listener") {
  temp_dir dir;
  auto s = start_server({dir.path / "data", {}, {"--mqtt-plain-port", "0"}});
  REQUIRE(s->plain_port != 0);
  raw_client c(s->plain_port, s->ca, /*tls=*/false);
  CHECK(c.connect_as(*s, "dev1", true).return_code == connect_return_code::accepted);
  c.send(pingreq{});
  CHECK(std::holds_alternative<pingresp>(*c.receive()));
}

TEST_CASE("a hub-policy token with DeviceConnect is accepted; telemetry is stamped scope hub") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const auto token =
      emu::core::make_sas_token(s->host_name, s->owner_key, "iothubowner", now + 600);
  raw_client c(s->port, s->ca);
  REQUIRE(c.connect_as(*s, "dev2", true, 60, token).return_code == connect_return_code::accepted);
  publish p;
  p.topic = "devices/dev2/messages/events/";
  p.qos = qos_level::at_least_once;
  p.packet_id = 1;
  p.payload = "x";
  c.send(p);
  CHECK(c.receive_as<puback>().packet_id == 1);
  const auto t = s->telemetry();
  REQUIRE(t.size() == 1);
  CHECK(t[0]["properties"].value("iothub-connection-auth-method", "") ==
        R"({"scope":"hub","type":"sas","issuer":"iothub"})");
}
