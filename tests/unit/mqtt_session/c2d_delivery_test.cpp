// C2D delivery over MQTT (spec §1.5, §1.6, §3.5): the hub pushes what the session's credit
// allows (core/device_sessions.hpp); the session PUBLISHes it and turns the PUBACK into the
// completion. Closing asks nothing of the session: the hub's end of the session gives the
// unacknowledged messages back.
#include <doctest/doctest.h>

#include "tests/unit/mqtt_session/session_harness.hpp"

using namespace emu;
using namespace emu::mqtt;
using namespace emu::mqtt::testing;

TEST_CASE("a delivered message goes out as QoS 1 PUBLISH; PUBACK completes it") {
  harness h;
  (void)h.subscribed();
  const auto d = h.delivery(10, 77);
  const auto out = h.s->on_delivery(d, 1, h.now);
  const auto pubs = sent_of<publish>(out);
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].qos == qos_level::at_least_once);
  CHECK(pubs[0].packet_id != 0);
  CHECK_FALSE(pubs[0].dup);
  CHECK_FALSE(pubs[0].retain);
  CHECK(pubs[0].topic == c2d_topic(d.message));
  CHECK(pubs[0].topic ==
        "devices/dev1/messages/devicebound/%24.mid=m1&%24.to=%2Fdevices%2Fdev1%2Fmessages%"
        "2Fdevicebound&color=blue%2Fgreen");
  CHECK(pubs[0].payload == "payload-10");
  CHECK(h.s->inflight_count() == 1);
  CHECK_FALSE(has<action::settle>(out));  // not before the PUBACK

  const auto acked = h.in(puback{pubs[0].packet_id});
  const auto settles = only<action::settle>(acked);
  REQUIRE(settles.size() == 1);
  CHECK(settles[0].seq == 10);
  CHECK(settles[0].lock_id == 77);
  CHECK(h.s->inflight_count() == 0);
}

TEST_CASE("several deliveries in flight (the hub's window) get distinct packet ids") {
  session_settings st;
  st.inflight_window = 3;
  harness h(st);
  (void)h.open();
  const auto auth = only<action::authenticate>(h.in(make_connect("dev1", true)));
  REQUIRE(auth.size() == 1);
  CHECK(auth[0].inflight_window == 3);  // the window goes to the hub, which holds the credit
  (void)h.s->on_auth_result(h.accepted(), h.now);
  (void)h.sub(make_subscribe(1, {{c2d_filter, qos_level::at_least_once}}));
  std::vector<std::uint16_t> ids;
  for (std::uint64_t seq = 1; seq <= 3; ++seq)
    ids.push_back(
        sent_of<publish>(h.s->on_delivery(h.delivery(seq, 100 + seq), 1, h.now)).at(0).packet_id);
  CHECK(ids[0] != ids[1]);
  CHECK(ids[1] != ids[2]);
  const auto acked = only<action::settle>(h.in(puback{ids[1]}));
  REQUIRE(acked.size() == 1);
  CHECK(acked[0].seq == 2);
}

TEST_CASE("a QoS 0 delivery is a QoS 0 PUBLISH; the hub completed it, nothing to settle") {
  harness h;
  (void)h.subscribed(qos_level::at_most_once);
  const auto out = h.s->on_delivery(h.delivery(5, 55), 0, h.now);
  const auto pubs = sent_of<publish>(out);
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].qos == qos_level::at_most_once);
  CHECK(pubs[0].packet_id == 0);
  CHECK_FALSE(has<action::settle>(out));
  CHECK(h.s->inflight_count() == 0);
}

TEST_CASE(
    "closing asks nothing for the messages in flight (the hub's session end gives them back)") {
  harness h;
  (void)h.subscribed();
  (void)h.s->on_delivery(h.delivery(1, 11), 1, h.now);
  SUBCASE("the peer went away") {
    const auto out = h.s->close(close_reason::connection_lost, h.now);
    CHECK(out.empty());
  }
  SUBCASE("DISCONNECT") {
    const auto out = h.in(disconnect{});
    CHECK(closed_with(out) == close_reason::client_disconnect);
    CHECK_FALSE(has<action::settle>(out));
  }
}

TEST_CASE("a delivery that arrives after the connection closed is not sent") {
  harness h;
  (void)h.subscribed();
  (void)h.s->close(close_reason::taken_over, h.now);
  CHECK(h.s->on_delivery(h.delivery(3, 33), 1, h.now).empty());
}

TEST_CASE("a PUBACK for an unknown packet id is ignored") {
  harness h;
  (void)h.subscribed();
  CHECK(h.in(puback{999}).empty());
}

TEST_CASE("a redelivery after a lock timeout gets a new packet id; a late PUBACK still settles") {
  harness h;
  (void)h.subscribed();
  const auto first = sent_of<publish>(h.s->on_delivery(h.delivery(1, 11), 1, h.now)).at(0);
  // 60 s later the hub's lock timed out and it delivers the message again, with a new lock.
  h.now += 61s;
  const auto second = sent_of<publish>(h.s->on_delivery(h.delivery(1, 12), 1, h.now)).at(0);
  CHECK(second.packet_id != first.packet_id);
  // The late PUBACK of the first delivery settles the old lock: the hub answers lock lost.
  const auto late = only<action::settle>(h.in(puback{first.packet_id}));
  REQUIRE(late.size() == 1);
  CHECK(late[0].lock_id == 11);
  const auto ok = only<action::settle>(h.in(puback{second.packet_id}));
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].lock_id == 12);
}

TEST_CASE("deliveries never PUBACKed are forgotten beyond the window plus 64") {
  harness h;  // window 1
  (void)h.subscribed();
  std::vector<std::uint16_t> ids;
  for (std::uint64_t i = 1; i <= 70; ++i)
    ids.push_back(sent_of<publish>(h.s->on_delivery(h.delivery(i, i), 1, h.now)).at(0).packet_id);
  CHECK(h.s->inflight_count() == 65);
  CHECK(h.in(puback{ids[0]}).empty());  // the oldest ones are gone
  CHECK(only<action::settle>(h.in(puback{ids[69]})).size() == 1);
}

TEST_CASE("packet ids are never 0 and skip ids still in flight") {
  session_settings st;
  st.inflight_window = 1000;
  harness h(st);
  (void)h.subscribed();
  std::set<std::uint16_t> seen;
  for (std::uint64_t i = 1; i <= 70000; ++i) {
    const auto out = h.s->on_delivery(h.delivery(i, i), 1, h.now);
    const auto id = sent_of<publish>(out).at(0).packet_id;
    REQUIRE(id != 0);
    if (i <= 5) {
      seen.insert(id);  // keep the first five in flight
    } else {
      REQUIRE_FALSE(seen.contains(id));
      (void)h.in(puback{id});
    }
  }
}
