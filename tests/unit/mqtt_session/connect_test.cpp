// CONNECT rules of the MQTT session (spec §3.2, §3.3; MQTT 3.1.1 §3.1): packets in, actions out.
#include <doctest/doctest.h>

#include "tests/unit/mqtt_session/session_harness.hpp"

using namespace emu;
using namespace emu::mqtt;
using namespace emu::mqtt::testing;

namespace {

/// Feeds CONNECT `c` to a fresh session and expects CONNACK `code` followed by a close.
void expect_refused(connect c, connect_return_code code = connect_return_code::not_authorized) {
  harness h;
  (void)h.open();
  const auto out = h.in(std::move(c));
  CHECK_FALSE(has<action::authenticate>(out));
  const auto acks = sent_of<connack>(out);
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].return_code == code);
  CHECK_FALSE(acks[0].session_present);  // MQTT-3.2.2-4
  CHECK(has<action::close>(out));
  CHECK(h.s->current_phase() == session::phase::closed);
}

}  // namespace

TEST_CASE("the first packet must be CONNECT (MQTT-3.1.0-1)") {
  harness h;
  (void)h.open();
  const auto out = h.in(pingreq{});
  CHECK(sent(out).empty());
  CHECK(closed_with(out) == close_reason::not_connect_first);
  CHECK(h.s->current_phase() == session::phase::closed);
  // Nothing happens after the close.
  CHECK(h.in(pingreq{}).empty());
}

TEST_CASE("a connection that does not send CONNECT in time is closed (slowloris)") {
  session_settings st;
  st.connect_timeout = 5s;
  harness h(st);
  const auto opened = h.open();
  const auto timers = only<action::set_timer>(opened);
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].at == h.now + 5s);

  h.now += 4s;  // an early (spurious) wake-up re-arms at the same deadline
  auto early = h.s->on_timer(h.now);
  CHECK_FALSE(has<action::close>(early));
  REQUIRE(only<action::set_timer>(early).size() == 1);
  CHECK(only<action::set_timer>(early)[0].at == h.now + 1s);

  h.now += 1s;
  CHECK(closed_with(h.s->on_timer(h.now)) == close_reason::connect_timeout);
}

TEST_CASE("a valid CONNECT asks the hub to authenticate and waits") {
  harness h;
  (void)h.open();
  const auto out = h.in(make_connect("dev1", false));
  const auto auth = only<action::authenticate>(out);
  REQUIRE(auth.size() == 1);
  CHECK(auth[0].device_id == "dev1");
  CHECK(auth[0].password == token);
  CHECK_FALSE(auth[0].clean_session);
  CHECK(sent(out).empty());  // no CONNACK before the hub answered
  CHECK_FALSE(h.s->accepting_packets());
  CHECK(h.s->current_phase() == session::phase::authenticating);
}

TEST_CASE("user name variants of spec §3.2 are accepted; host and device id must match") {
  const std::vector<std::string> good = {
      node_username,
      "localhost/dev1/?api-version=2020-09-30&DeviceClientType=iothubclient%2F1.11.0",
      "LocalHost/dev1/?api-version=2021-04-12",       // host compared case-insensitively
      "localhost:8883/dev1/?api-version=2021-04-12",  // with a port (sdk-wire §8)
      "localhost/dev1/api-version=2016-11-14",        // legacy form without '?'
      "localhost/dev1/",                              // no query at all
  };
  for (const auto& u : good) {
    CAPTURE(u);
    harness h;
    (void)h.open();
    auto c = make_connect();
    c.username = u;
    CHECK(has<action::authenticate>(h.in(std::move(c))));
  }
  const std::vector<std::string> bad = {
      "otherhub/dev1/?api-version=2021-04-12",  // another hub
      "localhost.evil/dev1/?api-version=2021-04-12",
      "localhost:abc/dev1/?api-version=2021-04-12",   // not a port
      "localhost/dev2/?api-version=2021-04-12",       // device id differs from the client id
      "localhost/DEV1/?api-version=2021-04-12",       // ids are case-sensitive
      "localhost/dev1/mod1/?api-version=2021-04-12",  // a module's, for the device's client id
      "localhost",                                    // no device id
      "/dev1/?api-version=2021-04-12",                // no host
  };
  for (const auto& u : bad) {
    CAPTURE(u);
    auto c = make_connect();
    c.username = u;
    expect_refused(std::move(c));
  }
}

