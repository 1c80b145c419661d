#pragma once
/// Who may do what (spec §5): verifying a SAS token presented by a device for its own
/// endpoints, or by a back-end for the service and registry endpoints.
///
/// Pure functions of the hub's settings (host name, policies, clock skew) and registry.
#include <memory>
#include <string>
#include <string_view>

#include "emulator/core/access_policy.hpp"
#include "emulator/core/ca_certificates.hpp"
#include "emulator/core/client_certificate.hpp"
#include "emulator/core/errors.hpp"
#include "emulator/core/hub_settings.hpp"
#include "emulator/core/registry.hpp"
#include "emulator/core/time.hpp"

namespace emu::core {

/// What a device connection proves itself with: a SAS token, or (when `token` is empty) the
/// X.509 certificate it presented in its TLS handshake.
struct device_credential {
  std::string token;
  std::shared_ptr<const client_certificate> certificate;
};

/// What a verified token grants.
struct auth_grant {
  /// Device tokens: the identity key (a device id or `{deviceId}/{moduleId}`); hub tokens:
  /// empty.
  std::string device_id;
  /// The policy name for hub-policy tokens; empty for device-key tokens.
  std::string policy;
  permission_set permissions = 0;
  /// `se` plus the clock skew: the connection must be closed when this passes (spec §3.3,
  /// §4.2).
  time_point expiry{};
};

/// A token presented by a device or module for its own endpoints: a token signed with the
/// identity's own key whose `sr` covers `{host}/devices/{id}` (a module:
/// `{host}/devices/{id}/modules/{mid}`), or a hub-policy token with DeviceConnect. `device_id`
/// is the identity key (identity_key.hpp). Unknown and disabled devices, and modules of a
/// disabled device, are refused alike (spec §3.3: CONNACK 5).
result<auth_grant> authenticate_device(const hub_settings& settings, const registry& devices,
                                       std::string_view token, std::string_view device_id,
                                       time_point now);

/// A device authenticating with the X.509 certificate it presented in the TLS handshake
/// (issue 16, README "Identities"): the device must exist, be enabled and have type
///   - `selfSigned`: the leaf's SHA-1 or SHA-256 thumbprint is its primary or secondary one;
///   - `certificateAuthority`: the leaf's subject CN is the device id (a module's:
///     `{deviceId}/{moduleId}`) and the chain leads to a verified CA of the hub
///     (ca_certificates::check_chain);
/// and the leaf must be valid at `now`. The grant lasts until the leaf's notAfter. Refusals
/// are `unauthorized` with the reason (MQTT CONNACK 5, AMQP amqp:unauthorized-access, 401).
result<auth_grant> authenticate_device_certificate(const registry& devices,
                                                   const ca_certificates& cas,
                                                   const client_certificate& certificate,
                                                   std::string_view device_id, time_point now);

/// SASL PLAIN as the Event Hubs clients of the C SDK's e2e tests use it (next-capabilities
/// §1.1): the policy's name and its key itself (not a token). The key is compared in constant
/// time with the policy's primary and secondary key; the policy must grant `needed`. The grant
/// lasts a year (a key does not expire).
result<auth_grant> authenticate_policy_key(const hub_settings& settings, std::string_view policy,
                                           std::string_view key, permission needed, time_point now);

/// A token for the service and registry endpoints: a hub-policy token (skn) whose `sr` names
/// this hub's host (any path below it) and whose policy has `needed`. Device-key tokens are
/// refused.
result<auth_grant> authenticate_service(const hub_settings& settings, std::string_view token,
                                        permission needed, time_point now);

}  // namespace emu::core
