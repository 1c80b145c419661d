#include "emulator/app/cli.hpp"

#include <CLI/CLI.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <sstream>

#include "emulator/core/throttling.hpp"

namespace emu::app {

namespace {

bool parse_int(const std::string& s, long long& out) {
  const auto* end = s.data() + s.size();
  const auto [p, ec] = std::from_chars(s.data(), end, out);
  return ec == std::errc{} && p == end;
}

/// A validator whose failure reads `--option: problem (value)`, the configuration's format.
CLI::Validator check(std::string problem, std::function<bool(const std::string&)> ok) {
  return CLI::Validator(
      [problem = std::move(problem), ok = std::move(ok)](std::string& value) -> std::string {
        return ok(value) ? std::string() : problem + " (" + value + ")";
      },
      "");
}

const CLI::Validator port_number = check("must be a port number 0..65535", [](const auto& s) {
  long long v = 0;
  return parse_int(s, v) && v >= 0 && v <= 65535;
});

const CLI::Validator positive_seconds =
    check("must be a positive number of seconds", [](const auto& s) {
      long long v = 0;
      return parse_int(s, v) && v > 0;
    });

const CLI::Validator level_name = check("must be error, warn, info or debug", [](const auto& s) {
  return log::parse_level(s).has_value();
});

/// The values of the serve (and ca-path) options as given; std::nullopt: not given.
struct flag_values {
  std::vector<std::string> configs, host_aliases;
  std::optional<std::string> data_dir, host_name, hub_name, bind, tls_cert, tls_key, ready_file,
      log_level, throttling;
  std::optional<int> mqtt_port, amqp_port, https_port, mqtt_plain_port;
  bool in_memory = false;
  bool test_control = false;
  bool fault_injection = false;
  bool no_metrics = false;
  bool no_dashboard = false;
  bool dashboard_remote = false;
};

void add_serve_options(CLI::App& app, flag_values& f) {
  app.add_option("--config", f.configs,
                 "JSON config: hub name, host name, policies, devices, limits\n"
                 "(see config/example.json); flags override it")
      ->type_name("FILE");
  app.add_option("--data-dir", f.data_dir,
                 "SQLite database and generated certificates (default: ./iothub-data)")
      ->type_name("DIR");
  app.add_flag("--in-memory", f.in_memory,
               "no database file: a throw-away hub for tests (certificates go to --data-dir if\n"
               "given, else to ~/.cache/iothub-emulator/certs)");
  app.add_option("--host-name", f.host_name,
                 "the HostName printed in connection strings (default: 127.0.0.1, which every\n"
                 "SDK accepts: the C SDK needs a dot in it)")
      ->type_name("NAME");
  app.add_option("--host-alias", f.host_aliases,
                 "another name clients may use for the hub; repeat for more (default: whichever\n"
                 "of 127.0.0.1 and localhost is not the host name)")
      ->type_name("NAME");
  app.add_option("--hub-name", f.hub_name,
                 "the hub's name (default: the first label of the host name)")
      ->type_name("NAME");
  app.add_option("--bind", f.bind, "listen address (default: 127.0.0.1; use 0.0.0.0 in containers)")
      ->type_name("ADDR");
  app.add_option("--mqtt-port", f.mqtt_port, "MQTT over TLS (default 8883; 0 = pick a free port)")
      ->check(port_number)
      ->type_name("PORT");
  app.add_option("--amqp-port", f.amqp_port, "AMQP over TLS (default 5671; 0 = pick a free port)")
      ->check(port_number)
      ->type_name("PORT");
  app.add_option("--https-port", f.https_port,
                 "HTTPS: registry REST, /health, test control (default 443; 0 = a free port)")
      ->check(port_number)
      ->type_name("PORT");
  app.add_option("--mqtt-plain-port", f.mqtt_plain_port,
                 "also serve MQTT without TLS on this port (off by default)")
      ->check(port_number)
      ->type_name("PORT");
  app.add_flag("--test-control", f.test_control,
               "serve the /admin/ test-control routes to loopback clients (inspect queues and\n"
               "feedback, clock travel, reset; docs/test-control.md)");
  app.add_flag("--no-metrics", f.no_metrics,
               "do not serve GET /metrics (Prometheus text) on the HTTPS port");
  auto* no_dashboard = app.add_flag(
      "--no-dashboard", f.no_dashboard,
      "do not serve the dashboard (https://localhost/ for loopback clients; README \"Dashboard\")");
  app.add_flag("--dashboard-remote", f.dashboard_remote,
               "serve the dashboard to other machines too; they sign in with a service\n"
               "connection string (the data needs a SAS token, keys are never shown to them)")
      ->excludes(no_dashboard);
  app.add_flag("--fault-injection", f.fault_injection,
               "carry out the faults that telemetry with AzIoTHub_FaultOperationType properties\n"
               "asks for (KillTcp, ShutDownMqtt, KillAmqp*, Invoke*), as the SDKs' e2e suites\n"
               "expect; a test feature (README \"Testing failures\")");
  app.add_option("--throttling", f.throttling,
                 "emulate the throttles and daily message quota of a tier: F1, S1, S2, S3\n"
                 "with units (S1:2); off by default (README \"Testing failures\")")
      ->check(check("must be F1, S1, S2 or S3 (B1-B3), optionally :UNITS (1-200)",
                    [](const auto& s) { return core::parse_throttling_tier(s).has_value(); }))
      ->type_name("TIER[:UNITS]");
  app.add_option("--tls-cert", f.tls_cert,
                 "server certificate chain, PEM (default: generated under the data dir)")
      ->type_name("FILE");
  app.add_option("--tls-key", f.tls_key, "server private key, PEM")->type_name("FILE");
  app.add_option("--ready-file", f.ready_file,
                 "write a JSON file (atomically) once every listener is bound")
      ->type_name("FILE");
  app.add_option("--log-level", f.log_level, "error, warn, info (default) or debug")
      ->check(level_name)
      ->type_name("LEVEL");
}

constexpr const char* footer = R"(
Without a config file the emulator serves a development hub with well-known keys and one
device "myDevice", printed as connection strings at start-up. They are for development only.

Exit codes: 0 stopped by SIGINT/SIGTERM; 2 bad command line or config; 3 database refused
(corrupt, newer version, another program's, locked); 4 TLS certificate problem; 5 cannot
listen on a port.)";

/// The command line's parser: serve options on the app itself (serve is the default command),
/// `serve`, `sas-token` and `ca-path` as subcommands with their own options.
struct parser {
  CLI::App app{"iothub-emulator: a local emulator of Azure IoT Hub", "iothub-emulator"};
  flag_values serve_flags;
  flag_values ca_flags;
  CLI::App* serve = nullptr;
  CLI::App* sas = nullptr;
  CLI::App* ca = nullptr;
  std::string connection_string;
  long long ttl = 3600;

