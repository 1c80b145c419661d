#include "emulator/core/registry.hpp"

#include "emulator/core/crypto.hpp"

#include <iterator>
#include <optional>

namespace emu::core {

namespace {

error fail(hub_error code, std::string message) {
  return error{code, std::move(message)};
}

bool valid_key(std::string_view key) {
  // Azure accepts symmetric keys of 16 to 64 bytes, base64-encoded (REST-PUT).
  const auto raw = base64_decode(key);
  return raw && raw->size() >= 16 && raw->size() <= 64;
}

status check_keys(std::string_view primary, std::string_view secondary) {
  for (const auto key : {primary, secondary})
    if (!key.empty() && !valid_key(key))
      return fail(hub_error::argument_invalid, "The key must be base64 of 16 to 64 bytes.");
  return success();
}

/// Copies what a create or update may set from `spec` to `d` (keys and thumbprints only where
/// the type uses them; the caller has checked them). For devices and modules alike.
template <class Spec, class Identity>
void apply_credentials(const Spec& spec, Identity& d, bool creating) {
  const bool type_changed = d.authentication != spec.authentication;
  d.authentication = spec.authentication;
  if (spec.authentication == auth_type::sas) {
    if (creating || type_changed) {
      d.primary_key = spec.primary_key.empty() ? random_key_base64() : spec.primary_key;
      d.secondary_key = spec.secondary_key.empty() ? random_key_base64() : spec.secondary_key;
    } else {
      if (!spec.primary_key.empty()) d.primary_key = spec.primary_key;
      if (!spec.secondary_key.empty()) d.secondary_key = spec.secondary_key;
    }
  } else {
    d.primary_key.clear();
    d.secondary_key.clear();
  }
  if (spec.authentication == auth_type::self_signed) {
    d.primary_thumbprint = normal_thumbprint(spec.primary_thumbprint).value_or("");
    d.secondary_thumbprint = normal_thumbprint(spec.secondary_thumbprint).value_or("");
  } else {
    d.primary_thumbprint.clear();
    d.secondary_thumbprint.clear();
  }
}

/// Whether what admits connections of the identity changed (its sessions must end).
template <class Identity>
bool credentials_changed(const Identity& before, const Identity& after) {
  return before.authentication != after.authentication || before.primary_key != after.primary_key ||
         before.secondary_key != after.secondary_key ||
         before.primary_thumbprint != after.primary_thumbprint ||
         before.secondary_thumbprint != after.secondary_thumbprint;
}

// Registry rules for credentials (REST-PUT, the Node e2e registry tests; UNCONFIRMED where
// Azure does not document them, README "Identities"), for devices and modules (`what`):
//   - `sas`: keys optional (generated), no thumbprints;
//   - `selfSigned`: a primary thumbprint (SHA-1 or SHA-256 hex), an optional secondary one,
//     no keys;
//   - `certificateAuthority` and `none`: neither keys nor thumbprints.
template <class Spec>
status check_credentials(const Spec& spec, std::string_view what) {
  const bool has_keys = !spec.primary_key.empty() || !spec.secondary_key.empty();
  const bool has_thumbprints =
      !spec.primary_thumbprint.empty() || !spec.secondary_thumbprint.empty();
  const std::string a = "A " + std::string(what) + " with authentication type '" +
                        std::string(to_string(spec.authentication)) + "' ";
  switch (spec.authentication) {
    case auth_type::sas:
      if (has_thumbprints)
        return fail(hub_error::argument_invalid, a + "cannot have X.509 thumbprints.");
      return check_keys(spec.primary_key, spec.secondary_key);
    case auth_type::self_signed:
      if (has_keys) return fail(hub_error::argument_invalid, a + "cannot have symmetric keys.");
      if (spec.primary_thumbprint.empty())
        return fail(hub_error::argument_invalid, a + "needs a primary thumbprint.");
      for (const auto* t : {&spec.primary_thumbprint, &spec.secondary_thumbprint})
        if (!t->empty() && !normal_thumbprint(*t))
          return fail(hub_error::argument_invalid,
                      "An X.509 thumbprint must be the hex SHA-1 (40 digits) or SHA-256 (64 "
                      "digits) of the certificate.");
      if (!spec.secondary_thumbprint.empty() && *normal_thumbprint(spec.primary_thumbprint) ==
                                                    *normal_thumbprint(spec.secondary_thumbprint))
        return fail(hub_error::argument_invalid,
                    "The primary and secondary thumbprints must differ.");
      return success();
    case auth_type::certificate_authority:
    case auth_type::none:
      if (has_keys || has_thumbprints)
        return fail(hub_error::argument_invalid, a + "has neither symmetric keys nor thumbprints.");
      return success();
  }
  return success();
}

}  // namespace

status registry::check_identity(const device_spec& spec) const {
  return check_credentials(spec, "device");
}

const device* registry::edge_with_scope(std::string_view scope) const {
  if (scope.empty()) return nullptr;
  for (const auto& [id, d] : devices_)
    if (d.iot_edge && d.device_scope == scope) return &d;
  return nullptr;
}

// Scopes (DOC iot-edge "nested edge" and the Node e2e registry tests): an edge device's scope
// is made by the hub and cannot be set or changed; its parentScopes hold at most one other
// edge device's scope. A device that is not an edge device may name an edge device's scope as
// its deviceScope (its parent); its parentScopes are then that scope, and a scope that names
// no edge device is refused.
status registry::check_scopes(const device_spec& spec, const device* current) const {
  if (spec.parent_scopes.size() > 1)
    return fail(hub_error::argument_invalid, "A device has at most one parent scope.");
  for (const auto& p : spec.parent_scopes) {
    const device* parent = edge_with_scope(p);
    if (parent == nullptr)
      return fail(hub_error::argument_invalid,
                  "The parent scope '" + p + "' is not the scope of an edge device.");
    if (parent->id == spec.id)
      return fail(hub_error::argument_invalid, "A device cannot be its own parent.");
  }
  if (spec.iot_edge) {
    const std::string mine = current != nullptr && current->iot_edge ? current->device_scope : "";
    if (!spec.device_scope.empty() && spec.device_scope != mine)
      return fail(hub_error::argument_invalid,
                  "The deviceScope of an edge device is set by the hub and cannot be changed.");
    return success();
  }
  if (!spec.device_scope.empty()) {
    const device* parent = edge_with_scope(spec.device_scope);
    if (parent == nullptr || parent->id == spec.id)
      return fail(hub_error::argument_invalid, "The deviceScope '" + spec.device_scope +
                                                   "' is not the scope of an edge device.");
    if (!spec.parent_scopes.empty() && spec.parent_scopes.front() != spec.device_scope)
      return fail(hub_error::argument_invalid,
                  "The parentScopes of a leaf device must be its deviceScope.");
  } else if (!spec.parent_scopes.empty()) {
    return fail(hub_error::argument_invalid,
                "A device that is not an edge device names its parent in deviceScope.");
  }
  return success();
}

void registry::restore(const std::vector<device>& devices,
                       const std::vector<module_identity>& modules) {
  devices_.clear();
  modules_.clear();
  for (const auto& d : devices) devices_.emplace(d.id, d);
  for (const auto& m : modules) modules_.emplace(module_key(m.device_id, m.id), m);
}

std::string registry::new_generation_id() {
  // Azure's generation ids look like 18-digit .NET tick counts (spec §7, UNCONFIRMED format).
  return std::to_string(638000000000000000ULL + journal_.next(&hub_counters::next_generation));
}

std::string registry::new_etag() {
  return base64_encode(std::to_string(journal_.next(&hub_counters::next_generation)));
}

result<device> registry::create(const device_spec& spec, time_point now) {
  if (!is_valid_device_id(spec.id))
    return fail(hub_error::argument_invalid, "DeviceId '" + spec.id + "' is invalid");
  if (devices_.contains(spec.id))
    return fail(hub_error::device_already_exists,
                "A device with ID '" + spec.id + "' is already registered.");
  if (auto ok = check_identity(spec); !ok) return ok.error();
  if (auto ok = check_scopes(spec, nullptr); !ok) return ok.error();
  device d;
  d.id = spec.id;
  d.status = spec.status;
  d.status_reason = spec.status_reason;
  apply_credentials(spec, d, /*creating=*/true);
  d.generation_id = new_generation_id();
  d.etag = new_etag();
  d.iot_edge = spec.iot_edge;
  d.device_scope =
      spec.iot_edge ? "ms-azure-iot-edge://" + d.id + "-" + d.generation_id : spec.device_scope;
  d.parent_scopes = spec.iot_edge || spec.device_scope.empty()
                        ? spec.parent_scopes
                        : std::vector<std::string>{spec.device_scope};
  d.status_updated_time = now;
  devices_.emplace(d.id, d);
  journal_.record(change::put_device{d});
  return d;
}

result<device_update> registry::update(const device_spec& spec, std::string_view if_match,
                                       time_point now) {
  const auto it = devices_.find(spec.id);
  if (it == devices_.end())
    return fail(hub_error::device_not_found, "Device " + spec.id + " not found.");
  device& d = it->second;
  if (!if_match.empty() && if_match != "*" && if_match != d.etag)
    return fail(hub_error::precondition_failed, "The etag does not match the device's etag.");
  if (auto ok = check_identity(spec); !ok) return ok.error();
  if (auto ok = check_scopes(spec, &d); !ok) return ok.error();
  const device before = d;
  if (spec.status != d.status) d.status_updated_time = now;
  d.status = spec.status;
  d.status_reason = spec.status_reason;
  apply_credentials(spec, d, /*creating=*/false);
  if (spec.iot_edge && !d.iot_edge)
    d.device_scope = "ms-azure-iot-edge://" + d.id + "-" + d.generation_id;
  else if (!spec.iot_edge)
    d.device_scope = spec.device_scope;
  d.iot_edge = spec.iot_edge;
  d.parent_scopes = spec.iot_edge || spec.device_scope.empty()
                        ? spec.parent_scopes
                        : std::vector<std::string>{spec.device_scope};
  const bool access_changed = d.status != before.status || credentials_changed(before, d);
  d.etag = new_etag();
  journal_.record(change::put_device{d});
  return device_update{d, access_changed};
}

status registry::check_delete(std::string_view id, std::string_view if_match) const {
  const auto it = devices_.find(id);
  if (it == devices_.end())
    return fail(hub_error::device_not_found, "Device " + std::string(id) + " not found.");
  if (!if_match.empty() && if_match != "*" && if_match != it->second.etag)
    return fail(hub_error::precondition_failed, "The etag does not match the device's etag.");
  return success();
}

void registry::erase(std::string_view id) {
  const auto it = devices_.find(id);
  if (it == devices_.end()) return;
  const std::string device_id = it->first;
  devices_.erase(it);
  // Its modules go with it (the store's remove_device cascades to them and their twins).
  const auto [first, last] = modules_of_range(device_id);
  modules_.erase(first, last);
  journal_.record(change::remove_device{device_id});
}

const device* registry::find(std::string_view id) const {
  const auto it = devices_.find(id);
  return it == devices_.end() ? nullptr : &it->second;
}

bool registry::enabled(std::string_view identity) const {
  if (!is_identity_key(identity)) return false;
  const auto ref = split_identity(identity);
  const device* d = find(ref.device_id);
  if (d == nullptr || d->status != device_status::enabled) return false;
  return !ref.is_module() || modules_.contains(identity);
}

std::optional<std::string> registry::generation_of(std::string_view identity) const {
  if (!is_identity_key(identity)) return std::nullopt;
  const auto ref = split_identity(identity);
  if (ref.is_module()) {
    const auto it = modules_.find(identity);
    if (it == modules_.end()) return std::nullopt;
    return it->second.generation_id;
  }
  const device* d = find(identity);
  if (d == nullptr) return std::nullopt;
  return d->generation_id;
}

// ---- modules (issue 16) ---------------------------------------------------------------------

const module_identity* registry::find_module(std::string_view device_id,
                                             std::string_view module_id) const {
  const auto it = modules_.find(module_key(device_id, module_id));
  return it == modules_.end() ? nullptr : &it->second;
}

registry::module_range registry::modules_of_range(std::string_view device_id) const {
  // Keys `{deviceId}/…` lie in [`{deviceId}/`, `{deviceId}0`): '0' follows '/' in ASCII.
  const std::string id(device_id);
  return {modules_.lower_bound(id + '/'), modules_.lower_bound(id + '0')};
}

std::vector<module_identity> registry::modules_of(std::string_view device_id) const {
  std::vector<module_identity> out;
  const auto [first, last] = modules_of_range(device_id);
  for (auto m = first; m != last; ++m) out.push_back(m->second);
  return out;
}

std::size_t registry::module_count(std::string_view device_id) const {
  const auto [first, last] = modules_of_range(device_id);
  return static_cast<std::size_t>(std::distance(first, last));
}

std::vector<module_identity> registry::all_modules() const {
  std::vector<module_identity> out;
  out.reserve(modules_.size());
  for (const auto& [key, m] : modules_) out.push_back(m);
  return out;
}

result<module_identity> registry::create_module(const module_spec& spec) {
  if (find(spec.device_id) == nullptr)
    return fail(hub_error::device_not_found, "Device " + spec.device_id + " not found.");
  if (!is_valid_device_id(spec.id))
    return fail(hub_error::argument_invalid, "ModuleId '" + spec.id + "' is invalid");
  const std::string key = module_key(spec.device_id, spec.id);
  if (modules_.contains(key))
    return fail(hub_error::module_already_exists, "A module with ID '" + spec.id +
                                                      "' is already registered on device '" +
                                                      spec.device_id + "'.");
  if (module_count(spec.device_id) >= max_modules_per_device)
    return fail(hub_error::too_many_modules, "Device '" + spec.device_id + "' already has " +
                                                 std::to_string(max_modules_per_device) +
                                                 " modules.");
  if (auto ok = check_credentials(spec, "module"); !ok) return ok.error();
  module_identity m;
  m.device_id = spec.device_id;
  m.id = spec.id;
  m.managed_by = spec.managed_by;
  apply_credentials(spec, m, /*creating=*/true);
  m.generation_id = new_generation_id();
  m.etag = new_etag();
  modules_.emplace(key, m);
  journal_.record(change::put_module{m});
  return m;
}

result<module_update> registry::update_module(const module_spec& spec, std::string_view if_match) {
  if (find(spec.device_id) == nullptr)
    return fail(hub_error::device_not_found, "Device " + spec.device_id + " not found.");
  const auto it = modules_.find(module_key(spec.device_id, spec.id));
  if (it == modules_.end())
    return fail(hub_error::module_not_found,
                "Module " + spec.id + " on device " + spec.device_id + " not found.");
  module_identity& m = it->second;
  if (!if_match.empty() && if_match != "*" && if_match != m.etag)
    return fail(hub_error::precondition_failed, "The etag does not match the module's etag.");
  if (auto ok = check_credentials(spec, "module"); !ok) return ok.error();
  const module_identity before = m;
  apply_credentials(spec, m, /*creating=*/false);
  m.managed_by = spec.managed_by;
  m.etag = new_etag();
  journal_.record(change::put_module{m});
  return module_update{m, credentials_changed(before, m)};
}

status registry::check_delete_module(std::string_view device_id, std::string_view module_id,
                                     std::string_view if_match) const {
  if (find(device_id) == nullptr)
    return fail(hub_error::device_not_found, "Device " + std::string(device_id) + " not found.");
  const module_identity* m = find_module(device_id, module_id);
  if (m == nullptr)
    return fail(hub_error::module_not_found, "Module " + std::string(module_id) + " on device " +
                                                 std::string(device_id) + " not found.");
  if (!if_match.empty() && if_match != "*" && if_match != m->etag)
    return fail(hub_error::precondition_failed, "The etag does not match the module's etag.");
  return success();
}

void registry::erase_module(std::string_view device_id, std::string_view module_id) {
  const auto it = modules_.find(module_key(device_id, module_id));
  if (it == modules_.end()) return;
  modules_.erase(it);
  journal_.record(change::remove_module{std::string(device_id), std::string(module_id)});
}

std::vector<device> registry::list() const {
  std::vector<device> out;
  out.reserve(devices_.size());
  for (const auto& [id, d] : devices_) out.push_back(d);
  return out;
}

}  // namespace emu::core
