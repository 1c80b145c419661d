#pragma once
/// What the hub tells the fronts after a round has committed (delivery is pushed by the hub,
/// never polled): a C2D message for a device session, a feedback batch for a feedback
/// receiver, a session that ended, a reset.
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/fault_request.hpp"
#include "emulator/core/feedback.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// Why the hub ended a device session (device_sessions.hpp).
enum class session_end {
  taken_over,      // a new connection of the same device (spec §3.3)
  device_changed,  // the device was disabled, deleted or had its keys changed
};

namespace event {
/// A message locked for the device session `epoch` (which had credit): the front sends it.
/// With `qos` 0 the hub has already completed it (at most once, spec §3.5 "Emulator").
struct c2d_delivery {
  std::string device_id;
  std::uint64_t epoch = 0;
  int qos = 1;
  core::c2d_delivery delivery;
};
/// The device session `epoch` is over: its connection must close.
struct session_ended {
  std::string device_id;
  std::uint64_t epoch = 0;
  session_end why = session_end::taken_over;
};
/// A batch locked for feedback receiver `receiver` (which had credit): the front sends it.
struct feedback_delivery {
  std::uint64_t receiver = 0;
  feedback_batch batch;
};
/// The service changed the device's desired properties (device_twins.hpp): the device's
/// connection pushes `patch` (the change, with `null` for removed members, and `$version`) if
/// it subscribed to desired updates (next-capabilities §2.2).
struct desired_patch {
  std::string device_id;
  std::int64_t version = 0;
  nlohmann::json patch;
};
/// A direct method call for the device session `epoch` (direct_methods.hpp): the front
/// publishes `$iothub/methods/POST/{name}/?$rid={call_id}`.
struct method_request {
  std::string device_id;
  std::uint64_t epoch = 0;
  std::uint64_t call_id = 0;
  std::string name;
  std::string payload;  // JSON text
};
/// A direct method call ended: the device's answer, or an error (404103 DeviceNotOnline,
/// 504101 GatewayTimeout, …). The front that made the call answers its caller.
struct method_result {
  std::uint64_t call_id = 0;
  std::optional<error> failure;
  int status = 0;              // the device's status (no failure)
  std::string payload;         // the device's JSON text (no failure)
  duration connect_timeout{};  // for the 404103 body's info.timeout
};
/// Events of the telemetry log for the reader `reader` (telemetry_readers.hpp), within its
/// credit, in sequence-number order: the front sends them.
struct telemetry_delivery {
  std::uint64_t reader = 0;
  std::vector<std::shared_ptr<const telemetry_message>> events;
};
/// The reader `reader` was ended by the hub (a reader with a higher epoch took its partition):
/// the front closes its link with `why`.
struct telemetry_reader_ended {
  std::uint64_t reader = 0;
  error why;
};
/// A connection fault for the device session `epoch` (test control, hub::inject_fault): the
/// front carrying it applies `request` after its delay and reports with hub::note_fault.
struct fault_requested {
  std::string device_id;
  std::uint64_t epoch = 0;
  fault_request request;
};
/// Test control paused or resumed fronts (hub_faults.hpp): a front named in `paused` stops
/// reading and writing on its connections; the others run.
struct fronts_paused {
  std::set<std::string> paused;
};
/// Test control expired every token now: each front ends its token-authenticated connections
/// (and AMQP device links) as at a token's expiry.
struct tokens_expired {};
/// Everything was reset (test control): every connection should be closed.
struct hub_reset {};
}  // namespace event

using hub_event =
    std::variant<event::c2d_delivery, event::session_ended, event::feedback_delivery,
                 event::desired_patch, event::method_request, event::method_result,
                 event::telemetry_delivery, event::telemetry_reader_ended, event::fault_requested,
                 event::fronts_paused, event::tokens_expired, event::hub_reset>;

}  // namespace emu::core
