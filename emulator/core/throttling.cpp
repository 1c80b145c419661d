#include "emulator/core/throttling.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "emulator/core/ascii.hpp"

namespace emu::core {

namespace {

enum class family { s1, s2, s3 };  // F1 throttles as S1 (spec §6.1: "Free shares the S1 column")

family family_of(const throttling_tier& t) {
  const char level = t.name.size() == 2 ? t.name[1] : '1';
  return level == '3' ? family::s3 : level == '2' ? family::s2 : family::s1;
}

}  // namespace

std::string_view to_string(throttled_operation op) {
  switch (op) {
    case throttled_operation::d2c_send:
      return "device-to-cloud sends";
    case throttled_operation::device_connect:
      return "device connections";
    case throttled_operation::c2d_send:
      return "cloud-to-device sends";
    case throttled_operation::c2d_receive:
      return "cloud-to-device receives";
    case throttled_operation::registry:
      return "identity registry operations";
    case throttled_operation::twin_read:
      return "twin reads";
    case throttled_operation::twin_update:
      return "twin updates";
    case throttled_operation::method:
      return "direct methods";
  }
  return "operations";
}

std::optional<throttling_tier> parse_throttling_tier(std::string_view text) {
  const auto colon = text.find(':');
  const std::string name = ascii_uppercase(text.substr(0, colon));
  static constexpr std::array<std::string_view, 7> names{"F1", "S1", "S2", "S3", "B1", "B2", "B3"};
  if (std::find(names.begin(), names.end(), name) == names.end()) return std::nullopt;
  int units = 1;
  if (colon != std::string_view::npos) {
    const auto u = text.substr(colon + 1);
    const auto [end, ec] = std::from_chars(u.data(), u.data() + u.size(), units);
    if (ec != std::errc{} || end != u.data() + u.size() || units < 1 || units > 200)
      return std::nullopt;
  }
  if (name == "F1" && units != 1) return std::nullopt;
  // Basic tiers throttle as their standard counterparts (B1 = S1, …).
  return throttling_tier{name[0] == 'B' ? "S" + name.substr(1) : name, units};
}

double throttle_rate(const throttling_tier& t, throttled_operation op) {
  const double u = t.units;
  const family f = family_of(t);
  switch (op) {
    case throttled_operation::d2c_send:
    case throttled_operation::device_connect:
      return f == family::s3 ? 6000 * u : f == family::s2 ? 120 * u : std::max(100.0, 12 * u);
    case throttled_operation::c2d_send:
    case throttled_operation::registry:
      return (f == family::s3 ? 5000.0 : 100.0) * u / 60.0;
    case throttled_operation::c2d_receive:
      return (f == family::s3 ? 50000.0 : 1000.0) * u / 60.0;
    case throttled_operation::twin_read:
      return f == family::s3 ? 500 * u : f == family::s2 ? std::max(100.0, 10 * u) : 100.0;
    case throttled_operation::twin_update:
      return f == family::s3 ? 250 * u : f == family::s2 ? std::max(50.0, 5 * u) : 50.0;
    case throttled_operation::method:
      return (f == family::s3 ? 3000.0 : f == family::s2 ? 60.0 : 20.0) * u;
  }
  return 1;
}

std::int64_t daily_message_quota(const throttling_tier& t) {
  if (t.name == "F1") return 8000;
  const std::int64_t u = t.units;
  switch (family_of(t)) {
    case family::s3:
      return 300'000'000 * u;
    case family::s2:
      return 6'000'000 * u;
    case family::s1:
      break;
  }
  return 400'000 * u;
}

std::size_t quota_meter_bytes(const throttling_tier& t) {
  return t.name == "F1" ? 512 : 4096;
}

hub_throttles::hub_throttles(std::optional<throttling_tier> tier) : tier_(std::move(tier)) {}

std::optional<error> hub_throttles::admit(throttled_operation op, time_point now) {
  if (!tier_) return std::nullopt;
  const double rate = throttle_rate(*tier_, op);
  const double capacity = std::max(1.0, rate * 60.0);  // a minute's worth (traffic shaping)
  auto& b = buckets_[static_cast<std::size_t>(op)];
  if (!b.started) {
    b = bucket{capacity, now, true};
  } else if (now > b.refilled) {
    const double seconds = std::chrono::duration<double>(now - b.refilled).count();
    b.tokens = std::min(capacity, b.tokens + seconds * rate);
    b.refilled = now;
  }
  if (b.tokens >= 1.0) {
    b.tokens -= 1.0;
    return std::nullopt;
  }
  ++refused_[static_cast<std::size_t>(op)];
  return error{hub_error::throttled, "The hub's " + std::string(to_string(op)) + " throttle for " +
                                         tier_->name + " x " + std::to_string(tier_->units) +
                                         " is exceeded; retry later."};
}

std::optional<error> hub_throttles::count_message(std::size_t bytes, time_point now) {
  if (!tier_) return std::nullopt;
  const auto day = std::chrono::floor<std::chrono::days>(now).time_since_epoch().count();
  if (day != quota_day_) {  // 00:00 UTC: a new day, a new quota
    quota_day_ = day;
    quota_used_ = 0;
  }
  const auto meter = quota_meter_bytes(*tier_);
  const auto units =
      static_cast<std::int64_t>(std::max<std::size_t>(1, (bytes + meter - 1) / meter));
  if (quota_used_ + units > daily_message_quota(*tier_)) {
    ++quota_refused_;
    return quota_error();
  }
  quota_used_ += units;
  return std::nullopt;
}

std::optional<error> hub_throttles::quota_exhausted(time_point now) const {
  if (!tier_) return std::nullopt;
  const auto day = std::chrono::floor<std::chrono::days>(now).time_since_epoch().count();
  if (day != quota_day_ || quota_used_ < daily_message_quota(*tier_)) return std::nullopt;
  return quota_error();
}

error hub_throttles::quota_error() const {
  const auto meter = quota_meter_bytes(*tier_);
  return error{hub_error::quota_exceeded,
               "The hub's daily message quota (" + std::to_string(daily_message_quota(*tier_)) +
                   " messages of " + std::to_string(meter) + " bytes, " + tier_->name + " x " +
                   std::to_string(tier_->units) + ") is used up; it resets at 00:00 UTC."};
}

}  // namespace emu::core
