// C2D delivery (spec §1.5, §1.6, §3.5): lock → PUBLISH → PUBACK = complete; window; QoS 0
// completes on send; closing releases every lock.
#include <doctest/doctest.h>

#include "tests/unit/mqtt_session/session_harness.hpp"

using namespace emu;
using namespace emu::mqtt;
using namespace emu::mqtt::testing;

TEST_CASE("a locked message goes out as QoS 1 PUBLISH; PUBACK completes it") {
  harness h;
  REQUIRE(only<action::lock_next>(h.subscribed()).size() == 1);
  const auto d = h.delivery(10, 77);
  const auto out = h.s->on_delivery(d, h.now);
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
  // Window of 1 is full: no new lock, even when the hub says more is available.
  CHECK_FALSE(has<action::lock_next>(out));
  CHECK_FALSE(has<action::lock_next>(h.s->on_c2d_available(h.now)));

  const auto acked = h.in(puback{pubs[0].packet_id});
  const auto settles = only<action::settle>(acked);
  REQUIRE(settles.size() == 1);
  CHECK(settles[0].seq == 10);
  CHECK(settles[0].lock_id == 77);
  CHECK(has<action::lock_next>(acked));
  CHECK(h.s->inflight_count() == 0);
}

TEST_CASE("an empty queue stops locking until the hub announces a message") {
  harness h;
  (void)h.subscribed();
  CHECK(h.s->on_delivery(std::nullopt, h.now).empty());
  CHECK(only<action::lock_next>(h.s->on_c2d_available(h.now)).size() == 1);
  // Only one lock request at a time.
  CHECK_FALSE(has<action::lock_next>(h.s->on_c2d_available(h.now)));
}

TEST_CASE("a window of 3 keeps three messages in flight, in order") {
  session_settings st;
  st.inflight_window = 3;
  harness h(st);
  (void)h.subscribed();
  std::vector<std::uint16_t> ids;
  for (std::uint64_t seq = 1; seq <= 3; ++seq) {
    const auto out = h.s->on_delivery(h.delivery(seq, 100 + seq), h.now);
    ids.push_back(sent_of<publish>(out).at(0).packet_id);
    CHECK(has<action::lock_next>(out) == (seq < 3));
  }
  CHECK(ids[0] != ids[1]);
  CHECK(ids[1] != ids[2]);
  const auto acked = h.in(puback{ids[1]});
  CHECK(only<action::settle>(acked).at(0).seq == 2);
  CHECK(has<action::lock_next>(acked));
}

TEST_CASE("a QoS 0 subscription gets QoS 0 PUBLISH and completes on send") {
  harness h;
  (void)h.subscribed(qos_level::at_most_once);
  const auto out = h.s->on_delivery(h.delivery(5, 55), h.now);
  const auto pubs = sent_of<publish>(out);
  REQUIRE(pubs.size() == 1);
  CHECK(pubs[0].qos == qos_level::at_most_once);
  CHECK(pubs[0].packet_id == 0);
  REQUIRE(only<action::settle>(out).size() == 1);
  CHECK(only<action::settle>(out)[0].seq == 5);
  CHECK(h.s->inflight_count() == 0);
  CHECK(has<action::lock_next>(out));
}

TEST_CASE("closing releases every in-flight lock (spec §1.6)") {
  session_settings st;
  st.inflight_window = 2;
  harness h(st);
  (void)h.subscribed();
  (void)h.s->on_delivery(h.delivery(1, 11), h.now);
  (void)h.s->on_delivery(h.delivery(2, 22), h.now);
  SUBCASE("the peer went away") {
    const auto out = h.s->close(close_reason::connection_lost, h.now);
    const auto rel = only<action::release>(out);
    REQUIRE(rel.size() == 2);
    CHECK(rel[0].seq == 1);
    CHECK(rel[0].lock_id == 11);
    CHECK(rel[1].seq == 2);
    CHECK_FALSE(has<action::close>(out));  // the owner is already closing
  }
  SUBCASE("DISCONNECT") {
    const auto out = h.in(disconnect{});
    CHECK(closed_with(out) == close_reason::client_disconnect);
    CHECK(only<action::release>(out).size() == 2);
  }
  SUBCASE("a protocol error") {
    const auto out = h.in(pubcomp{1});
    CHECK(closed_with(out) == close_reason::protocol_error);
    CHECK(only<action::release>(out).size() == 2);
  }
}

TEST_CASE("a message locked for a connection that closed meanwhile is released") {
  harness h;
  (void)h.subscribed();
  (void)h.s->close(close_reason::taken_over, h.now);
  const auto out = h.s->on_delivery(h.delivery(3, 33), h.now);
  CHECK(sent(out).empty());
  REQUIRE(only<action::release>(out).size() == 1);
  CHECK(only<action::release>(out)[0].lock_id == 33);
}

TEST_CASE("a message locked after UNSUBSCRIBE is released, not sent") {
  harness h;
  (void)h.subscribed();
  unsubscribe u;
  u.packet_id = 2;
  u.filters = {c2d_filter};
  (void)h.in(u);
  const auto out = h.s->on_delivery(h.delivery(3, 33), h.now);
  CHECK(sent(out).empty());
  CHECK(only<action::release>(out).size() == 1);
}

TEST_CASE("a PUBACK for an unknown packet id is ignored") {
  harness h;
  (void)h.subscribed();
  CHECK(h.in(puback{999}).empty());
}

TEST_CASE("a timed-out lock frees its window slot; a late PUBACK still settles (lock lost)") {
  harness h;
  (void)h.subscribed();
  const auto first = sent_of<publish>(h.s->on_delivery(h.delivery(1, 11), h.now)).at(0);
  // 60 s later the hub has re-enqueued the message and announces it again.
  h.now += 61s;
  const auto again = h.s->on_c2d_available(h.now);
  REQUIRE(has<action::lock_next>(again));
  const auto second = sent_of<publish>(h.s->on_delivery(h.delivery(1, 12), h.now)).at(0);
  CHECK(second.packet_id != first.packet_id);
  // The late PUBACK of the first delivery settles the old lock: the hub answers lock lost,
  // which the server ignores.
  const auto late = only<action::settle>(h.in(puback{first.packet_id}));
  REQUIRE(late.size() == 1);
  CHECK(late[0].lock_id == 11);
  const auto ok = only<action::settle>(h.in(puback{second.packet_id}));
  REQUIRE(ok.size() == 1);
  CHECK(ok[0].lock_id == 12);
}

TEST_CASE("packet ids are never 0 and skip ids still in flight") {
  session_settings st;
  st.inflight_window = 1000;
  harness h(st);
  (void)h.subscribed();
  std::set<std::uint16_t> seen;
  for (std::uint64_t i = 1; i <= 70000; ++i) {
    const auto out = h.s->on_delivery(h.delivery(i, i), h.now);
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
