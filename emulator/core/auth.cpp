#include "emulator/core/auth.hpp"

#include <algorithm>
#include <utility>

#include "emulator/core/crypto.hpp"
#include "emulator/core/host_name.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/core/sas_token.hpp"

namespace emu::core {

namespace {

error unauthorized(std::string message) {
  return error{hub_error::unauthorized, std::move(message)};
}

/// Splits a decoded `sr` into host and path ("host/devices/d" → "host", "/devices/d"). A
/// scheme is dropped first: the Event Hubs clients sign `sb://host/<hub>/...` audiences
/// (next-capabilities §1.3, §1.7).
std::pair<std::string_view, std::string_view> split_resource(std::string_view sr) {
  if (const auto scheme = sr.find("://"); scheme != std::string_view::npos && sr.find('/') > scheme)
    sr.remove_prefix(scheme + 3);
  const auto slash = sr.find('/');
  if (slash == std::string_view::npos) return {sr, {}};
  return {sr.substr(0, slash), sr.substr(slash)};
}

/// What a connecting identity (device or module) proves itself with.
struct identity_credentials {
  auth_type authentication = auth_type::sas;
  std::string_view primary_key, secondary_key, primary_thumbprint, secondary_thumbprint;
  /// What a `certificateAuthority` leaf's subject CN must be: the device id, or for a module
  /// `{deviceId}/{moduleId}` (UNCONFIRMED, README "Identities").
  std::string_view common_name;
  /// `/devices/{d}` or `/devices/{d}/modules/{m}`: what a token's `sr` must cover.
  std::string resource;
  /// "device" or "module", for the refusals' texts.
  std::string_view what = "device";
};

template <class Identity>
identity_credentials credentials_of(const Identity& i) {
  return {i.authentication,
          i.primary_key,
          i.secondary_key,
          i.primary_thumbprint,
          i.secondary_thumbprint,
          i.id,
          {},
          "device"};
}

/// The identity's device must exist and be enabled, and a module must exist (spec §3.3:
/// unknown and disabled are refused alike).
result<identity_credentials> find_identity(const registry& devices, std::string_view identity) {
  if (!is_identity_key(identity)) return unauthorized("Not a device or module id.");
  const auto ref = split_identity(identity);
  const device* d = devices.find(ref.device_id);
  if (d == nullptr) return unauthorized("Device not found.");
  if (d->status != device_status::enabled) return unauthorized("The device is disabled.");
  if (!ref.is_module()) {
    auto c = credentials_of(*d);
    c.resource = "/devices/" + d->id;
    return c;
  }
  const module_identity* m = devices.find_module(ref.device_id, ref.module_id);
  if (m == nullptr) return unauthorized("Module not found.");
  auto c = credentials_of(*m);
  c.resource = "/devices/" + d->id + "/modules/" + m->id;
  c.what = "module";
  // A CA-signed module certificate names the module within its device: a module id alone
  // would let one certificate open every module of that name on every device.
  c.common_name = identity;
  return c;
}

const access_policy* find_policy(const hub_settings& settings, std::string_view name) {
  const auto it = std::find_if(settings.policies.begin(), settings.policies.end(),
                               [&](const access_policy& p) { return p.name == name; });
  return it == settings.policies.end() ? nullptr : &*it;
}

}  // namespace

result<auth_grant> authenticate_device(const hub_settings& settings, const registry& devices,
                                       std::string_view token, std::string_view device_id,
                                       time_point now) {
  auto parsed = parse_sas_token(token);
  if (!parsed) return unauthorized(parsed.error().message);
  const sas_token& t = *parsed;
  const auto expiry = time_point{std::chrono::seconds{t.expiry}} + settings.token_clock_skew;
  if (now >= expiry) return unauthorized("The SAS token has expired.");
  const auto [host, path] = split_resource(t.resource_uri);
  if (!names_any(host, settings.host_name, settings.host_aliases))
    return unauthorized("The SAS token is for another hub (sr host).");
  // Spec §3.3 / REG-DOC: a disabled device cannot use device endpoints; unknown and disabled
  // devices are refused the same way (MQTT: CONNACK 5).
  const auto found = find_identity(devices, device_id);
  if (!found) return found.error();
  const identity_credentials& d = *found;

  auth_grant grant;
  grant.device_id = std::string(device_id);
  grant.expiry = expiry;
  grant.permissions = static_cast<permission_set>(permission::device_connect);
  const std::string& target = d.resource;
  if (t.key_name.empty()) {
    // A device-key token: its scope must cover this identity (spec §5.2). An X.509 identity
    // has no keys (an HMAC with an empty key must not pass for one). A module's token is
    // signed with the module's key, a device's with the device's.
    if (d.authentication != auth_type::sas)
      return unauthorized("The " + std::string(d.what) + " authenticates with " +
                          std::string(to_string(d.authentication)) + ", not a SAS key.");
    if (!resource_covers(path, target))
      return unauthorized("The SAS token's sr does not cover this identity.");
    // A module's own token names the module (SAS-DOC: `{host}/devices/{d}/modules/{m}`): a
    // module key signing its device's resource is not a module token.
    if (d.what == "module" && !resource_covers(target, path))
      return unauthorized("The SAS token's sr does not name this module.");
    if (!signature_matches(t, d.primary_key) && !signature_matches(t, d.secondary_key))
      return unauthorized("The SAS token's signature does not match.");
    return grant;
  }
  // A hub-policy token with DeviceConnect (gateways): `{host}` or `{host}/devices[/id]`.
  const access_policy* policy = find_policy(settings, t.key_name);
  if (policy == nullptr) return unauthorized("Unknown shared access policy.");
  if (!path.empty() && !resource_covers(path, target))
    return unauthorized("The SAS token's sr does not cover this device.");
  if (!signature_matches(t, policy->primary_key) && !signature_matches(t, policy->secondary_key))
    return unauthorized("The SAS token's signature does not match.");
  if (!has(policy->permissions, permission::device_connect))
    return unauthorized("The policy does not grant DeviceConnect.");
  grant.policy = policy->name;
  return grant;
}

result<auth_grant> authenticate_device_certificate(const registry& devices,
                                                   const ca_certificates& cas,
                                                   const client_certificate& certificate,
                                                   std::string_view device_id, time_point now) {
  const auto found = find_identity(devices, device_id);
  if (!found) return found.error();
  const identity_credentials* d = &*found;
  if (now < certificate.not_before) return unauthorized("The client certificate is not yet valid.");
  if (now >= certificate.not_after) return unauthorized("The client certificate has expired.");
  time_point expiry = certificate.not_after;
  switch (d->authentication) {
    case auth_type::self_signed:
      if (!thumbprint_matches(certificate, d->primary_thumbprint) &&
          !thumbprint_matches(certificate, d->secondary_thumbprint))
        return unauthorized("The client certificate's thumbprint is not the " +
                            std::string(d->what) + "'s.");
      break;
    case auth_type::certificate_authority:
      if (certificate.subject_common_name != d->common_name)
        return unauthorized("The client certificate's subject CN is not the " +
                            std::string(d->what) + " id.");
      if (auto chained = cas.check_chain(certificate, now); !chained) {
        return chained.error();
      } else {
        expiry = std::min(expiry, *chained);  // no longer than the CA itself is valid
      }
      break;
    case auth_type::sas:
    case auth_type::none:
      return unauthorized("The " + std::string(d->what) + " authenticates with " +
                          std::string(to_string(d->authentication)) +
                          ", not an X.509 certificate.");
  }
  auth_grant grant;
  grant.device_id = std::string(device_id);
  grant.expiry = expiry;
  grant.permissions = static_cast<permission_set>(permission::device_connect);
  return grant;
}

result<auth_grant> authenticate_policy_key(const hub_settings& settings,
                                           std::string_view policy_name, std::string_view key,
                                           permission needed, time_point now) {
  const access_policy* policy = find_policy(settings, policy_name);
  if (policy == nullptr) return unauthorized("Unknown shared access policy.");
  if (key.empty() || (!constant_time_equal(key, policy->primary_key) &&
                      !constant_time_equal(key, policy->secondary_key)))
    return unauthorized("The key does not match the policy's keys.");
  if (!has(policy->permissions, needed))
    return unauthorized("The policy '" + policy->name + "' does not grant " +
                        std::string(to_string(needed)) + ".");
  auth_grant grant;
  grant.policy = policy->name;
  grant.permissions = policy->permissions;
  grant.expiry = now + std::chrono::hours(24 * 365);
  return grant;
}

result<auth_grant> authenticate_service(const hub_settings& settings, std::string_view token,
                                        permission needed, time_point now) {
  auto parsed = parse_sas_token(token);
  if (!parsed) return unauthorized(parsed.error().message);
  const sas_token& t = *parsed;
  const auto expiry = time_point{std::chrono::seconds{t.expiry}} + settings.token_clock_skew;
  if (now >= expiry) return unauthorized("The SAS token has expired.");
  if (t.key_name.empty())
    return unauthorized("A device token cannot be used on a service endpoint (no skn).");
  const auto [host, path] = split_resource(t.resource_uri);
  if (!names_any(host, settings.host_name, settings.host_aliases))
    return unauthorized("The SAS token is for another hub (sr host).");
  const access_policy* policy = find_policy(settings, t.key_name);
  if (policy == nullptr) return unauthorized("Unknown shared access policy.");
  // The IoT Hub clients sign with the decoded key, the Event Hubs clients with its text
  // (next-capabilities §1.3): either proves the key.
  if (!signature_matches(t, policy->primary_key) && !signature_matches(t, policy->secondary_key) &&
      !signature_matches_text_key(t, policy->primary_key) &&
      !signature_matches_text_key(t, policy->secondary_key))
    return unauthorized("The SAS token's signature does not match.");
  if (!has(policy->permissions, needed))
    return unauthorized("The policy '" + policy->name + "' does not grant " +
                        std::string(to_string(needed)) + ".");
  auth_grant grant;
  grant.policy = policy->name;
  grant.permissions = policy->permissions;
  grant.expiry = expiry;
  return grant;
}

}  // namespace emu::core
