#pragma once
/// The emulator's configuration: defaults in code, then a JSON file, then command-line flags.
/// One plain struct tree, validated in one place that reports `key: problem (value)`.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "emulator/core/hub.hpp"
#include "emulator/core/hub_settings.hpp"

namespace emu::app {

struct listen_settings {
  std::string bind = "127.0.0.1";  // loopback unless told otherwise (security by default)
  int mqtt_port = 8883;
  int amqp_port = 5671;
  /// Registry REST, health and test control (the Node Registry only ever uses 443).
  int https_port = 443;
  /// Whether the HTTPS port was chosen (config or flag). The default 443 needs privileges; when
  /// it was not chosen and is refused, the emulator falls back to a free port with a warning.
  bool https_port_given = false;
  /// A plain-TCP MQTT listener, off unless set (for TLS-terminating proxies and debugging).
  std::optional<int> mqtt_plain_port;
};

struct emulator_config {
  core::hub_settings hub;
  /// Devices that must exist at start (created if missing, keys/status updated if different).
  std::vector<core::device_spec> devices;
  listen_settings listen;
  std::filesystem::path data_dir = "iothub-data";
  bool data_dir_given = false;
  bool in_memory = false;
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path ready_file;
  std::string log_level = "info";
  /// Serve the /admin/ test-control routes (loopback clients only). Off by default.
  bool test_control = false;
  /// MQTT: how many C2D messages may be in flight (unacknowledged) per connection (spec §3.5).
  int mqtt_inflight_window = 1;
  /// MQTT: the largest packet accepted once a device is connected, in bytes.
  std::size_t max_packet_size = 512 * 1024;
  /// Resource limits of the fronts (issue 7): safe defaults, configurable for tests and load.
  struct mqtt_limits {
    std::size_t max_connections = 10000;
    core::duration connect_timeout = std::chrono::seconds(10);  // CONNECT after TLS
    core::duration tls_handshake_timeout = std::chrono::seconds(10);
    std::size_t io_threads = 1;
    /// The largest packet accepted before the CONNECT is accepted (what an unauthenticated
    /// connection can make the gateway buffer); gateway_settings.hpp explains the default.
    std::size_t max_connect_packet_size = 80 * 1024;
    /// Reading from a device pauses while this many bytes wait to be written to it.
    std::size_t max_output_backlog = 1024 * 1024;
  } mqtt;
  struct amqp_limits {
    std::size_t max_connections = 1000;
    core::duration idle_timeout = std::chrono::seconds(240);
    core::duration handshake_timeout = std::chrono::seconds(30);  // TLS + AMQP open
    /// Our max-frame-size (AMQP open): larger frames end the connection; clients split larger
    /// messages over several frames (amqp_settings.hpp).
    std::size_t max_frame_size = 64 * 1024;
    std::size_t max_sessions = 16;  // our channel-max
    std::size_t max_links = 64;     // per connection
    /// One delivery being received (protects memory; the hub's 64 KB limit is separate).
    std::size_t max_delivery_bytes = 1024 * 1024;
    /// What a connection may send before it is authorised (SASL PLAIN or CBS put-token).
    std::size_t max_bytes_before_auth = 64 * 1024;
  } amqp;
  /// The HTTPS front (https_settings.hpp): per-phase deadlines, request bounds, connections.
  struct https_limits {
    std::size_t max_connections = 1000;
    core::duration tls_handshake_timeout = std::chrono::seconds(10);
    core::duration request_timeout = std::chrono::seconds(10);  // a whole request
    core::duration keep_alive_timeout = std::chrono::seconds(5);
    core::duration write_timeout = std::chrono::seconds(10);
    std::size_t max_header_bytes = 16 * 1024;
    std::size_t max_header_fields = 64;
    std::size_t max_body_bytes = 1024 * 1024;
    std::size_t worker_threads = 4;
  } https;
};

/// The development defaults: hub `localhost`, the five standard policies with well-known keys
/// and one device, all dev-only (dev_credentials.hpp).
emulator_config default_config();

/// A configuration problem, rendered as `key: problem (value)`.
struct config_error {
  std::string key;
  std::string problem;
  std::string value;
  std::string to_string() const;
};

/// Applies a JSON config file over `config`. Unknown keys are errors (they are usually typos).
std::vector<config_error> apply_config_file(const std::filesystem::path& file,
                                            emulator_config& config);
/// The same from JSON text (`origin` names the source in messages).
std::vector<config_error> apply_config_json(const std::string& text, emulator_config& config);

/// Checks ranges and consistency of the final configuration (spec §1.2 ranges).
std::vector<config_error> validate(const emulator_config& config);

}  // namespace emu::app
