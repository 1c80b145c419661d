#pragma once
/// The hub session of each device whose C2D, twin or method links (device_link.hpp) are open
/// on one AMQP connection.
///
/// A device has one session on the hub, whatever its transport (spec §3.3: a newer connection
/// takes over). Over AMQP the device's links attach one by one, so the session belongs to the
/// set of them: the first link to join opens it (hub::connect_device with the token the
/// connection holds for the device, clean, with the C2D window), later links join the open
/// session, and when the last one leaves the session ends (hub::disconnect_device). The
/// session's route (link_routes::device_sessions) is set on the executor thread in the round
/// that opens it, so the hub's events for it (C2D deliveries, method calls, desired patches,
/// its end) find this connection.
///
/// Not thread-safe: the connection's strand only.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "emulator/amqp/errors.hpp"
#include "emulator/core/auth.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/hub_event.hpp"

namespace emu::amqp {

class amqp_connection;

class device_link_sessions {
 public:
  explicit device_link_sessions(amqp_connection& conn) : conn_(conn) {}

  /// Link `serial` (a device_link of `device_id`) needs the session: it is opened with `token`
  /// if the device has none on this connection; the link's session_opened() (or
  /// session_refused()) follows, at once if the session is open already.
  void join(const std::string& device_id, std::uint64_t serial,
            const core::device_credential& credential);
  /// Link `serial` closed: the last link of the device to leave ends the session.
  void leave(const std::string& device_id, std::uint64_t serial);
  /// The hub ended session (device, epoch) (event::session_ended): each of its links ends.
  void ended(const std::string& device_id, std::uint64_t epoch, core::session_end why);
  /// The open session's epoch of `device_id`, 0 if none.
  std::uint64_t epoch(const std::string& device_id) const;
  /// Detaches the links whose throttled refusal is due (held for
  /// core::limits::throttled_refusal_delay, as MQTT's CONNACK 3: an SDK that re-attaches at once
  /// makes one attempt a second); tells `sooner` when the next one is.
  void refuse_due(std::chrono::steady_clock::time_point now,
                  const std::function<void(std::chrono::steady_clock::time_point)>& sooner);

 private:
  struct session {
    std::uint64_t epoch = 0;    // 0 while the hub opens it
    std::uint64_t attempt = 0;  // which open the hub's answer belongs to
    std::set<std::uint64_t> links;
  };
  void open(const std::string& device_id, const core::device_credential& credential,
            std::uint64_t attempt);
  void opened(const std::string& device_id, std::uint64_t attempt, bool committed,
              const core::result<std::uint64_t>& epoch);

  struct held_refusal {
    std::chrono::steady_clock::time_point due;
    std::set<std::uint64_t> links;
    amqp_error why;
  };

  amqp_connection& conn_;
  std::map<std::string, session> sessions_;
  std::vector<held_refusal> held_;
  std::uint64_t next_attempt_ = 1;
};

}  // namespace emu::amqp
