#pragma once
/// The dashboard's data (issue 18, README "Dashboard"), in the three steps of hub_call.hpp:
/// the hub call copies a bounded view of the hub on the executor, the I/O thread renders it as
/// the JSON the page draws. `GET /dashboard/state` answers it once; `GET /dashboard/events`
/// streams it as Server-Sent Events, one `data:` line each time it changed (http_session).
///
/// Who may see it (http_session): loopback peers without a token, like test control; other
/// peers only when the emulator serves the dashboard remotely (--dashboard-remote), with a
/// service SAS token of the REST API's rules: RegistryRead to view, ServiceConnect to send a
/// C2D message. Keys (the connection strings the page offers to copy) are shown to loopback
/// peers only, as the emulator's banner shows them on its own console; never to a remote peer.
#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/feedback.hpp"
#include "emulator/core/hub_statistics.hpp"
#include "emulator/core/telemetry_message.hpp"
#include "emulator/https/dashboard_activity.hpp"
#include "emulator/https/http_message.hpp"
#include "emulator/https/hub_call.hpp"

namespace emu::https {

/// Bounds of one view, so a hub of 20,000 devices or a log of millions of events costs the
/// same to show as a small one.
namespace dashboard_limits {
inline constexpr std::size_t devices = 500;
inline constexpr std::size_t feedback_records = 50;
inline constexpr std::size_t feedback_batches = 20;
inline constexpr std::size_t telemetry = 50;
inline constexpr std::size_t twin_history = 20;
}  // namespace dashboard_limits

/// What the emulator's wiring knows and the hub does not: ports, the CA, the policies'
/// connection strings (app::emulator, once every listener is bound).
struct dashboard_site {
  std::string hub_name;
  std::string host_name;
  std::map<std::string, int> ports;
  std::string ca_pem;  ///< the CA that signed the server certificate (empty: configured TLS)
  std::map<std::string, std::string> policy_connection_strings;  ///< shown to loopback only
};

/// One dashboard refresh, copied from the hub.
struct dashboard_view {
  core::time_point now{};
  core::hub_statistics statistics;
  std::vector<device_view> devices;  ///< the first dashboard_limits::devices, by id
  std::size_t device_count = 0;
  /// The device the page selected, if it exists: its queue, twin and recent twin writes.
  std::optional<twin_history_view> selected;
  std::vector<core::c2d_message> queue;
  std::vector<core::feedback_record> feedback_pending;                    ///< the newest
  std::vector<core::feedback_batch> feedback_batches;                     ///< the newest
  std::vector<std::shared_ptr<const core::telemetry_message>> telemetry;  ///< the newest
};

/// The hub call of a view: authenticates `token` for RegistryRead unless `trusted` (a loopback
/// peer), then copies the view, with `device` selected (empty: none).
hub_call dashboard_call(std::string device, std::string token, bool trusted);

/// The hub call of the dashboard's C2D send (`POST /dashboard/devices/{id}/messages`, the
/// body of test control's message, docs/test-control.md): ServiceConnect unless `trusted`.
/// The answer is test control's (201 {"seq"} or the admission error: render_test_control).
std::variant<http_response, hub_call> prepare_dashboard_send(const std::string& device,
                                                             const http_request& request,
                                                             bool trusted);

/// The view as the page reads it:
///   {"hub": {hubName, hostName, ports, nowUtc, caDownload}, "connectionStrings": {…} (trusted
///    only: policies and each SAS device's), "statistics": {…}, "devices": [{deviceId, status,
///    authentication, connected, transport, lastActivityTime, connectionStateUpdatedTime,
///    queued, twinVersion}], "deviceCount", "selected": null | {deviceId, queue: [message…],
///    twin: {…}, twinHistory: [{version, part, by, patch, at}]}, "feedback": {pending, batches},
///    "telemetry": [event…], "activity": [{seq, at, kind, deviceId, text}]}
nlohmann::json dashboard_json(const dashboard_view& v, const dashboard_site* site,
                              const std::vector<activity_line>& activity, bool trusted);

}  // namespace emu::https
