// The per-identity bound on connects (issue 20 item 5, core/device_connect_limit.hpp): a
// burst, a refill rate in hub time, refusals as throttling that count nothing, identities
// independent of each other, memory that follows the identities connecting now; and the hub
// refusing a reconnect loop after authentication only.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "emulator/core/device_connect_limit.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;
using namespace std::chrono_literals;

TEST_CASE("a burst passes, then connects pass at the rate, refilled in hub time") {
  device_connect_limit limit{{2.0, 5}};  // 5 at once, then 2 a second
  time_point now{};
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(limit.admit("dev1", now));
  auto refused = limit.admit("dev1", now);
  REQUIRE(refused);
  CHECK(refused->code == hub_error::throttled);
  CHECK(refused->message.find("'dev1' connects too often") != std::string::npos);
  CHECK(refused->message.find("retry in 500 ms") != std::string::npos);
  CHECK(limit.refused() == 1);
  // A refused connect took nothing: half a second later exactly one passes.
  now += 500ms;
  CHECK_FALSE(limit.admit("dev1", now));
  CHECK(limit.admit("dev1", now));
  // Ten seconds at 10 attempts a second: 2 a second pass.
  int passed = 0;
  for (int i = 0; i < 100; ++i) {
    now += 100ms;
    passed += limit.admit("dev1", now) ? 0 : 1;
  }
  CHECK(passed == 20);
  // Idle long enough, the whole burst is back, no more.
  now += 1h;
  for (int i = 0; i < 5; ++i) REQUIRE_FALSE(limit.admit("dev1", now));
  CHECK(limit.admit("dev1", now));
}

TEST_CASE("identities are bounded each on their own") {
  device_connect_limit limit{{1.0, 3}};
  const time_point now{};
  for (int i = 0; i < 3; ++i) REQUIRE_FALSE(limit.admit("storm", now));
  CHECK(limit.admit("storm", now));
  CHECK_FALSE(limit.admit("calm", now));
  CHECK_FALSE(limit.admit("storm/module", now));  // a module is its own identity
}

TEST_CASE("memory follows the identities connecting now: full buckets are dropped") {
  device_connect_limit limit{{10.0, 100}};
  time_point now{};
  for (int i = 0; i < 5000; ++i) REQUIRE_FALSE(limit.admit("d" + std::to_string(i), now));
  CHECK(limit.tracked() <= 5000);
  // A minute later every bucket is full again: the next sweep (when the map has doubled since
  // the last one) drops them; what is left are the identities of the last minute.
  now += 1min;
  for (int i = 0; i < 4000; ++i) REQUIRE_FALSE(limit.admit("e" + std::to_string(i), now));
  CHECK(limit.tracked() == 4000);
}

TEST_CASE("the hub refuses an identity's reconnect loop as throttled, others connect") {
  auto settings = test_settings();
  settings.device_connects = {1.0, 10};
  fixture f(std::move(settings));
  device_spec spec;
  spec.id = "dev2";
  REQUIRE(f.h.create_device(spec, f.now).ok());
  const auto token2 = [&] {
    const auto se = std::chrono::duration_cast<std::chrono::seconds>(f.now.time_since_epoch()) + 1h;
    return make_sas_token("testhub.localhost/devices/dev2", f.h.find_device("dev2")->primary_key,
                          "", se.count());
  };
  for (int i = 0; i < 10; ++i) (void)f.connect();
  auto g = f.h.connect_device(session_request{"dev1", f.token(), false, 1, nullptr}, f.now);
  REQUIRE_FALSE(g.ok());
  CHECK(g.error().code == hub_error::throttled);
  CHECK(f.h.statistics().connects_refused == 1);
  // A wrong token is refused as unauthorised and does not count.
  auto wrong = f.h.connect_device(session_request{"dev2", f.token(), false, 1, nullptr}, f.now);
  REQUIRE_FALSE(wrong.ok());
  CHECK(wrong.error().code != hub_error::throttled);
  CHECK(f.h.connect_device(session_request{"dev2", token2(), false, 1, nullptr}, f.now).ok());
  // A second later dev1 connects again.
  f.tick(1s);
  CHECK(f.h.connect_device(session_request{"dev1", f.token(), false, 1, nullptr}, f.now).ok());
}
