// The hub clock (issue 20 item 4): monotonic hub time that follows forward steps of the wall
// clock and not backward ones, the wall lag tokens are judged with, and clock travel.
#include <doctest/doctest.h>

#include <chrono>

#include "emulator/executor/hub_clock.hpp"

using namespace std::chrono_literals;
using emu::executor::hub_clock;

namespace {

/// Fake clocks the test moves: `steady` only forward, `wall` anywhere.
struct fake_clocks {
  std::chrono::system_clock::time_point wall{
      std::chrono::sys_days{std::chrono::year{2026} / 12 / 5}};
  std::chrono::steady_clock::time_point steady{};
  hub_clock::sources sources() {
    return {[this] { return wall; }, [this] { return steady; }};
  }
  void pass(std::chrono::milliseconds d) {  // time passes: both clocks move
    wall += d;
    steady += d;
  }
};

std::int64_t ms(emu::core::time_point t) {
  return emu::core::to_unix_ms(t);
}
std::int64_t ms(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

}  // namespace

TEST_CASE("hub time is the wall clock while it does not step") {
  fake_clocks c;
  hub_clock clock(c.sources());
  CHECK(ms(clock.now()) == ms(c.wall));
  c.pass(1500ms);
  CHECK(ms(clock.now()) == ms(c.wall));
  CHECK(clock.wall_lag() == 0ms);
}

TEST_CASE("a forward step is followed at once") {
  fake_clocks c;
  hub_clock clock(c.sources());
  const auto before = clock.now();
  c.wall += 2h;  // a laptop resumed
  CHECK(clock.now() - before == 2h);
  c.pass(10ms);
  CHECK(clock.now() - before == 2h + 10ms);
  CHECK(clock.wall_lag() == 0ms);
}

TEST_CASE("a backward step is not followed: hub time runs on, the lag is the step") {
  fake_clocks c;
  hub_clock clock(c.sources());
  c.pass(1s);
  const auto before = clock.now();
  c.wall -= 3h;                  // someone set the date back
  CHECK(clock.now() == before);  // no time passed on the steady clock
  c.pass(250ms);
  CHECK(clock.now() - before == 250ms);  // nothing waits for the wall clock to come back
  CHECK(clock.wall_lag() == 3h);
  // A later forward step smaller than the lag is absorbed; a larger one is followed.
  c.wall += 1h;
  CHECK(clock.now() - before == 250ms);
  CHECK(clock.wall_lag() == 2h);
  c.wall += 3h;
  CHECK(clock.now() - before == 1h + 250ms);
  CHECK(clock.wall_lag() == 0ms);
}

TEST_CASE("hub time never goes backwards, whatever the wall clock does") {
  fake_clocks c;
  hub_clock clock(c.sources());
  auto last = clock.now();
  const std::chrono::milliseconds steps[] = {-2h, 5s, 30min, -90min, 1ms, -1ms, 4h, -4h, 0ms};
  for (const auto step : steps) {
    c.wall += step;
    c.pass(7ms);
    const auto t = clock.now();
    CHECK(t >= last);
    CHECK(ms(t) >= ms(c.wall));  // and is never behind the wall clock
    last = t;
  }
}

TEST_CASE("clock travel moves hub time and the wall view together") {
  fake_clocks c;
  hub_clock clock(c.sources());
  c.wall -= 1h;
  const auto lag = clock.wall_lag();
  const auto before = clock.now();
  clock.advance(72h);
  CHECK(clock.now() - before == 72h);
  CHECK(clock.travel() == 72h);
  CHECK(clock.wall_lag() == lag);
}
