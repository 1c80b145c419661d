#pragma once
/// Lets a repeated log line through at most once per interval and counts the ones held back, so
/// a flood (thousands of connections refused at a connection limit, issue 7) cannot flood the
/// log. Thread-safe. Its clock is a parameter (the steady clock by default: this is I/O, not hub
/// logic), so tests move time instead of sleeping.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace emu::log {

class log_throttle {
 public:
  using clock = std::function<std::chrono::steady_clock::time_point()>;

  explicit log_throttle(std::chrono::milliseconds interval = std::chrono::seconds(1),
                        clock now = std::chrono::steady_clock::now)
      : interval_(interval), now_(std::move(now)) {}

  /// nullopt: hold this line back. Otherwise log it; the value is how many lines were held
  /// back since the last one let through.
  std::optional<std::uint64_t> admit() {
    const auto now =
        std::chrono::duration_cast<std::chrono::milliseconds>(now_().time_since_epoch()).count();
    auto last = last_ms_.load();
    if (last != never && now - last < interval_.count()) {
      held_.fetch_add(1);
      return std::nullopt;
    }
    if (!last_ms_.compare_exchange_strong(last, now)) {
      held_.fetch_add(1);  // another thread let its line through just now
      return std::nullopt;
    }
    return held_.exchange(0);
  }

  /// " (N more since the last message)" or "".
  static std::string suffix(std::uint64_t held) {
    return held == 0 ? std::string()
                     : " (" + std::to_string(held) + " more since the last message)";
  }

 private:
  static constexpr std::int64_t never = INT64_MIN;
  const std::chrono::milliseconds interval_;
  const clock now_;
  std::atomic<std::int64_t> last_ms_{never};
  std::atomic<std::uint64_t> held_{0};
};

}  // namespace emu::log
