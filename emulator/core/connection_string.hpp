#pragma once
/// IoT Hub connection strings (spec §5.4):
///   hub:    HostName=…;SharedAccessKeyName=…;SharedAccessKey=…   (or SharedAccessSignature=…)
///   device: HostName=…;DeviceId=…;SharedAccessKey=…  [;GatewayHostName=…][;ModuleId=…]
#include <string>
#include <string_view>

#include "emulator/core/errors.hpp"

namespace emu::core {

struct connection_string {
  std::string host_name;
  std::string gateway_host_name;
  std::string device_id;
  std::string module_id;
  std::string shared_access_key_name;
  std::string shared_access_key;
  std::string shared_access_signature;

  bool is_device() const { return !device_id.empty(); }
};

/// Splits on `;`, then each pair at the FIRST `=` (keys are base64 and end in `=`). Keys are
/// matched case-sensitively as the SDKs write them; unknown keys are ignored (e.g.
/// `x509`, `UseProvisioning`). Whitespace around names and values is trimmed; empty segments
/// (a trailing `;`) are skipped. Errors (`argument_invalid`) name the problem: missing HostName,
/// neither DeviceId nor SharedAccessKeyName, ModuleId without DeviceId, no key or signature, a
/// duplicate key, an empty value, a segment without `=`, a key that is not base64, a
/// SharedAccessSignature that parse_sas_token refuses. (The Node SDK is laxer: last duplicate
/// wins and malformed segments are dropped.)
result<connection_string> parse_connection_string(std::string_view text);

/// Renders the fields that are set, in the order HostName, [GatewayHostName], DeviceId,
/// [ModuleId], SharedAccessKeyName, SharedAccessKey, SharedAccessSignature.
std::string to_string(const connection_string& cs);

}  // namespace emu::core
