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

/// `authentication` of a device or module body (see parse_device_body).
template <class Spec>
std::optional<core::error> parse_authentication(const json& doc, Spec& spec) {
  if (const auto auth = doc.find("authentication"); auth != doc.end() && !auth->is_null()) {
    if (!auth->is_object()) return invalid("authentication must be an object.");
    const auto keys = auth->find("symmetricKey");
    if (keys != auth->end() && !keys->is_null()) {
      if (!keys->is_object()) return invalid("authentication.symmetricKey must be an object.");
      const auto primary = optional_string(*keys, "primaryKey");
      const auto secondary = optional_string(*keys, "secondaryKey");
      if (!primary || !secondary)
        return invalid("authentication.symmetricKey keys must be strings.");
      spec.primary_key = *primary;
      spec.secondary_key = *secondary;
    }
    const auto prints = auth->find("x509Thumbprint");
    if (prints != auth->end() && !prints->is_null()) {
      if (!prints->is_object()) return invalid("authentication.x509Thumbprint must be an object.");
      const auto primary = optional_string(*prints, "primaryThumbprint");
      const auto secondary = optional_string(*prints, "secondaryThumbprint");
      if (!primary || !secondary)
        return invalid("authentication.x509Thumbprint thumbprints must be strings.");
      spec.primary_thumbprint = *primary;
      spec.secondary_thumbprint = *secondary;
    }
    const auto type = optional_string(*auth, "type");
    if (!type) return invalid("authentication.type must be a string.");
    if (type->empty()) {
      // As the Node Registry normalizes (registry.ts _normalizeAuthentication): thumbprints
      // without a type mean selfSigned.
      spec.authentication = spec.primary_thumbprint.empty() && spec.secondary_thumbprint.empty()
                                ? core::auth_type::sas
                                : core::auth_type::self_signed;
    } else if (const auto parsed = core::parse_auth_type(*type)) {
      spec.authentication = *parsed;
    } else {
      return invalid("authentication.type '" + *type +
                     "' is not one of sas, selfSigned, certificateAuthority, none.");
    }
  }

  return std::nullopt;
}

}  // namespace

json null_if_empty(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

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
       {{"symmetricKey",
         {{"primaryKey", null_if_empty(d.primary_key)},
          {"secondaryKey", null_if_empty(d.secondary_key)}}},
        {"x509Thumbprint", thumbprints_json(d)},
        {"type", std::string(core::to_string(d.authentication))}}},
      {"capabilities", {{"iotEdge", d.iot_edge}}},
      {"deviceScope", null_if_empty(d.device_scope)},
      {"parentScopes", d.parent_scopes},
  };
}

json thumbprints_json(std::string_view primary, std::string_view secondary) {
  return json{{"primaryThumbprint", null_if_empty(std::string(primary))},
              {"secondaryThumbprint", null_if_empty(std::string(secondary))}};
}

json module_json(const core::module_identity& m, const core::device_presence& presence) {
  return json{
      {"deviceId", m.device_id},
      {"moduleId", m.id},
      {"managedBy", null_if_empty(m.managed_by)},
      {"generationId", m.generation_id},
      {"etag", m.etag},
      {"connectionState", presence.connected ? "Connected" : "Disconnected"},
      {"connectionStateUpdatedTime", time_or_never(presence.state_updated)},
      {"lastActivityTime", time_or_never(presence.last_activity)},
      {"cloudToDeviceMessageCount", 0},
      {"authentication",
       {{"symmetricKey",
         {{"primaryKey", null_if_empty(m.primary_key)},
          {"secondaryKey", null_if_empty(m.secondary_key)}}},
        {"x509Thumbprint", thumbprints_json(m)},
        {"type", std::string(core::to_string(m.authentication))}}},
  };
}

core::result<core::module_spec> parse_module_body(std::string_view body, std::string_view device_id,
                                                  std::string_view module_id) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("The request body must be a JSON object describing the module.");
  core::module_spec spec;
  spec.device_id = std::string(device_id);
  spec.id = std::string(module_id);
  const auto d = optional_string(doc, "deviceId");
  const auto m = optional_string(doc, "moduleId");
  if (!d || !m) return invalid("deviceId and moduleId must be strings.");
  if (!d->empty() && *d != device_id)
    return invalid("The deviceId in the body does not match the deviceId in the path.");
  if (!m->empty() && *m != module_id)
    return invalid("The moduleId in the body does not match the moduleId in the path.");
  const auto managed_by = optional_string(doc, "managedBy");
  if (!managed_by) return invalid("managedBy must be a string.");
  spec.managed_by = *managed_by;
  if (auto failed = parse_authentication(doc, spec)) return std::move(*failed);
  return spec;
}

core::result<core::device_spec> parse_device_body(std::string_view body, std::string_view path_id) {
  const json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object())
    return invalid("The request body must be a JSON object describing the device.");
  return parse_device_object(doc, "deviceId", path_id);
}

core::result<core::device_spec> parse_device_object(const json& doc, const char* id_member,
                                                    std::string_view path_id) {
  if (!doc.is_object()) return invalid("A device must be a JSON object.");
  core::device_spec spec;
  spec.id = std::string(path_id);

  const auto id = optional_string(doc, id_member);
  if (!id) return invalid(std::string(id_member) + " must be a string.");
  if (path_id.empty()) {
    if (id->empty()) return invalid(std::string("The device has no ") + id_member + ".");
    spec.id = *id;
  } else if (!id->empty() && *id != path_id) {
    return invalid("The deviceId in the body does not match the deviceId in the path.");
  }

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

  if (auto failed = parse_authentication(doc, spec)) return std::move(*failed);

  if (const auto caps = doc.find("capabilities"); caps != doc.end() && !caps->is_null()) {
    if (!caps->is_object()) return invalid("capabilities must be an object.");
    if (const auto edge = caps->find("iotEdge"); edge != caps->end() && !edge->is_null()) {
      if (!edge->is_boolean()) return invalid("capabilities.iotEdge must be true or false.");
      spec.iot_edge = edge->get<bool>();
    }
  }
  const auto scope = optional_string(doc, "deviceScope");
  if (!scope) return invalid("deviceScope must be a string.");
  spec.device_scope = *scope;
  if (const auto parents = doc.find("parentScopes"); parents != doc.end() && !parents->is_null()) {
    if (!parents->is_array()) return invalid("parentScopes must be an array of strings.");
    for (const auto& p : *parents) {
      if (!p.is_string()) return invalid("parentScopes must be an array of strings.");
      if (!p.get<std::string>().empty()) spec.parent_scopes.push_back(p.get<std::string>());
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