TEST_CASE("CONNECT refusals answer CONNACK 5 and close (spec §3.3)") {
  SUBCASE("no user name") {
    auto c = make_connect();
    c.username.reset();
    c.password.reset();
    expect_refused(std::move(c));
  }
  SUBCASE("no password (X.509 is not supported)") {
    auto c = make_connect();
    c.password.reset();
    expect_refused(std::move(c));
  }
  SUBCASE("empty password") {
    auto c = make_connect();
    c.password = "";
    expect_refused(std::move(c));
  }
  SUBCASE("module client id whose user name names the device or another module") {
    for (const std::string u : {"localhost/dev1/?api-version=2021-04-12",
                                "localhost/dev1/mod2/?api-version=2021-04-12",
                                "localhost/dev2/mod1/?api-version=2021-04-12"}) {
      CAPTURE(u);
      auto c = make_connect("dev1/mod1");
      c.username = u;
      expect_refused(std::move(c));
    }
  }
  SUBCASE("malformed module client ids") {
    for (const std::string id : {"dev1/mod1/x", "/mod1", "dev1/"}) {
      CAPTURE(id);
      auto c = make_connect(id);
      c.username = "localhost/" + id + "/?api-version=2021-04-12";
      expect_refused(std::move(c));
    }
  }
  SUBCASE("empty client id with a clean session") {
    auto c = make_connect("", true);
    expect_refused(std::move(c));
  }
  SUBCASE("a Will that is not this device's telemetry") {
    auto c = make_connect();
    c.will = will_message{"devices/dev2/messages/events/", "bye", qos_level::at_most_once, false};
    expect_refused(std::move(c));
  }
}

TEST_CASE("a module connects as {deviceId}/{moduleId} with the user name naming both (issue 16)") {
  harness h;
  (void)h.open();
  auto c = make_connect("dev1/mod1");
  c.username = "localhost/dev1/mod1/?api-version=2021-04-12&DeviceClientType=x";
  const auto auth = only<action::authenticate>(h.in(std::move(c)));
  REQUIRE(auth.size() == 1);
  CHECK(auth[0].device_id == "dev1/mod1");
}

TEST_CASE("decoder refusals of CONNECT: protocol level → CONNACK 1, empty persistent id → 2") {
  {
    harness h;
    (void)h.open();
    const auto out = h.s->on_decode_error(decode_error::unsupported_protocol_level, h.now);
    REQUIRE(sent_of<connack>(out).size() == 1);
    CHECK(sent_of<connack>(out)[0].return_code ==
          connect_return_code::unacceptable_protocol_version);
    CHECK(closed_with(out) == close_reason::unsupported_protocol);
  }
  {
    harness h;
    (void)h.open();
    const auto out = h.s->on_decode_error(decode_error::empty_client_id_persistent_session, h.now);
    REQUIRE(sent_of<connack>(out).size() == 1);
    CHECK(sent_of<connack>(out)[0].return_code == connect_return_code::identifier_rejected);
  }
  {
    harness h;
    (void)h.open();
    const auto out = h.s->on_decode_error(decode_error::truncated, h.now);
    CHECK(sent(out).empty());
    CHECK(closed_with(out) == close_reason::protocol_error);
  }
  {
    // After CONNECT a bad protocol level is just a protocol error.
    harness h;
    (void)h.connected();
    const auto out = h.s->on_decode_error(decode_error::unsupported_protocol_level, h.now);
    CHECK(sent(out).empty());
    CHECK(closed_with(out) == close_reason::protocol_error);
  }
}

TEST_CASE("the hub's answer: refused → CONNACK 5, store failure → CONNACK 3") {
  {
    harness h;
    (void)h.open();
    (void)h.in(make_connect());
    auth_result r;
    r.result = auth_result::outcome::refused;
    r.reason = "The SAS token's signature does not match.";
    const auto out = h.s->on_auth_result(r, h.now);
    REQUIRE(sent_of<connack>(out).size() == 1);
    CHECK(sent_of<connack>(out)[0].return_code == connect_return_code::not_authorized);
    CHECK(closed_with(out) == close_reason::not_authorized);
    CHECK(only<action::close>(out)[0].detail == r.reason);
  }
  {
    harness h;
    (void)h.open();
    (void)h.in(make_connect());
    auth_result r;
    r.result = auth_result::outcome::store_failed;
    const auto out = h.s->on_auth_result(r, h.now);
    CHECK(sent_of<connack>(out)[0].return_code == connect_return_code::server_unavailable);
    CHECK(closed_with(out) == close_reason::server_unavailable);
  }
}

