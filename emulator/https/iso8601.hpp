#pragma once
/// Parsing ISO 8601 UTC timestamps given to test control (e.g. a C2D `expiryTimeUtc`).
/// The emitting side is core::to_iso8601 (seven fraction digits, `Z`).
#include <optional>
#include <string_view>

#include "emulator/core/time.hpp"

namespace emu::https {

/// Accepts `YYYY-MM-DDTHH:MM:SS`, an optional fraction of any length (kept to milliseconds,
/// truncated), then `Z` or `+00:00`. Anything else, including other offsets and impossible
/// dates, is nullopt.
std::optional<core::time_point> parse_iso8601(std::string_view text);

}  // namespace emu::https
