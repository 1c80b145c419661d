#pragma once
/// Time as a value. The hub core never reads a clock: every operation takes `now`
/// (see ARCHITECTURE "Time is a parameter"), so tests drive time explicitly.
#include <chrono>
#include <cstdint>
#include <string>

namespace emu::core {

using duration = std::chrono::milliseconds;
using time_point = std::chrono::sys_time<std::chrono::milliseconds>;

/// Milliseconds since the Unix epoch (the on-disk and AMQP timestamp form).
inline std::int64_t to_unix_ms(time_point t) {
  return t.time_since_epoch().count();
}
inline time_point from_unix_ms(std::int64_t ms) {
  return time_point{duration{ms}};
}

/// ISO 8601 UTC with exactly seven fraction digits and `Z`, e.g. 2026-01-01T12:00:00.1230000Z.
/// This is .NET's round-trip format "o", which C# parses for `$.exp` and feedback
/// `enqueuedTimeUtc` (spec §2.2, §3.5).
std::string to_iso8601(time_point t);

}  // namespace emu::core
