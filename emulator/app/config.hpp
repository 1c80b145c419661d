#pragma once
/// The emulator's configuration: defaults in code, then a JSON file, then command-line flags.
/// One plain struct tree that embeds each part's own settings (the hub's and each front's), so
/// every setting has exactly one default, in the struct of the part it belongs to. Validated in
/// one place that reports `key: problem (value)`.
#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "emulator/amqp/amqp_settings.hpp"
#include "emulator/core/hub_settings.hpp"
#include "emulator/core/registry.hpp"
#include "emulator/https/https_settings.hpp"
#include "emulator/log/log.hpp"
#include "emulator/mqtt/gateway/gateway_settings.hpp"

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
  /// Plain-TCP listeners, off unless set (for TLS-terminating proxies and debugging; they
  /// carry SAS tokens in clear text).
  std::optional<int> mqtt_plain_port;
  std::optional<int> amqp_plain_port;
};

struct emulator_config {
  core::hub_settings hub;
  /// Devices that must exist at start (created if missing, keys/status updated if different).
  std::vector<core::device_spec> devices;
  /// CA certificates registered and verified at start (`caCertificates`: name and PEM file),
  /// so that `certificateAuthority` devices work without the proof-of-possession steps.
  struct ca_seed {
    std::string name;
    std::filesystem::path file;
  };
  std::vector<ca_seed> ca_certificates;
  listen_settings listen;
  std::filesystem::path data_dir = "iothub-data";
  bool data_dir_given = false;
  bool in_memory = false;
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::filesystem::path ready_file;
  log::level log_level = log::level::info;
  /// Threads of the one io_context every front runs on (each connection on its own strand).
  std::size_t io_threads = 2;
  /// The config key io_threads was given under (`ioThreads`, or its older spelling
  /// `mqtt.ioThreads`), for messages.
  std::string io_threads_key = "ioThreads";
  mqtt::gateway_settings mqtt;
  amqp::amqp_settings amqp;
  /// Includes test control (`testControl`, `--test-control`).
  https::https_settings https;
};

/// The development defaults: hub `localhost`, the five standard policies with well-known keys
/// and one device, all dev-only (dev_credentials.hpp).
emulator_config default_config();
/// The loopback names (`127.0.0.1`, `localhost`) other than `host_name`: the names a hub
/// answers to besides its own unless `hostAliases` / `--host-alias` say otherwise.
std::vector<std::string> default_host_aliases(std::string_view host_name);
/// The names the development server certificate must carry: the host name and every alias.
std::vector<std::string> certificate_names(const core::hub_settings& hub);

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
/// The same from JSON text.
std::vector<config_error> apply_config_json(const std::string& text, emulator_config& config);

/// Checks ranges and consistency of the final configuration (spec §1.2 ranges).
std::vector<config_error> validate(const emulator_config& config);

}  // namespace emu::app
