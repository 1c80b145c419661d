#include "emulator/https/routes.hpp"

#include <optional>
#include <vector>

#include "emulator/core/ascii.hpp"
#include "emulator/core/crypto.hpp"
#include "emulator/core/identity_key.hpp"

namespace emu::https {

namespace {

/// Splits "/a/b/" into {"a", "b", ""} and percent-decodes each segment; nullopt on a malformed
/// escape. Decoding per segment keeps an encoded `/` (%2F) inside its segment.
std::optional<std::vector<std::string>> segments_of(std::string_view path) {
  std::vector<std::string> out;
  if (path.empty() || path.front() != '/') return out;
  path.remove_prefix(1);
  for (;;) {
    const auto slash = path.find('/');
    auto decoded = core::url_decode(path.substr(0, slash));
    if (!decoded) return std::nullopt;
    out.push_back(std::move(*decoded));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

route make(route_kind k, std::string id = {}) {
  return route{k, std::move(id), {}, {}, {}, {}};
}

/// Ids never contain `/` (spec §7); a decoded `%2F` would make an identity key
/// (core/identity_key.hpp) name a module.
bool is_id_segment(const std::string& s) {
  return !s.empty() && s.find('/') == std::string::npos;
}

/// A feature the emulator does not have (501 naming it).
route unsupported(std::string feature) {
  route r = make(route_kind::not_implemented);
  r.feature = std::move(feature);
  return r;
}

/// Picks the route for `method` among the (method, kind) pairs a path allows.
route pick(std::string_view method,
           std::initializer_list<std::pair<std::string_view, route_kind>> allowed,
           const std::string& id = {}) {
  for (const auto& [m, k] : allowed)
    if (m == method) return make(k, id);
  return make(route_kind::method_not_allowed);
}

/// The raw (still percent-encoded) value of the query parameter `name` of `target`: empty for
/// `name` without `=`, nullopt when the query does not have it.
std::optional<std::string_view> query_parameter(std::string_view target, std::string_view name) {
  const auto q = target.find('?');
  if (q == std::string_view::npos) return std::nullopt;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto item = query.substr(0, amp);
    const auto eq = item.find('=');
    if (item.substr(0, eq) == name)
      return eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1);
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

/// The percent-decoded value of the query parameter `name` (empty when absent or malformed).
std::string query_value(std::string_view target, std::string_view name) {
  const auto raw = query_parameter(target, name);
  return raw ? core::url_decode(*raw).value_or("") : std::string{};
}

/// The dashboard (issue 18): `/` the page, `/dashboard/…` its data and its one action of its
/// own (the others are the registry REST API, called by the page with a SAS token).
route dashboard_route(std::string_view method, std::string_view target,
                      const std::vector<std::string>& s) {
  const auto n = s.size();
  if (n == 2 && s[1] == "ca.pem") return pick(method, {{"GET", route_kind::dashboard_ca}});
  if (n == 2 && s[1] == "state")
    return pick(method, {{"GET", route_kind::dashboard_state}}, query_value(target, "device"));
  if (n == 2 && s[1] == "events")
    return pick(method, {{"GET", route_kind::dashboard_events}}, query_value(target, "device"));
  if (n == 4 && s[1] == "devices" && is_id_segment(s[2]) && s[3] == "messages")
    return pick(method, {{"POST", route_kind::dashboard_send_c2d}}, s[2]);
  return make(route_kind::not_found);
}

/// `/devices/{id}/messages/…` (next-capabilities §5). The SDKs write `devicebound` in lower
/// case, the REST reference `deviceBound`: both are matched.
route device_messages_route(std::string_view method, std::string_view target,
                            const std::vector<std::string>& s) {
  const auto n = s.size();
  const std::string& id = s[1];
  if (n == 4 && s[3] == "events")
    return pick(method, {{"POST", route_kind::device_send_event}}, id);
  if (!core::iequals(s[3], "devicebound")) return make(route_kind::not_found);
  if (n == 4) return pick(method, {{"GET", route_kind::device_receive_c2d}}, id);
  if (s[4].empty()) return make(route_kind::not_found);
  route r = make(route_kind::not_found);
  if (n == 5) {
    r = pick(method,
             {{"DELETE", query_parameter(target, "reject") ? route_kind::device_reject_c2d
                                                           : route_kind::device_complete_c2d}},
             id);
  } else if (n == 6 && s[5] == "abandon") {
    r = pick(method, {{"POST", route_kind::device_abandon_c2d}}, id);
  }
  if (r.kind != route_kind::not_found && r.kind != route_kind::method_not_allowed)
    r.lock_token = s[4];
  return r;
}

}  // namespace

route match_route(std::string_view method, std::string_view target) {
  const auto path = target.substr(0, target.find('?'));
  const auto parsed = segments_of(path);
  if (!parsed) return make(route_kind::bad_request);
  const auto& s = *parsed;
  const auto n = s.size();

  if (n == 1 && s[0] == "health") return pick(method, {{"GET", route_kind::health}});
  if (n == 1 && s[0] == "metrics") return pick(method, {{"GET", route_kind::metrics}});
  if (n == 1 && s[0].empty()) return pick(method, {{"GET", route_kind::dashboard_page}});
  if (n >= 2 && s[0] == "dashboard") return dashboard_route(method, target, s);
  // Any method: the handshake check answers a non-GET with 405 and says why.
  if (n == 2 && s[0] == "$iothub" && s[1] == "websocket")
    return make(route_kind::websocket_upgrade);

  if (n >= 1 && s[0] == "devices") {
    if (n == 1 || (n == 2 && s[1].empty()))
      return pick(method, {{"GET", route_kind::list_devices}, {"POST", route_kind::bulk_devices}});
    if (!is_id_segment(s[1])) return make(route_kind::not_found);
    if (n == 2 && s[1] == "query" && method == "POST") return make(route_kind::query_twins);
    if (n == 2)
      return pick(method,
                  {{"GET", route_kind::get_device},
                   {"PUT", route_kind::put_device},
                   {"DELETE", route_kind::delete_device}},
                  s[1]);
    if (n == 3 && s[2] == "commands")
      return pick(method, {{"DELETE", route_kind::purge_queue}}, s[1]);
    if (n >= 4 && s[2] == "messages") return device_messages_route(method, target, s);
    if (n >= 3 && s[2] == "modules") {
      // Module identities (issue 16; REST "Modules - …").
      if (!is_id_segment(s[1])) return make(route_kind::not_found);
      if (n == 3 || (n == 4 && s[3].empty()))
        return pick(method, {{"GET", route_kind::list_modules}}, s[1]);
      if (n == 4 && is_id_segment(s[3])) {
        route r = pick(method,
                       {{"GET", route_kind::get_module},
                        {"PUT", route_kind::put_module},
                        {"DELETE", route_kind::delete_module}},
                       s[1]);
        r.module_id = s[3];
        return r;
      }
      return make(route_kind::not_found);
    }
    if (n == 3 && s[2] == "applyConfigurationContent")
      return unsupported("configurations (applyConfigurationContent)");
    return make(route_kind::not_found);
  }

  // The registry manager's statistics (the C SDK's IoTHubRegistryManager_GetStatistics, the
  // service SDKs' getRegistryStatistics / getServiceStatistics).
  if (n == 2 && s[0] == "statistics" && s[1] == "devices")
    return pick(method, {{"GET", route_kind::registry_statistics}});
  if (n == 2 && s[0] == "statistics" && s[1] == "service")
    return pick(method, {{"GET", route_kind::service_statistics}});

  // CA certificates (issue 16): ARM's `…/IotHubs/{hub}/certificates` on the hub's own port.
  if (n >= 1 && s[0] == "certificates") {
    if (n == 1 || (n == 2 && s[1].empty()))
      return pick(method, {{"GET", route_kind::list_certificates}});
    if (s[1].empty()) return make(route_kind::not_found);
    route r = make(route_kind::not_found);
    if (n == 2)
      r = pick(method, {{"GET", route_kind::get_certificate},
                        {"PUT", route_kind::put_certificate},
                        {"DELETE", route_kind::delete_certificate}});
    else if (n == 3 && s[2] == "generateVerificationCode")
      r = pick(method, {{"POST", route_kind::certificate_verification_code}});
    else if (n == 3 && s[2] == "verify")
      r = pick(method, {{"POST", route_kind::verify_certificate}});
    if (r.kind != route_kind::not_found && r.kind != route_kind::method_not_allowed)
      r.certificate = s[1];
    return r;
  }

  // Features of Azure's registry the official Registry calls and the emulator does not have:
  // a clear 501 naming the feature instead of a bare 404 (README "Identities").
  if (n >= 1 && s[0] == "jobs") return unsupported("import/export jobs (/jobs)");
  if (n >= 1 && s[0] == "configurations") return unsupported("configurations");
  if (n >= 1 && s[0] == "twins") {
    if (n >= 2 && !s[1].empty() && !is_id_segment(s[1])) return make(route_kind::not_found);
    if (n >= 3 && s[2] == "modules") {
      // A module's twin and direct methods (issue 16): the route's id is the identity key
      // `{deviceId}/{moduleId}`, which the hub's twin and method calls take.
      if (n < 4 || !is_id_segment(s[3])) return make(route_kind::not_found);
      const std::string key = core::module_key(s[1], s[3]);
      route r = make(route_kind::not_found);
      if (n == 4)
        r = pick(method,
                 {{"GET", route_kind::get_twin},
                  {"PATCH", route_kind::update_twin},
                  {"PUT", route_kind::replace_twin}},
                 key);
      else if (n == 5 && s[4] == "methods")
        r = pick(method, {{"POST", route_kind::invoke_method}}, key);
      if (r.kind != route_kind::not_found && r.kind != route_kind::method_not_allowed)
        r.module_id = s[3];
      return r;
    }
    if (n == 2 && !s[1].empty())
      return pick(method,
                  {{"GET", route_kind::get_twin},
                   {"PATCH", route_kind::update_twin},
                   {"PUT", route_kind::replace_twin}},
                  s[1]);
    if (n == 3 && !s[1].empty() && s[2] == "methods")
      return pick(method, {{"POST", route_kind::invoke_method}}, s[1]);
    return make(route_kind::not_found);
  }

  if (n >= 3 && s[0] == "admin" && s[1] == "devices" && !is_id_segment(s[2]))
    return make(route_kind::not_found);
  if (n >= 2 && s[0] == "admin") {
    if (n == 4 && s[1] == "devices" && !s[2].empty() && s[3] == "messages")
      return pick(
          method,
          {{"GET", route_kind::admin_get_messages}, {"POST", route_kind::admin_post_message}},
          s[2]);
    if (n == 4 && s[1] == "devices" && !s[2].empty() && s[3] == "twin")
      return pick(method,
                  {{"GET", route_kind::admin_get_twin}, {"PATCH", route_kind::admin_patch_twin}},
                  s[2]);
    if (n == 4 && s[1] == "devices" && !s[2].empty() && s[3] == "faults")
      return pick(method, {{"POST", route_kind::admin_post_fault}}, s[2]);
    if (n == 2 && s[1] == "faults") return pick(method, {{"GET", route_kind::admin_faults}});
    if (n == 2 && s[1] == "chaos")
      return pick(method,
                  {{"GET", route_kind::admin_get_chaos}, {"PATCH", route_kind::admin_patch_chaos}});
    if (n == 3 && s[1] == "tokens" && s[2] == "expire")
      return pick(method, {{"POST", route_kind::admin_expire_tokens}});
    if (n == 2 && s[1] == "feedback") return pick(method, {{"GET", route_kind::admin_feedback}});
    if (n == 2 && s[1] == "telemetry") return pick(method, {{"GET", route_kind::admin_telemetry}});
    if (n == 2 && s[1] == "clock") return pick(method, {{"GET", route_kind::admin_clock}});
    if (n == 3 && s[1] == "clock" && s[2] == "advance")
      return pick(method, {{"POST", route_kind::admin_clock_advance}});
    if (n == 3 && s[1] == "clock" && s[2] == "wall-step")
      return pick(method, {{"POST", route_kind::admin_clock_wall_step}});
    if (n == 2 && s[1] == "reset") return pick(method, {{"POST", route_kind::admin_reset}});
  }
  return make(route_kind::not_found);
}

bool is_device_api(route_kind k) {
  switch (k) {
    case route_kind::device_send_event:
    case route_kind::device_receive_c2d:
    case route_kind::device_complete_c2d:
    case route_kind::device_reject_c2d:
    case route_kind::device_abandon_c2d:
      return true;
    default:
      return false;
  }
}

bool is_dashboard(route_kind k) {
  switch (k) {
    case route_kind::dashboard_page:
    case route_kind::dashboard_ca:
    case route_kind::dashboard_state:
    case route_kind::dashboard_events:
    case route_kind::dashboard_send_c2d:
      return true;
    default:
      return false;
  }
}

bool is_admin(route_kind k) {
  switch (k) {
    case route_kind::admin_get_messages:
    case route_kind::admin_post_message:
    case route_kind::admin_get_twin:
    case route_kind::admin_patch_twin:
    case route_kind::admin_feedback:
    case route_kind::admin_telemetry:
    case route_kind::admin_clock:
    case route_kind::admin_clock_advance:
    case route_kind::admin_clock_wall_step:
    case route_kind::admin_reset:
    case route_kind::admin_post_fault:
    case route_kind::admin_faults:
    case route_kind::admin_get_chaos:
    case route_kind::admin_patch_chaos:
    case route_kind::admin_expire_tokens:
      return true;
    default:
      return false;
  }
}

}  // namespace emu::https
