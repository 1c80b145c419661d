// Throttles and the daily quota of a tier (issue 17 item 3, spec §6.1): tiers, rates, the
// minute-deep token bucket and the quota's meter and 00:00 UTC reset, all in hub time; and the
// hub operations that count against them.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "emulator/core/throttling.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

hub_settings tier_settings(const char* tier) {
  auto s = test_settings();
  s.throttling = parse_throttling_tier(tier);
  REQUIRE(s.throttling.has_value());
  return s;
}

}  // namespace

TEST_CASE("tiers: F1, S1-S3 with units, B1-B3 as S1-S3; anything else is refused") {
  CHECK(parse_throttling_tier("S1") == throttling_tier{"S1", 1});
  CHECK(parse_throttling_tier("s2:4") == throttling_tier{"S2", 4});
  CHECK(parse_throttling_tier("B3:2") == throttling_tier{"S3", 2});
  CHECK(parse_throttling_tier("F1") == throttling_tier{"F1", 1});
  for (const char* bad : {"", "S4", "F1:2", "S1:0", "S1:201", "S1:", "S1:x", "P1", "S1:2:3"})
    CHECK_FALSE_MESSAGE(parse_throttling_tier(bad).has_value(), bad);
}

TEST_CASE("rates and quotas of spec §6.1") {
  const throttling_tier s1{"S1", 1}, s1x20{"S1", 20}, s2x2{"S2", 2}, s3{"S3", 1}, f1{"F1", 1};
  CHECK(throttle_rate(s1, throttled_operation::d2c_send) == 100);
  CHECK(throttle_rate(s1x20, throttled_operation::d2c_send) == 240);
  CHECK(throttle_rate(s2x2, throttled_operation::device_connect) == 240);
  CHECK(throttle_rate(s3, throttled_operation::d2c_send) == 6000);
  CHECK(throttle_rate(f1, throttled_operation::c2d_send) == doctest::Approx(100.0 / 60));
  CHECK(throttle_rate(s3, throttled_operation::registry) == doctest::Approx(5000.0 / 60));
  CHECK(throttle_rate(s1, throttled_operation::c2d_receive) == doctest::Approx(1000.0 / 60));
  CHECK(daily_message_quota(f1) == 8000);
  CHECK(daily_message_quota(s1x20) == 8'000'000);
  CHECK(daily_message_quota(s2x2) == 12'000'000);
  CHECK(quota_meter_bytes(f1) == 512);
  CHECK(quota_meter_bytes(s1) == 4096);
}

TEST_CASE("without a tier nothing is ever refused") {
  hub_throttles t{std::nullopt};
  const time_point now{};
  for (int i = 0; i < 10'000; ++i) REQUIRE_FALSE(t.admit(throttled_operation::registry, now));
  CHECK_FALSE(t.count_message(1 << 30, now));
}

TEST_CASE("a bucket holds a minute of the rate and refills in hub time") {
  hub_throttles t{throttling_tier{"S1", 1}};  // registry: 100 a minute
  time_point now = time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
  for (int i = 0; i < 100; ++i) REQUIRE_FALSE(t.admit(throttled_operation::registry, now));
  const auto refused = t.admit(throttled_operation::registry, now);
  REQUIRE(refused.has_value());
  CHECK(refused->code == hub_error::throttled);
  CHECK(error_number(refused->code) == 429001);
  CHECK(t.refused(throttled_operation::registry) == 1);
  // Other operations have buckets of their own.
  CHECK_FALSE(t.admit(throttled_operation::d2c_send, now));
  // 0.6 s later one more (100 a minute), then not again.
  now += std::chrono::milliseconds(600);
  CHECK_FALSE(t.admit(throttled_operation::registry, now));
  CHECK(t.admit(throttled_operation::registry, now).has_value());
  // An hour later: full again, not more than a minute's worth.
  now += std::chrono::hours(1);
  int passed = 0;
  while (!t.admit(throttled_operation::registry, now) && passed < 1000) ++passed;
  CHECK(passed == 100);
}

TEST_CASE("the daily quota counts meter units and resets at 00:00 UTC") {
  hub_throttles t{throttling_tier{"F1", 1}};  // 8000 units of 512 bytes
  time_point now =
      time_point{std::chrono::sys_days{std::chrono::year{2026} / 3 / 1}} + std::chrono::hours(23);
  CHECK_FALSE(t.count_message(0, now));    // at least one unit
  CHECK_FALSE(t.count_message(513, now));  // two
  CHECK(t.quota_used() == 3);
  for (int i = 0; i < 7996; ++i) REQUIRE_FALSE(t.count_message(100, now));
  CHECK_FALSE(t.quota_exhausted(now));  // one unit left
  REQUIRE_FALSE(t.count_message(100, now));
  CHECK(t.quota_exhausted(now).has_value());                    // MQTT connections are refused now
  CHECK_FALSE(t.quota_exhausted(now + std::chrono::hours(1)));  // the next day
  const auto over = t.count_message(1, now);
  REQUIRE(over.has_value());
  CHECK(over->code == hub_error::quota_exceeded);
  CHECK(error_number(over->code) == 403002);
  CHECK(t.quota_used() == 8000);  // the refused message was not counted
  CHECK(t.quota_refused() == 1);
  now += std::chrono::minutes(59);  // 23:59 the same day
  CHECK(t.count_message(1, now).has_value());
  now += std::chrono::minutes(1);  // 00:00 UTC
  CHECK_FALSE(t.count_message(1, now));
  CHECK(t.quota_used() == 1);
}

TEST_CASE(
    "hub operations count against their throttles: telemetry, C2D sends, connections, twins, "
    "methods") {
  fixture f(tier_settings("F1"));
  // C2D sends: 100 a minute on F1 (the queue's 50 fill first: spread over time with expiry).
  int sent = 0;
  for (int i = 0; i < 120; ++i) {
    auto r = f.h.enqueue("dev1", f.msg("m" + std::to_string(i)), f.now);
    if (r) {
      ++sent;
      (void)f.h.purge("dev1", f.now);
    } else {
      CHECK(r.error().code == hub_error::throttled);
      break;
    }
  }
  CHECK(sent == 100);
  // Connections: 100 a second, 6000 in the bucket; the refusal says so.
  auto g = f.h.connect_device(session_request{"dev1", f.token(), false, 1, nullptr}, f.now);
  CHECK(g.ok());
  // Telemetry past the quota: refused and not stored.
  const std::string big(256 * 1024, 'x');  // 512 units
  int stored = 0;
  for (int i = 0; i < 20; ++i) stored += f.h.record_telemetry("dev1", {}, big, f.now).ok() ? 1 : 0;
  CHECK(stored == 15);  // 15 x 512 = 7680 of 8000 (minus the 100 C2D units: 7900 left)
  CHECK(f.h.telemetry().size() == 15);
  const auto refused = f.h.record_telemetry("dev1", {}, big, f.now);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == hub_error::quota_exceeded);
}
