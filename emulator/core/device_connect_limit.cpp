#include "emulator/core/device_connect_limit.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <iterator>

namespace emu::core {

namespace {
std::string number(double v) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 6);
  return {buf, r.ptr};
}
}  // namespace

double device_connect_limit::refill(bucket& b, time_point now) const {
  if (now > b.refilled) {
    const double seconds = std::chrono::duration<double>(now - b.refilled).count();
    b.tokens = std::min<double>(rate_.burst, b.tokens + seconds * rate_.per_second);
    b.refilled = now;
  }
  return b.tokens;
}

void device_connect_limit::drop_full(time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();)
    it = refill(it->second, now) >= rate_.burst ? buckets_.erase(it) : std::next(it);
  // Sweep again when the map has doubled: amortised O(1) per admit.
  next_sweep_ = std::max<std::size_t>(1024, 2 * buckets_.size());
}

std::optional<error> device_connect_limit::admit(std::string_view identity, time_point now) {
  if (buckets_.size() >= next_sweep_) drop_full(now);
  auto it = buckets_.find(std::string(identity));
  if (it == buckets_.end())
    it = buckets_.emplace(std::string(identity), bucket{static_cast<double>(rate_.burst), now})
             .first;
  auto& b = it->second;
  if (refill(b, now) >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  ++refused_;
  const auto wait_ms =
      static_cast<long long>(std::ceil((1.0 - b.tokens) / rate_.per_second * 1000.0));
  return error{hub_error::throttled, "'" + std::string(identity) + "' connects too often (over " +
                                         std::to_string(rate_.burst) + " connects at more than " +
                                         number(rate_.per_second) + " a second); retry in " +
                                         std::to_string(wait_ms) + " ms."};
}

}  // namespace emu::core
