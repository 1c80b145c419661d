#pragma once
/// A bound on how often one identity may open a session (issue 20 item 5): an SDK's retry loop
/// gone wild, or a device fleet sharing one identity, reconnects hundreds of times a second.
///
/// Azure's own connection throttle is hub-wide ("New device connections", spec §6.1, emulated
/// by throttling.hpp with `--throttling`); one identity reconnecting in a loop exhausts it and
/// the whole hub's devices are refused. The emulator bounds each identity instead, always on,
/// with a limit no well-behaved client reaches (the SDKs back off between attempts: spec
/// sdk-wire §1.7), so a storm is refused early and the other devices never notice it. The
/// refusal is the throttle's own (429001 ThrottlingException): CONNACK 3 over MQTT,
/// `com.microsoft:device-container-throttled` over AMQP, both of which the SDKs retry with
/// their back-off, never as a storm.
///
/// A token bucket per identity holding `burst` connects, refilled at `per_second` in hub time.
/// Only authenticated connects are counted (a stranger cannot lock a device out by naming it).
/// Buckets that are full again are dropped, so memory follows the identities connecting now.
///
/// Pure; not thread-safe (the hub executor's thread).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "emulator/core/errors.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

struct device_connect_rate {
  double per_second = 10;
  int burst = 100;
  friend bool operator==(const device_connect_rate&, const device_connect_rate&) = default;
};

class device_connect_limit {
 public:
  explicit device_connect_limit(device_connect_rate rate = {}) : rate_(rate) {}

  /// Counts one connect of `identity` at `now`: the throttling error when its bucket is empty
  /// (the refused connect is not counted).
  std::optional<error> admit(std::string_view identity, time_point now);

  /// Connects refused since start.
  std::uint64_t refused() const { return refused_; }
  /// Identities whose bucket is not full (what the limit holds in memory).
  std::size_t tracked() const { return buckets_.size(); }

 private:
  struct bucket {
    double tokens = 0;
    time_point refilled{};
  };
  double refill(bucket& b, time_point now) const;
  void drop_full(time_point now);

  device_connect_rate rate_;
  std::unordered_map<std::string, bucket> buckets_;
  std::size_t next_sweep_ = 1024;
  std::uint64_t refused_ = 0;
};

}  // namespace emu::core
