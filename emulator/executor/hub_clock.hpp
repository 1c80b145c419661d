#pragma once
/// The hub's clock (issue 20 item 4): what `now` the executor hands the hub core.
///
/// The machine's wall clock can step: NTP corrects it, a laptop resumes from suspend, someone
/// sets the date. The hub's time must not follow it backwards (a message would be enqueued
/// "before" the one ahead of it, a lock or a feedback batch would wait hours for the wall clock
/// to come back), yet must follow it forwards (after a suspend, what expired while the machine
/// slept has expired, as on Azure). So:
///   - hub time runs on the steady (monotonic) clock from the wall time at start;
///   - whenever the wall clock is ahead of it (a forward step, or the wall clock running a
///     little fast), hub time jumps to the wall clock: forward steps are followed at once;
///   - a backward step is not followed: hub time runs on, `wall_lag()` ahead of the wall clock.
/// Tokens are the exception: clients compute a SAS token's `se` and judge certificates by
/// the wall clock, so the hub judges them by the wall clock too (hub::set_wall_lag): after a
/// backward step, a fresh token is not "expired" just because hub time is ahead.
///
/// Test control's clock travel (`advance`) moves both views by the same amount.
///
/// Thread safety: every member may be called from any thread. now() is monotonic on each
/// thread; across threads, two calls may return times out of order by the time a call takes.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>

#include "emulator/core/time.hpp"

namespace emu::executor {

class hub_clock {
 public:
  /// Where the clock reads the wall and the steady clocks (tests pass fakes).
  struct sources {
    std::function<std::chrono::system_clock::time_point()> wall;
    std::function<std::chrono::steady_clock::time_point()> steady;
  };
  /// The real clocks.
  static sources real();

  explicit hub_clock(sources s = real());

  /// Hub time: monotonic, never behind the wall clock + travel.
  core::time_point now() const;
  /// How far hub time is ahead of the wall clock (+ travel): the sum of the backward steps
  /// not followed. Never negative.
  core::duration wall_lag() const;
  /// Clock travel (test control): moves hub time and the wall view ahead by `by`.
  void advance(core::duration by) { travel_ms_ += by.count(); }
  /// Test control's stand-in for a step of the machine's clock (`POST /admin/clock/wall-step`):
  /// from now on the wall clock reads `by` more (or less) than the system's. libfaketime cannot
  /// do it for this binary (its start recurses into clock_gettime under ASan and jemalloc).
  void step_wall(core::duration by) { wall_shift_ms_ += by.count(); }
  /// The total clock travel so far.
  core::duration travel() const { return core::duration{travel_ms_.load()}; }
  /// How far hub time has jumped forward to follow the wall clock so far (forward steps, and
  /// the few ms of a wall clock running fast).
  core::duration followed() const { return core::duration{followed_ms_.load()}; }

 private:
  std::int64_t wall_ms() const;
  std::int64_t elapsed_ms() const;

  sources sources_;
  std::chrono::steady_clock::time_point anchor_steady_;
  // Hub time without travel at anchor_steady_, in Unix ms; only ever raised (forward steps).
  mutable std::atomic<std::int64_t> anchor_ms_;
  std::atomic<std::int64_t> travel_ms_{0};
  std::atomic<std::int64_t> wall_shift_ms_{0};
  mutable std::atomic<std::int64_t> followed_ms_{0};
};

}  // namespace emu::executor
