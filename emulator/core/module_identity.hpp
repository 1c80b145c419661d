#pragma once
/// A module identity in the hub's registry (issue 16; REST "Modules - Create Or Update
/// Identity"): an identity of its own below a device, with its own credentials, generation id,
/// etag and twin. A module has no status: it may connect while its device is enabled.
#include <string>

#include "emulator/core/device.hpp"

namespace emu::core {

struct module_identity {
  std::string device_id;
  std::string id;
  /// Free text the owner sets (`managedBy`, e.g. "IotEdge"); the hub does not interpret it.
  std::string managed_by;
  auth_type authentication = auth_type::sas;
  std::string primary_key;    // base64; empty unless `sas`
  std::string secondary_key;  // base64; empty unless `sas`
  std::string primary_thumbprint;
  std::string secondary_thumbprint;
  std::string generation_id;
  std::string etag;
  friend bool operator==(const module_identity&, const module_identity&) = default;
};

/// What a module create/update carries; empty keys of a `sas` module are generated.
struct module_spec {
  std::string device_id;
  std::string id;
  std::string managed_by;
  auth_type authentication = auth_type::sas;
  std::string primary_key{};
  std::string secondary_key{};
  std::string primary_thumbprint{};
  std::string secondary_thumbprint{};
};

}  // namespace emu::core
