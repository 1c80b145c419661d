// Keep-alive and token expiry (spec §3.3): deadlines as timer actions, closes as close actions.
#include <doctest/doctest.h>

#include "tests/unit/mqtt_session/session_harness.hpp"

using namespace emu;
using namespace emu::mqtt;
using namespace emu::mqtt::testing;

TEST_CASE("keep-alive is enforced at 1.5 x the client's value") {
  harness h;
  const auto out = h.connected(make_connect("dev1", false, 60));
  CHECK(h.s->keep_alive_timeout() == 90s);
  const auto timers = only<action::set_timer>(out);
  REQUIRE(timers.size() == 1);
  CHECK(timers[0].at == h.now + 90s);

  // Traffic at +50 s moves the deadline: the timer firing at +90 s re-arms for +140 s.
  h.now += 50s;
  (void)h.in(pingreq{});
  h.now += 40s;
  const auto fired = h.s->on_timer(h.now);
  CHECK_FALSE(has<action::close>(fired));
  REQUIRE(only<action::set_timer>(fired).size() == 1);
  CHECK(only<action::set_timer>(fired)[0].at == h.now + 50s);

  h.now += 50s;
  CHECK(closed_with(h.s->on_timer(h.now)) == close_reason::keep_alive_timeout);
}

TEST_CASE("keep-alive is capped at 1767 s; keep-alive 0 gets the cap") {
  {
    harness h;
    (void)h.connected(make_connect("dev1", false, 2000));
    CHECK(h.s->keep_alive_timeout() == 1767s);
  }
  {
    harness h;
    (void)h.connected(make_connect("dev1", false, 1177));  // the largest useful value
    CHECK(h.s->keep_alive_timeout() == 1765500ms);
  }
  {
    harness h;
    (void)h.connected(make_connect("dev1", false, 0));
    CHECK(h.s->keep_alive_timeout() == 1767s);
  }
}

TEST_CASE("the connection is closed when the token's grant expires") {
  harness h;
  (void)h.open();
  (void)h.in(make_connect("dev1", false, 60));
  auto r = h.accepted();
  r.expiry = h.now + 30s;
  const auto out = h.s->on_auth_result(r, h.now);
  REQUIRE(only<action::set_timer>(out).size() == 1);
  CHECK(only<action::set_timer>(out)[0].at == h.now + 30s);
  h.now += 30s;
  CHECK(closed_with(h.s->on_timer(h.now)) == close_reason::token_expired);
}

TEST_CASE("no timer is re-requested for an unchanged deadline") {
  harness h;
  (void)h.connected(make_connect("dev1", false, 60));
  h.now += 10s;
  // Packets do not re-arm the timer (it re-arms lazily when it fires).
  CHECK_FALSE(has<action::set_timer>(h.in(pingreq{})));
}
