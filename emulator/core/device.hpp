#pragma once
/// A device identity in the hub's registry (spec §7).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/core/time.hpp"

namespace emu::core {

enum class device_status { enabled, disabled };

std::string_view to_string(device_status s);

/// How a device proves who it is (spec §7, `authentication.type`): a SAS token signed with one
/// of its keys, a self-signed X.509 certificate whose thumbprint is registered, or an X.509
/// certificate that chains to a verified CA of the hub with subject CN = device id. `none`:
/// the device has no credential of its own (only a hub policy with DeviceConnect admits it).
enum class auth_type { sas, self_signed, certificate_authority, none };

/// "sas", "selfSigned", "certificateAuthority", "none" (the registry JSON names).
std::string_view to_string(auth_type t);
std::optional<auth_type> parse_auth_type(std::string_view text);

struct device {
  std::string id;
  device_status status = device_status::enabled;
  std::string status_reason;
  auth_type authentication = auth_type::sas;
  std::string primary_key;    // base64; empty unless `sas`
  std::string secondary_key;  // base64; empty unless `sas`
  /// Upper-case hex SHA-1 (40) or SHA-256 (64) of a certificate; empty unless `self_signed`.
  std::string primary_thumbprint;
  std::string secondary_thumbprint;
  /// `capabilities.iotEdge`: an IoT Edge device, which owns a device scope.
  bool iot_edge = false;
  /// Edge devices: their own scope (`ms-azure-iot-edge://{id}-{generation}`, made by the hub).
  /// Other devices: empty or the scope of the edge device that is their parent.
  std::string device_scope;
  /// The scopes of the device's parents (nested edge): at most one.
  std::vector<std::string> parent_scopes;
  /// Distinguishes a deleted-and-recreated device with the same id; feedback carries it.
  std::string generation_id;
  /// Opaque weak ETag value (without quotes); changes on every update.
  std::string etag;
  time_point status_updated_time{};
  friend bool operator==(const device&, const device&) = default;
};

/// An X.509 thumbprint as stored: SHA-1 (40) or SHA-256 (64) hex digits of any case,
/// upper-cased; nullopt for anything else.
std::optional<std::string> normal_thumbprint(std::string_view text);

/// Device id rules of spec §7: 1..128 ASCII characters from alphanumerics and
/// `- . + % _ # * ? ! ( ) , = @ $ '` (plus `:` and `;`, which the C# SDK also allows).
bool is_valid_device_id(std::string_view id);

}  // namespace emu::core
