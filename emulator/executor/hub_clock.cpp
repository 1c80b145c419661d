#include "emulator/executor/hub_clock.hpp"

#include <algorithm>
#include <utility>

namespace emu::executor {

namespace {
std::int64_t ms_since_epoch(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
}  // namespace

hub_clock::sources hub_clock::real() {
  return {[] { return std::chrono::system_clock::now(); },
          [] { return std::chrono::steady_clock::now(); }};
}

hub_clock::hub_clock(sources s)
    : sources_(std::move(s)),
      anchor_steady_(sources_.steady()),
      anchor_ms_(ms_since_epoch(sources_.wall())) {}

std::int64_t hub_clock::wall_ms() const {
  return ms_since_epoch(sources_.wall()) + wall_shift_ms_.load();
}

std::int64_t hub_clock::elapsed_ms() const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(sources_.steady() - anchor_steady_)
      .count();
}

core::time_point hub_clock::now() const {
  const std::int64_t elapsed = elapsed_ms();
  const std::int64_t wall = wall_ms();
  std::int64_t anchor = anchor_ms_.load();
  // The wall clock is ahead: follow it (raise the anchor; a lost race re-reads a higher one).
  while (anchor + elapsed < wall) {
    if (anchor_ms_.compare_exchange_weak(anchor, wall - elapsed)) {
      followed_ms_ += wall - elapsed - anchor;
      break;
    }
  }
  const std::int64_t hub = std::max(anchor + elapsed, wall);
  return core::from_unix_ms(hub + travel_ms_.load());
}

core::duration hub_clock::wall_lag() const {
  const std::int64_t hub = core::to_unix_ms(now()) - travel_ms_.load();
  return core::duration{std::max<std::int64_t>(0, hub - wall_ms())};
}

}  // namespace emu::executor
