// log_throttle: one line per interval, the held-back ones counted (issue 7: a connection flood
// must not flood the log).
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "emulator/log/log_throttle.hpp"

using emu::log::log_throttle;
using namespace std::chrono_literals;

TEST_CASE("the first line passes, repeats within the interval are held and counted") {
  // The throttle's clock is a parameter: the test moves it instead of sleeping.
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  log_throttle t(200ms, [&now] { return now; });
  const auto first = t.admit();
  REQUIRE(first.has_value());
  CHECK(*first == 0);
  CHECK_FALSE(t.admit().has_value());
  now += 199ms;
  CHECK_FALSE(t.admit().has_value());
  now += 1ms;
  const auto next = t.admit();
  REQUIRE(next.has_value());
  CHECK(*next == 2);
  CHECK(log_throttle::suffix(*next) == " (2 more since the last message)");
  CHECK(log_throttle::suffix(0).empty());
}

TEST_CASE("from many threads at once, exactly one line passes per interval") {
  log_throttle t(10s);
  std::atomic<int> passed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j)
        if (t.admit()) ++passed;
    });
  for (auto& th : threads) th.join();
  CHECK(passed == 1);
}
