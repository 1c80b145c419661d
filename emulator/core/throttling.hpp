#pragma once
/// IoT Hub's throttles and daily message quota (spec §6.1, QUOTA-DOC; issue 17 item 3), off
/// unless a tier is configured (`throttling: {"tier": "S1", "units": 2}`, `--throttling S1:2`).
///
/// Each throttled operation has a rate for the tier and unit count; Azure enforces them over
/// minute windows with traffic shaping, which the emulator models as a token bucket holding one
/// minute of the rate (at least one operation), refilled continuously in hub time: a burst up
/// to a minute's worth passes, beyond it operations are refused with 429001
/// ThrottlingException until the bucket refills. The daily quota counts device-to-cloud and
/// cloud-to-device messages in meter units (4 KB; 0.5 KB on F1) and resets at 00:00 UTC;
/// beyond it operations get 403002 IotHubQuotaExceeded. Clock travel moves both.
///
/// Rates (per second; u = units), from QUOTA-DOC where it names them, UNCONFIRMED otherwise:
///   operation          F1/S1                S2                  S3
///   d2c_send           max(100, 12u)        120u                6000u
///   device_connect     max(100, 12u)        120u                6000u
///   c2d_send           1.67u                1.67u               83.33u
///   c2d_receive        16.67u               16.67u              833.33u
///   registry           1.67u                1.67u               83.33u
///   twin_read          100 (UNCONFIRMED)    max(100, 10u)       500u
///   twin_update        50 (UNCONFIRMED)     max(50, 5u)         250u
///   method             20u (160 KB/s/unit at an 8 KB meter)  60u  3000u
///   daily quota        F1 8,000; S1 400,000u; S2 6,000,000u; S3 300,000,000u messages
///
/// Pure; not thread-safe (the hub executor's thread).
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/core/errors.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

enum class throttled_operation : std::uint8_t {
  d2c_send,
  device_connect,
  c2d_send,
  c2d_receive,
  registry,
  twin_read,
  twin_update,
  method,
};
inline constexpr std::size_t throttled_operation_count = 8;

std::string_view to_string(throttled_operation op);

/// A hub's tier: "F1", "S1", "S2", "S3" (B1–B3 throttle as S1–S3) and its units (F1: 1).
struct throttling_tier {
  std::string name = "S1";
  int units = 1;
  friend bool operator==(const throttling_tier&, const throttling_tier&) = default;
};

/// "S1", "S1:2", "s3:10"; nullopt for anything else (units 1–200; F1 has one unit).
std::optional<throttling_tier> parse_throttling_tier(std::string_view text);

/// Operations per second the tier allows.
double throttle_rate(const throttling_tier& t, throttled_operation op);
/// Messages per day of the tier, and the size of one message unit (bytes).
std::int64_t daily_message_quota(const throttling_tier& t);
std::size_t quota_meter_bytes(const throttling_tier& t);

class hub_throttles {
 public:
  /// No tier: nothing is ever refused.
  explicit hub_throttles(std::optional<throttling_tier> tier);

  /// Takes one operation from its bucket at `now`: the throttling error when it is empty.
  std::optional<error> admit(throttled_operation op, time_point now);
  /// Counts a message of `bytes` against the daily quota (ceil(bytes / meter), at least 1):
  /// the quota error when today's quota is used up (the message is not counted then).
  std::optional<error> count_message(std::size_t bytes, time_point now);
  /// The quota error when today's quota (the day of `now`) has no unit left.
  std::optional<error> quota_exhausted(time_point now) const;

  bool enabled() const { return tier_.has_value(); }
  const std::optional<throttling_tier>& tier() const { return tier_; }
  /// Message units used today (as of the last count) and the day's quota.
  std::int64_t quota_used() const { return quota_used_; }
  /// Refused operations since start, by operation, and quota refusals.
  std::uint64_t refused(throttled_operation op) const {
    return refused_[static_cast<std::size_t>(op)];
  }
  std::uint64_t quota_refused() const { return quota_refused_; }

 private:
  struct bucket {
    double tokens = 0;
    time_point refilled{};
    bool started = false;
  };
  error quota_error() const;

  std::optional<throttling_tier> tier_;
  std::array<bucket, throttled_operation_count> buckets_{};
  std::array<std::uint64_t, throttled_operation_count> refused_{};
  std::int64_t quota_day_ = -1;  // days since the epoch of quota_used_
  std::int64_t quota_used_ = 0;
  std::uint64_t quota_refused_ = 0;
};

}  // namespace emu::core
