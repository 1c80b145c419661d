#pragma once
/// Direct methods (next-capabilities §3, DOC "Understand and invoke direct methods"): a service
/// call waits for the device's answer, bounded by two timeouts.
///
///   - A device is reachable for methods while its current session has subscribed to
///     `$iothub/methods/POST/#` (§3.2 "Online-for-methods"; a connected device without that
///     subscription counts as offline, UNCONFIRMED).
///   - `connect_timeout` 0 (the SDKs' default): an unreachable device is refused at once with
///     404103 DeviceNotOnline. Otherwise the call waits that long for the device to subscribe,
///     then 404103.
///   - Once sent, the device has `response_timeout` to answer on
///     `$iothub/methods/res/{status}/?$rid={rid}`, else 504101 GatewayTimeout (half a second
///     earlier: method_limits::answer_margin).
///
/// Calls are not durable (a restart ends them, as the HTTP request that waits for them ends);
/// their outcome is event::method_result, which the front that made the call waits for.
///
/// Thread safety: none; part of the hub.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "emulator/core/errors.hpp"
#include "emulator/core/journal.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

struct method_call {
  std::string name;
  /// JSON text (`null` when the caller sent none: an empty body breaks the Node device SDK,
  /// §3.2).
  std::string payload = "null";
  duration response_timeout = std::chrono::seconds{30};
  duration connect_timeout = std::chrono::seconds{0};
};

/// DOC: responseTimeoutInSeconds 5..300, connectTimeoutInSeconds 0..300.
namespace method_limits {
inline constexpr duration min_response_timeout = std::chrono::seconds{5};
inline constexpr duration max_response_timeout = std::chrono::seconds{300};
inline constexpr duration max_connect_timeout = std::chrono::seconds{300};
/// A call that is not answered ends this much before the caller's own HTTP timeout of
/// connect + response timeout (§3.1 "Client HTTP timeout": the Node SDK gives up after
/// exactly that long, counted from before it sent the request, so a hub that answered 504 at
/// the full time would lose the race and the SDK would report a socket timeout instead of
/// GatewayTimeoutError). Emulator choice.
inline constexpr duration answer_margin = std::chrono::milliseconds{500};
/// Request and response payloads: 128 KB of JSON (§3 "Payload limit").
inline constexpr std::size_t max_payload_bytes = 128 * 1024;
}  // namespace method_limits

class direct_methods {
 public:
  explicit direct_methods(journal& j) : journal_(j) {}

  /// Starts a call for a known, enabled device; `reachable` says whether its session is
  /// subscribed now. Returns the call id (which is also the `$rid` the device sees), or
  /// device_not_online when it is not reachable and may not be waited for.
  result<std::uint64_t> invoke(std::string_view device_id, std::uint64_t epoch, bool reachable,
                               method_call call, time_point now);
  /// The session `epoch` of the device subscribed to (`on`) or unsubscribed from methods;
  /// calls waiting for the device go out when it subscribes.
  void subscribe(std::string_view device_id, std::uint64_t epoch, bool on, time_point now);
  /// The session that last subscribed (the hub checks it is still the current one).
  std::optional<std::uint64_t> subscribed_epoch(std::string_view device_id) const;
  /// Calls waiting for the device go out to session `epoch`.
  void device_reachable(std::string_view device_id, std::uint64_t epoch, time_point now);
  /// The device's answer. False when no call of this device has that `$rid` (already timed
  /// out, never made): the answer is dropped.
  bool answer(std::string_view device_id, std::string_view rid, int device_status,
              std::string payload);
  /// Ends calls whose time is up (504101 for sent ones, 404103 for ones waiting for the device).
  void advance(time_point now);
  std::optional<time_point> next_deadline() const;
  /// Every call ends with `why` (reset, device deleted: server_error / device_not_found).
  void end_all(hub_error why, std::string_view message);
  void end_device(std::string_view device_id, hub_error why, std::string_view message);
  std::size_t pending() const { return calls_.size(); }

 private:
  struct pending_call {
    std::string device_id;
    method_call call;
    bool sent = false;
    time_point deadline;
    time_point latest;  // arrival + connect + response timeout - answer_margin
  };
  void send(std::uint64_t id, pending_call& c, std::uint64_t epoch, time_point now);
  void fail(std::uint64_t id, const pending_call& c, hub_error why, std::string message);

  journal& journal_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, pending_call> calls_;
  std::map<std::string, std::uint64_t, std::less<>> subscribers_;  // device → session epoch
};

}  // namespace emu::core
