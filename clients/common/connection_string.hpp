#pragma once
/// IoT Hub connection strings, the way the portal and the emulator print them:
///   service: HostName=…;SharedAccessKeyName=…;SharedAccessKey=…
///   device:  HostName=…;DeviceId=…;SharedAccessKey=…[;GatewayHostName=…]
/// HostName and GatewayHostName may carry a port (`localhost:18883`), as the Node SDKs allow.
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace iothub_samples {

/// Thrown for a malformed connection string. The message names the problem and never repeats
/// the key.
class connection_string_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct connection_string {
  std::string host_name;
  std::string gateway_host_name;
  std::string device_id;
  std::string module_id;
  std::string shared_access_key_name;
  std::string shared_access_key;
  /// `x509=true`: the device authenticates with a TLS client certificate, not a key.
  bool x509 = false;
};

enum class connection_string_kind { device, service };

/// Splits on `;` and each part at its first `=` (keys end in `=`). Unknown names are ignored.
/// Requires HostName and SharedAccessKey (base64), plus DeviceId for a device string or
/// SharedAccessKeyName for a service string. A device string may have `x509=true` instead of a
/// key (an X.509 device, README "Identities").
connection_string parse_connection_string(std::string_view text, connection_string_kind kind);

struct host_port {
  std::string host;
  std::uint16_t port = 0;
};

/// "host", "host:port", "[::1]" or "[::1]:port". Without a port, `default_port`.
/// Throws connection_string_error for an empty host or a bad port.
host_port split_host_port(std::string_view text, std::uint16_t default_port);

}  // namespace iothub_samples
