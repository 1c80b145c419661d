#include "emulator/https/registry_api.hpp"

#include <string>

#include <nlohmann/json.hpp>

#include "emulator/https/device_json.hpp"
#include "emulator/https/error_response.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;

http_response device_response(const core::hub& hub, const core::device& d) {
  http_response r = json_response(device_json(d, hub.queued_count(d.id)));
  // C# treats the header as authoritative (spec §7); weak ETag quoted per RFC 7232.
  r.headers.emplace_back("ETag", "\"" + d.etag + "\"");
  return r;
}

http_response put_device(core::hub& hub, core::time_point now, const route& r,
                         const http_request& request) {
  auto spec = parse_device_body(request.body, r.device_id);
  if (!spec) return error_response(spec.err());
  // Spec §7: no If-Match creates (409 if the id is taken); an If-Match updates.
  if (request.if_match.empty()) {
    auto created = hub.create_device(*spec, now);
    return created ? device_response(hub, *created) : error_response(created.err());
  }
  const auto etag = if_match_etag(request.if_match);
  auto updated = hub.update_device(*spec, etag.empty() ? "*" : etag, now);
  return updated ? device_response(hub, *updated) : error_response(updated.err());
}

}  // namespace

core::permission required_permission(route_kind k) {
  switch (k) {
    case route_kind::list_devices:
    case route_kind::get_device:
      return core::permission::registry_read;
    case route_kind::put_device:
    case route_kind::delete_device:
      return core::permission::registry_write;
    case route_kind::purge_queue:
      return core::permission::service_connect;
    default:
      return core::permission::registry_write;
  }
}

http_response handle_registry(core::hub& hub, core::time_point now, const route& r,
                              const http_request& request) {
  if (request.authorization.empty())
    return error_response(401, "IotHubUnauthorizedAccess",
                          "The request has no Authorization header (SharedAccessSignature).");
  const auto grant =
      hub.authenticate_service(request.authorization, required_permission(r.kind), now);
  if (!grant) return error_response(grant.err());

  switch (r.kind) {
    case route_kind::list_devices: {
      json list = json::array();
      for (const auto& d : hub.list_devices())
        list.push_back(device_json(d, hub.queued_count(d.id)));
      return json_response(list);
    }
    case route_kind::get_device: {
      const core::device* d = hub.find_device(r.device_id);
      if (d == nullptr)
        return error_response(core::error{core::hub_error::device_not_found,
                                          "Device " + r.device_id + " not found."});
      return device_response(hub, *d);
    }
    case route_kind::put_device:
      return put_device(hub, now, r, request);
    case route_kind::delete_device: {
      const auto deleted = hub.delete_device(r.device_id, if_match_etag(request.if_match), now);
      if (!deleted) return error_response(deleted.err());
      http_response ok;
      ok.status = 204;
      return ok;
    }
    case route_kind::purge_queue: {
      const auto purged = hub.purge(r.device_id, now);
      if (!purged) return error_response(purged.err());
      return json_response(json{{"deviceId", r.device_id}, {"totalMessagesPurged", *purged}});
    }
    default:
      return error_response(404, "NotFound", "No such registry operation.");
  }
}

}  // namespace emu::https
