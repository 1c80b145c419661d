#pragma once
/// Which operation a request names: a pure function of the method and the raw request target,
/// so it is unit-tested without sockets.
///
/// Paths (sdk-wire §3, spec §7, §1.7; the query, e.g. `?api-version=2021-04-12`, is accepted
/// and ignored):
///   GET    /health
///   GET    /metrics                                (Prometheus text, issue 18)
///   GET    /                                       (the dashboard page, issue 18)
///   GET    /dashboard/ca.pem, /dashboard/state[?device=id], /dashboard/events[?device=id]
///   POST   /dashboard/devices/{id}/messages        (the dashboard's C2D send)
///   GET    /devices   and   GET /devices/          (list; the Node SDK sends the trailing /;
///                                                  `?top=N` limits the list)
///   POST   /devices                                (bulk identity operations, issue 16)
///   GET    /certificates, GET|PUT|DELETE /certificates/{name}     (CA certificates, issue 16)
///   POST   /certificates/{name}/generateVerificationCode, …/verify (proof of possession)
///   GET|PUT|DELETE /devices/{id}
///   GET    /devices/{id}/modules                   (module identities, issue 16)
///   GET|PUT|DELETE /devices/{id}/modules/{mid}
///   GET|PATCH|PUT /twins/{id}/modules/{mid}        (module twins; the route's device_id is
///   POST   /twins/{id}/modules/{mid}/methods        the identity key `{id}/{mid}`)
///   DELETE /devices/{id}/commands                  (purge the C2D queue)
///   GET|PATCH|PUT /twins/{id}                      (device twins, next-capabilities §2.4)
///   POST   /twins/{id}/methods                     (direct methods, next-capabilities §3.1)
///   POST   /devices/query                          (twin queries, next-capabilities §2.5; a
///                                                  device named `query` keeps GET/PUT/DELETE)
///   POST   /devices/{id}/messages/events           (device API: telemetry, next-capabilities §5)
///   GET    /devices/{id}/messages/devicebound      (device API: receive C2D; `deviceBound` too)
///   DELETE /devices/{id}/messages/devicebound/{lockToken}[?reject]   (complete / reject)
///   POST   /devices/{id}/messages/devicebound/{lockToken}/abandon
///   GET    /$iothub/websocket                      (WebSocket upgrade: MQTT or AMQP, §6)
///   GET|POST /admin/devices/{id}/messages          (test control, docs/test-control.md)
///   GET|PATCH /admin/devices/{id}/twin             (the twin with its history; a service update)
///   GET    /admin/feedback, /admin/telemetry, /admin/clock
///   POST   /admin/clock/advance, /admin/clock/wall-step, /admin/reset
///   POST   /admin/devices/{id}/faults; GET /admin/faults (fault injection, issue 17)
///   GET|PATCH /admin/chaos; POST /admin/tokens/expire (hub-wide faults, issue 17)
/// The device id segment is percent-decoded here, exactly once (the Node SDK sends
/// `encodeURIComponent(id)`; `%` and `+` are legal id characters, so `+` stays `+`).
#include <string>
#include <string_view>

namespace emu::https {

enum class route_kind {
  health,
  metrics,
  dashboard_page,      ///< GET / (docs: README "Dashboard")
  dashboard_ca,        ///< GET /dashboard/ca.pem
  dashboard_state,     ///< GET /dashboard/state[?device=id] (device_id: the selected device)
  dashboard_events,    ///< GET /dashboard/events[?device=id] (Server-Sent Events)
  dashboard_send_c2d,  ///< POST /dashboard/devices/{id}/messages
  list_devices,
  bulk_devices,  ///< POST /devices (importMode per entry)
  list_certificates,
  get_certificate,
  put_certificate,
  delete_certificate,
  certificate_verification_code,  ///< POST /certificates/{name}/generateVerificationCode
  verify_certificate,             ///< POST /certificates/{name}/verify
  get_device,
  put_device,
  delete_device,
  list_modules,
  get_module,
  put_module,
  delete_module,
  purge_queue,
  get_twin,
  update_twin,
  replace_twin,
  invoke_method,
  query_twins,
  registry_statistics,  ///< GET /statistics/devices
  service_statistics,   ///< GET /statistics/service
  device_send_event,
  device_receive_c2d,
  device_complete_c2d,
  device_reject_c2d,
  device_abandon_c2d,
  websocket_upgrade,
  admin_get_messages,
  admin_post_message,
  admin_get_twin,
  admin_patch_twin,
  admin_feedback,
  admin_telemetry,
  admin_clock,
  admin_clock_advance,
  admin_clock_wall_step,
  admin_reset,
  admin_post_fault,
  admin_faults,
  admin_get_chaos,
  admin_patch_chaos,
  admin_expire_tokens,
  not_implemented,     ///< a registry feature of Azure the emulator does not have (501)
  not_found,           ///< no such path (404)
  method_not_allowed,  ///< the path exists, the method does not (405)
  bad_request,         ///< a malformed percent escape (400)
};

struct route {
  route_kind kind = route_kind::not_found;
  /// The decoded device id for the routes that name one; for a module's twin and methods the
  /// identity key `{deviceId}/{moduleId}` (core/identity_key.hpp).
  std::string device_id;
  /// The decoded lock token of the C2D settlement routes.
  std::string lock_token;
  /// The decoded certificate name of the certificate routes.
  std::string certificate;
  /// For not_implemented: the feature, as the 501 answer names it.
  std::string feature;
  /// The decoded module id of the module routes (and of a module's twin and methods).
  std::string module_id;
};

/// Routes `method` + `target` (path and optional query, percent-encoded as received).
route match_route(std::string_view method, std::string_view target);

/// True for the dashboard's routes (`/` and /dashboard/…).
bool is_dashboard(route_kind k);

/// True for the test-control routes under /admin/.
bool is_admin(route_kind k);

/// True for the device API routes (authenticated with a device token, not a service one).
bool is_device_api(route_kind k);

}  // namespace emu::https