  parser() {
    app.set_version_flag("--version", std::string("iothub-emulator ") + EMU_VERSION_TEXT);
    app.allow_extras();
    app.footer(footer);
    add_serve_options(app, serve_flags);
    serve = app.add_subcommand("serve", "serve the hub (the default command; the options above)");
    serve->fallthrough();
    sas = app.add_subcommand(
        "sas-token",
        "print a SAS token for a device or hub connection string (e.g. the MQTT password for\n"
        "mosquitto_sub)");
    sas->add_option("--connection-string", connection_string,
                    "HostName=…;DeviceId=…;SharedAccessKey=… or a hub policy's")
        ->type_name("CS");
    sas->add_option("--ttl", ttl, "seconds the token is valid (default 3600)")
        ->check(positive_seconds)
        ->type_name("SECONDS");
    ca = app.add_subcommand(
        "ca-path",
        "create (or reuse) the development CA that serve would use and print its path, e.g.\n"
        "NODE_EXTRA_CA_CERTS=$(iothub-emulator ca-path) node ...");
    ca->add_flag("--in-memory", ca_flags.in_memory, "the CA a --in-memory hub uses");
    ca->add_option("--data-dir", ca_flags.data_dir, "the CA under DIR/certs")->type_name("DIR");
    ca->add_option("--host-name", ca_flags.host_name, "the host name the server certificate names")
        ->type_name("NAME");
    for (auto* sub : {sas, ca}) sub->allow_extras();
  }
};

/// Applies the flags over the configuration: the config files first, then the flags, whatever
/// their order on the command line.
void apply(const flag_values& f, emulator_config& c, std::vector<config_error>& errors) {
  for (const auto& file : f.configs) {
    auto errs = apply_config_file(file, c);
    errors.insert(errors.end(), errs.begin(), errs.end());
  }
  if (f.data_dir) {
    c.data_dir = *f.data_dir;
    c.data_dir_given = true;
  }
  if (f.in_memory) c.in_memory = true;
  if (f.host_name) {
    c.hub.host_name = *f.host_name;
    if (!f.hub_name) c.hub.hub_name = f.host_name->substr(0, f.host_name->find('.'));
    c.hub.host_aliases = default_host_aliases(c.hub.host_name);
  }
  if (!f.host_aliases.empty()) c.hub.host_aliases = f.host_aliases;
  if (f.hub_name) c.hub.hub_name = *f.hub_name;
  if (f.bind) c.listen.bind = *f.bind;
  if (f.mqtt_port) c.listen.mqtt_port = *f.mqtt_port;
  if (f.amqp_port) c.listen.amqp_port = *f.amqp_port;
  if (f.https_port) {
    c.listen.https_port = *f.https_port;
    c.listen.https_port_given = true;
  }
  if (f.mqtt_plain_port) c.listen.mqtt_plain_port = *f.mqtt_plain_port;
  if (f.test_control) c.https.test_control = true;
  if (f.no_metrics) c.https.metrics = false;
  if (f.no_dashboard) c.https.dashboard = https::dashboard_access::off;
  if (f.dashboard_remote) c.https.dashboard = https::dashboard_access::remote;
  if (f.fault_injection) c.hub.fault_injection = true;
  if (f.throttling) c.hub.throttling = core::parse_throttling_tier(*f.throttling);
  if (f.tls_cert) c.tls_cert = *f.tls_cert;
  if (f.tls_key) c.tls_key = *f.tls_key;
  if (f.ready_file) c.ready_file = *f.ready_file;
  if (f.log_level) c.log_level = *log::parse_level(*f.log_level);
}

}  // namespace

std::string help_text() {
  parser p;
  return p.app.help();
}

cli_result parse_command_line(const std::vector<std::string>& args) {
  cli_result r;
  r.config = default_config();
  parser p;
  // CLI11 parses the arguments in reverse order from a vector.
  std::vector<std::string> reversed(args.rbegin(), args.rend());
  try {
    p.app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    r.cmd = command::help;
    r.help = p.app.help();
    return r;
  } catch (const CLI::CallForVersion& e) {
    r.cmd = command::version;
    r.help = e.what();
    return r;
  } catch (const CLI::ParseError& e) {
    // Validators already speak `--option: problem (value)`; other parse errors say which
    // argument they are about.
    r.errors.push_back({"", e.what(), ""});
  }
  // Unknown options and stray arguments, wherever they were.
  for (auto* app : {&p.app, p.sas, p.ca}) {
    for (const auto& extra : app->remaining()) {
      r.errors.push_back({extra,
                          extra.rfind("-", 0) == 0 ? "unknown option (see --help)"
                                                   : "unexpected argument (see --help)",
                          ""});
    }
  }
  if (p.sas->parsed()) {
    r.cmd = command::sas_token;
    r.connection_string = p.connection_string;
    r.ttl_seconds = p.ttl;
    if (r.connection_string.empty())
      r.errors.push_back({"--connection-string", "is required for sas-token", ""});
    return r;
  }
  if (p.ca->parsed()) {
    r.cmd = command::ca_path;
    apply(p.ca_flags, r.config, r.errors);
    return r;
  }
  apply(p.serve_flags, r.config, r.errors);
  auto errs = validate(r.config);
  r.errors.insert(r.errors.end(), errs.begin(), errs.end());
  return r;
}

}  // namespace emu::app
