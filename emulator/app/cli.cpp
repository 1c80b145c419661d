#include "emulator/app/cli.hpp"

#include <algorithm>
#include <charconv>
#include <map>

namespace emu::app {

namespace {

bool parse_int(const std::string& s, long long& out) {
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc{} && p == end;
}

}  // namespace

std::string help_text() {
  return R"(iothub-emulator: a local emulator of Azure IoT Hub (C2D messaging over MQTT and AMQP)

Usage:
  iothub-emulator [options]                 serve (the default)
  iothub-emulator sas-token --connection-string CS [--ttl SECONDS]
                                            print a SAS token for a device or hub connection
                                            string (e.g. the MQTT password for mosquitto_sub)
  iothub-emulator ca-path [--in-memory | --data-dir DIR] [--host-name NAME]
                                            create (or reuse) the development CA that serve
                                            would use and print its path, e.g.
                                            NODE_EXTRA_CA_CERTS=$(iothub-emulator ca-path) node ...
  iothub-emulator --help | --version

Options (flags override the --config file, which overrides the defaults):
  --config FILE        JSON config: hub name, host name, policies, devices, limits
                       (see config/example.json)
  --data-dir DIR       SQLite database and generated certificates (default: ./iothub-data)
  --in-memory          no database file: a throw-away hub for tests (certificates go to
                       --data-dir if given, else to ~/.cache/iothub-emulator/certs)
  --host-name NAME     the HostName clients use; must match the certificate
                       (default: localhost)
  --hub-name NAME      the hub's name (default: the first label of the host name)
  --bind ADDR          listen address (default: 127.0.0.1; use 0.0.0.0 in containers)
  --mqtt-port N        MQTT over TLS (default 8883; 0 = pick a free port)
  --amqp-port N        AMQP over TLS (default 5671; 0 = pick a free port)
  --https-port N       HTTPS: registry REST, /health, test control (default 443; 0 = free port)
  --mqtt-plain-port N  also serve MQTT without TLS on N (off by default)
  --test-control       serve the /admin/ test-control routes to loopback clients
                       (inspect queues and feedback, clock travel, reset; docs/test-control.md)
  --tls-cert FILE      server certificate chain, PEM (default: generated under the data dir)
  --tls-key FILE       server private key, PEM
  --ready-file FILE    write a JSON file (atomically) once every listener is bound
  --log-level LEVEL    error, warn, info (default) or debug

Without a config file the emulator serves a development hub with well-known keys and one
device "myDevice", printed as connection strings at start-up. They are for development only.

Exit codes: 0 stopped by SIGINT/SIGTERM; 2 bad command line or config; 3 database refused
(corrupt, newer version, another program's, locked); 4 TLS certificate problem; 5 cannot
listen on a port.
)";
}

cli_result parse_command_line(const std::vector<std::string>& args) {
  cli_result r;
  r.config = default_config();
  std::size_t i = 0;
  if (!args.empty() && args[0] == "sas-token") {
    r.cmd = command::sas_token;
    ++i;
  } else if (!args.empty() && args[0] == "ca-path") {
    r.cmd = command::ca_path;
    ++i;
  } else if (!args.empty() && args[0] == "serve") {
    ++i;
  }

  // Flags are collected first so the config file applies before them regardless of order.
  std::vector<std::pair<std::string, std::string>> flags;
  static const std::map<std::string, bool> takes_value{
      {"--config", true},        {"--data-dir", true},        {"--in-memory", false},
      {"--host-name", true},     {"--hub-name", true},        {"--bind", true},
      {"--mqtt-port", true},     {"--amqp-port", true},       {"--https-port", true},
      {"--test-control", false}, {"--mqtt-plain-port", true}, {"--tls-cert", true},
      {"--tls-key", true},       {"--ready-file", true},      {"--log-level", true},
      {"--help", false},         {"--version", false},        {"--connection-string", true},
      {"--ttl", true},
  };
  for (; i < args.size(); ++i) {
    std::string name = args[i];
    std::string value;
    bool has_inline = false;
    if (const auto eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
      has_inline = true;
    }
    const auto it = takes_value.find(name);
    if (it == takes_value.end()) {
      r.errors.push_back({name, "unknown option (see --help)", ""});
      continue;
    }
    if (it->second && !has_inline) {
      if (i + 1 >= args.size()) {
        r.errors.push_back({name, "needs a value", ""});
        continue;
      }
      value = args[++i];
    }
    flags.emplace_back(name, value);
  }

  for (const auto& [name, value] : flags) {
    if (name == "--help") r.cmd = command::help;
    if (name == "--version") r.cmd = command::version;
    if (name == "--config") {
      auto errs = apply_config_file(value, r.config);
      r.errors.insert(r.errors.end(), errs.begin(), errs.end());
    }
  }
  emulator_config& c = r.config;
  for (const auto& [name, value] : flags) {
    const auto port = [&](int& out) {
      long long v = 0;
      if (!parse_int(value, v) || v < 0 || v > 65535)
        r.errors.push_back({name, "must be a port number 0..65535", value});
      else
        out = static_cast<int>(v);
    };
    if (name == "--data-dir") {
      c.data_dir = value;
      c.data_dir_given = true;
    } else if (name == "--in-memory") {
      c.in_memory = true;
    } else if (name == "--host-name") {
      c.hub.host_name = value;
      if (std::none_of(flags.begin(), flags.end(),
                       [](const auto& f) { return f.first == "--hub-name"; }))
        c.hub.hub_name = value.substr(0, value.find('.'));
    } else if (name == "--hub-name") {
      c.hub.hub_name = value;
    } else if (name == "--bind") {
      c.listen.bind = value;
    } else if (name == "--mqtt-port") {
      port(c.listen.mqtt_port);
    } else if (name == "--amqp-port") {
      port(c.listen.amqp_port);
    } else if (name == "--https-port") {
      port(c.listen.https_port);
      c.listen.https_port_given = true;
    } else if (name == "--test-control") {
      c.test_control = true;
    } else if (name == "--mqtt-plain-port") {
      int p = 0;
      port(p);
      c.listen.mqtt_plain_port = p;
    } else if (name == "--tls-cert") {
      c.tls_cert = value;
    } else if (name == "--tls-key") {
      c.tls_key = value;
    } else if (name == "--ready-file") {
      c.ready_file = value;
    } else if (name == "--log-level") {
      c.log_level = value;
    } else if (name == "--connection-string") {
      r.connection_string = value;
    } else if (name == "--ttl") {
      if (!parse_int(value, r.ttl_seconds) || r.ttl_seconds <= 0)
        r.errors.push_back({name, "must be a positive number of seconds", value});
    }
  }
  if (r.cmd == command::sas_token && r.connection_string.empty())
    r.errors.push_back({"--connection-string", "is required for sas-token", ""});
  if (r.cmd == command::serve) {
    auto errs = validate(c);
    r.errors.insert(r.errors.end(), errs.begin(), errs.end());
  }
  return r;
}

}  // namespace emu::app
