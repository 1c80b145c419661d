#include "emulator/https/twin_json.hpp"

#include "emulator/https/device_json.hpp"

namespace emu::https {

namespace {

using json = nlohmann::json;

/// .NET's DateTime.MinValue, what Azure reports for times that never happened.
constexpr const char* never = "0001-01-01T00:00:00Z";

core::error invalid(std::string message) {
  return core::error{core::hub_error::argument_invalid, std::move(message)};
}

/// The body as a JSON object, or the error.
core::result<json> object_body(std::string_view body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("The request body is not a JSON object.");
  return doc;
}

}  // namespace

json twin_json(const core::device_twin& twin, const core::device& device, int queued,
               const core::device_presence& presence, const core::module_identity* module) {
  json doc{
      {"deviceId", device.id},
      {"etag", twin.etag},
      {"deviceEtag", device.etag},
      {"version", twin.version},
      {"status", std::string(core::to_string(device.status))},
      {"statusReason", device.status_reason.empty() ? json(nullptr) : json(device.status_reason)},
      {"statusUpdateTime", device.status_updated_time == core::time_point{}
                               ? std::string(never)
                               : core::to_iso8601(device.status_updated_time)},
      {"connectionState", presence.connected ? "Connected" : "Disconnected"},
      {"lastActivityTime", time_or_never(presence.last_activity)},
      {"cloudToDeviceMessageCount", queued},
      {"authenticationType", std::string(core::to_string(device.authentication))},
      {"x509Thumbprint", thumbprints_json(device)},
      {"modelId", ""},
      {"capabilities", {{"iotEdge", device.iot_edge}}},
      {"deviceScope", null_if_empty(device.device_scope)},
      {"parentScopes", device.parent_scopes},
      {"tags", twin.tags},
      {"properties",
       {{"desired", core::section_for_service(twin.desired)},
        {"reported", core::section_for_service(twin.reported)}}},
  };
  if (module != nullptr) {
    // A module twin (REST "Modules - Get Twin"): the module's identity and credentials, its
    // device's status; no C2D queue, no edge capabilities or scopes.
    doc["moduleId"] = module->id;
    doc["cloudToDeviceMessageCount"] = 0;
    doc["authenticationType"] = std::string(core::to_string(module->authentication));
    doc["x509Thumbprint"] = thumbprints_json(*module);
    for (const char* device_only : {"statusReason", "capabilities", "deviceScope", "parentScopes"})
      doc.erase(device_only);
  }
  return doc;
}

core::result<core::twin_update> parse_twin_patch(std::string_view body) {
  auto doc = object_body(body);
  if (!doc) return doc.error();
  core::twin_update u;
  if (const auto tags = doc->find("tags"); tags != doc->end()) {
    if (!tags->is_object() && !tags->is_null()) return invalid("'tags' must be an object or null.");
    u.tags = *tags;
  }
  if (const auto props = doc->find("properties"); props != doc->end() && !props->is_null()) {
    if (!props->is_object()) return invalid("'properties' must be an object.");
    if (props->contains("reported"))
      return invalid("Reported properties are written by the device only.");
    if (const auto desired = props->find("desired"); desired != props->end()) {
      if (!desired->is_object() && !desired->is_null())
        return invalid("'properties.desired' must be an object or null.");
      // Read-only members the SDKs may echo back from a twin they read.
      json d = *desired;
      if (d.is_object()) {
        d.erase("$metadata");
        d.erase("$version");
      }
      u.desired = std::move(d);
    }
  }
  return u;
}

core::result<core::twin_replacement> parse_twin_replacement(std::string_view body) {
  auto doc = object_body(body);
  if (!doc) return doc.error();
  core::twin_replacement r;
  if (const auto tags = doc->find("tags"); tags != doc->end() && !tags->is_null()) {
    if (!tags->is_object()) return invalid("'tags' must be an object.");
    r.tags = *tags;
  }
  if (const auto props = doc->find("properties"); props != doc->end() && !props->is_null()) {
    if (!props->is_object()) return invalid("'properties' must be an object.");
    if (const auto desired = props->find("desired");
        desired != props->end() && !desired->is_null()) {
      if (!desired->is_object()) return invalid("'properties.desired' must be an object.");
      r.desired = *desired;
      r.desired.erase("$metadata");
      r.desired.erase("$version");
    }
  }
  return r;
}

}  // namespace emu::https
