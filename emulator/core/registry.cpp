#include "emulator/core/registry.hpp"

#include "emulator/core/crypto.hpp"

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

status check_keys(const device_spec& spec) {
  for (const auto* key : {&spec.primary_key, &spec.secondary_key})
    if (!key->empty() && !valid_key(*key))
      return fail(hub_error::argument_invalid, "The device key must be base64 of 16 to 64 bytes.");
  return success();
}

}  // namespace

void registry::restore(const std::vector<device>& devices) {
  devices_.clear();
  for (const auto& d : devices) devices_.emplace(d.id, d);
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
  if (auto keys = check_keys(spec); !keys) return keys.error();
  device d;
  d.id = spec.id;
  d.status = spec.status;
  d.status_reason = spec.status_reason;
  d.primary_key = spec.primary_key.empty() ? random_key_base64() : spec.primary_key;
  d.secondary_key = spec.secondary_key.empty() ? random_key_base64() : spec.secondary_key;
  d.generation_id = new_generation_id();
  d.etag = new_etag();
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
  if (auto keys = check_keys(spec); !keys) return keys.error();
  const bool access_changed =
      spec.status != d.status || (!spec.primary_key.empty() && spec.primary_key != d.primary_key) ||
      (!spec.secondary_key.empty() && spec.secondary_key != d.secondary_key);
  if (spec.status != d.status) d.status_updated_time = now;
  d.status = spec.status;
  d.status_reason = spec.status_reason;
  if (!spec.primary_key.empty()) d.primary_key = spec.primary_key;
  if (!spec.secondary_key.empty()) d.secondary_key = spec.secondary_key;
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
  journal_.record(change::remove_device{device_id});
}

const device* registry::find(std::string_view id) const {
  const auto it = devices_.find(id);
  return it == devices_.end() ? nullptr : &it->second;
}

bool registry::enabled(std::string_view id) const {
  const device* d = find(id);
  return d != nullptr && d->status == device_status::enabled;
}

std::vector<device> registry::list() const {
  std::vector<device> out;
  out.reserve(devices_.size());
  for (const auto& [id, d] : devices_) out.push_back(d);
  return out;
}

}  // namespace emu::core