TEST_CASE("session present: a stored subscription resumes with clean session 0 only") {
  SUBCASE("clean 0 with a stored subscription: CONNACK sp=1, delivery starts at once") {
    harness h;
    const auto out = h.connected(make_connect("dev1", false), 1);
    const auto acks = sent_of<connack>(out);
    REQUIRE(acks.size() == 1);
    CHECK(acks[0].session_present);
    CHECK(acks[0].return_code == connect_return_code::accepted);
    // sdk-wire §1.3: no SUBSCRIBE after a token-renewal reconnect; the hub delivers at once.
    CHECK(h.s->subscription_qos() == 1);
    CHECK(h.s->epoch() == 42);
  }
  SUBCASE("clean 0 without one: sp=0, nothing to deliver to") {
    harness h;
    const auto out = h.connected(make_connect("dev1", false), std::nullopt);
    CHECK_FALSE(sent_of<connack>(out)[0].session_present);
    CHECK_FALSE(h.s->subscription_qos().has_value());
  }
  SUBCASE("clean 1: starts fresh even if the hub still had one") {
    harness h;
    (void)h.open();
    const auto a = h.in(make_connect("dev1", true));
    CHECK(only<action::authenticate>(a)[0].clean_session);
    const auto out = h.s->on_auth_result(h.accepted(1), h.now);
    CHECK_FALSE(sent_of<connack>(out)[0].session_present);
    CHECK_FALSE(h.s->subscription_qos().has_value());
  }
}

TEST_CASE("a second CONNECT closes the connection (MQTT-3.1.0-2)") {
  harness h;
  (void)h.connected();
  CHECK(closed_with(h.in(make_connect())) == close_reason::second_connect);
}

TEST_CASE("packets pipelined behind CONNECT are handled after CONNACK") {
  harness h;
  (void)h.open();
  (void)h.in(make_connect("dev1", true));
  CHECK(h.in(make_subscribe(7, {{c2d_filter, qos_level::at_least_once}})).empty());
  CHECK(h.in(pingreq{}).empty());
  const auto out = h.s->on_auth_result(h.accepted(), h.now);
  const auto packets = sent(out);
  REQUIRE(packets.size() == 2);
  CHECK(std::holds_alternative<connack>(packets[0]));
  CHECK(std::holds_alternative<pingresp>(packets[1]));
  // The subscription goes to the hub; its SUBACK follows the hub's answer.
  REQUIRE(only<action::store_subscription>(out).size() == 1);
  const auto acks = sent_of<suback>(h.s->on_subscription_stored(true, h.now));
  REQUIRE(acks.size() == 1);
  CHECK(acks[0].packet_id == 7);
}

TEST_CASE("too many packets before CONNACK close the connection") {
  session_settings st;
  st.max_pending_packets = 2;
  harness h(st);
  (void)h.open();
  (void)h.in(make_connect());
  CHECK(h.in(pingreq{}).empty());
  CHECK(h.in(pingreq{}).empty());
  CHECK(closed_with(h.in(pingreq{})) == close_reason::too_many_pending);
}

TEST_CASE("packets a client must not send close the connection") {
  for (packet p : std::vector<packet>{connack{}, suback{1, {suback_return_code::granted_qos1}},
                                      unsuback{1}, pingresp{}, pubrec{1}, pubrel{1}, pubcomp{1}}) {
    harness h;
    (void)h.connected();
    CHECK(closed_with(h.in(p)) == close_reason::protocol_error);
  }
}

TEST_CASE("PINGREQ is answered with PINGRESP") {
  harness h;
  (void)h.connected();
  const auto out = h.in(pingreq{});
  REQUIRE(sent(out).size() == 1);
  CHECK(std::holds_alternative<pingresp>(sent(out)[0]));
}
