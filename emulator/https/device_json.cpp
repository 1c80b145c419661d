#include "emulator/https/device_json.hpp"

#include <optional>

namespace emu::https {

namespace {

using json = nlohmann::json;

/// .NET's DateTime.MinValue, what Azure reports for times that never happened.
constexpr const char* never = "0001-01-01T00:00:00Z";

core::error invalid(std::string message) {
  return core::error{core::hub_error::argument_invalid, std::move(message)};
}

/// A member that must be a string or null (or absent): its text, or nullopt on a wrong type.
std::optional<std::string> optional_string(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end() || it->is_null()) return std::string();
  if (!it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

std::string time_or_never(core::time_point t) {
  return t == core::time_point{} ? std::string(never) : core::to_iso8601(t);
}

json device_json(const core::device& d, int queued, const core::device_presence& presence) {
  return json{
      {"deviceId", d.id},
      {"generationId", d.generation_id},
      {"etag", d.etag},
      {"connectionState", presence.connected ? "Connected" : "Disconnected"},
      {"status", std::string(core::to_string(d.status))},
      {"statusReason", d.status_reason.empty() ? json(nullptr) : json(d.status_reason)},
      {"connectionStateUpdatedTime", time_or_never(presence.state_updated)},
      {"statusUpdatedTime", d.status_updated_time == core::time_point{}
                                ? std::string(never)
                                : core::to_iso8601(d.status_updated_time)},
      {"lastActivityTime", time_or_never(presence.last_activity)},
      {"cloudToDeviceMessageCount", queued},
      {"authentication",
       {{"symmetricKey", {{"primaryKey", d.primary_key}, {"secondaryKey", d.secondary_key}}},
        {"x509Thumbprint", {{"primaryThumbprint", nullptr}, {"secondaryThumbprint", nullptr}}},
        {"type", "sas"}}},
      {"capabilities", {{"iotEdge", false}}},
  };
}

core::result<core::device_spec> parse_device_body(std::string_view body, std::string_view path_id) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("The request body must be a JSON object describing the device.");

  core::device_spec spec;
  spec.id = std::string(path_id);

  const auto id = optional_string(doc, "deviceId");
  if (!id) return invalid("deviceId must be a string.");
  if (!id->empty() && *id != path_id)
    return invalid("The deviceId in the body does not match the deviceId in the path.");

  const auto status = optional_string(doc, "status");
  if (!status) return invalid("status must be a string.");
  if (status->empty() || *status == "enabled")
    spec.status = core::device_status::enabled;
  else if (*status == "disabled")
    spec.status = core::device_status::disabled;
  else
    return invalid("status must be 'enabled' or 'disabled'.");

  const auto reason = optional_string(doc, "statusReason");
  if (!reason) return invalid("statusReason must be a string.");
  spec.status_reason = *reason;

  if (const auto auth = doc.find("authentication"); auth != doc.end() && !auth->is_null()) {
    if (!auth->is_object()) return invalid("authentication must be an object.");
    const auto type = optional_string(*auth, "type");
    if (!type) return invalid("authentication.type must be a string.");
    if (!type->empty() && *type != "sas")
      return invalid("authentication.type '" + *type +
                     "' is not supported by the emulator: only 'sas'.");
    if (const auto keys = auth->find("symmetricKey"); keys != auth->end() && !keys->is_null()) {
      if (!keys->is_object()) return invalid("authentication.symmetricKey must be an object.");
      const auto primary = optional_string(*keys, "primaryKey");
      const auto secondary = optional_string(*keys, "secondaryKey");
      if (!primary || !secondary)
        return invalid("authentication.symmetricKey keys must be strings.");
      spec.primary_key = *primary;
      spec.secondary_key = *secondary;
    }
  }
  return spec;
}

std::string if_match_etag(std::string_view header) {
  if (header.starts_with("W/")) header.remove_prefix(2);
  if (header.size() >= 2 && header.front() == '"' && header.back() == '"')
    header = header.substr(1, header.size() - 2);
  return std::string(header);
}

}  // namespace emu::https
