// iothub-emulator: the composition root. The only place that knows every module: it loads the
// configuration, opens the store, prepares TLS, starts the hub executor and the fronts, prints
// the readiness information and stops everything cleanly on SIGINT/SIGTERM.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <asio.hpp>

#include "emulator/amqp/amqp_server.hpp"
#include "emulator/app/cli.hpp"
#include "emulator/app/ready_info.hpp"
#include "emulator/core/connection_string.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/https/https_server.hpp"
#include "emulator/mqtt/gateway/server.hpp"
#include "emulator/runtime/dev_certificates.hpp"
#include "emulator/runtime/hub_executor.hpp"
#include "emulator/runtime/log.hpp"
#include "emulator/runtime/tls_context.hpp"
#include "storage/sqlite_store.hpp"

namespace {

using namespace emu;

enum exit_code { ok = 0, bad_config = 2, bad_database = 3, bad_tls = 4, cannot_listen = 5 };

int fail(exit_code code, const std::string& message) {
  std::fprintf(stderr, "iothub-emulator: %s\n", message.c_str());
  return code;
}

runtime::log_level level_of(const std::string& s) {
  if (s == "error") return runtime::log_level::error;
  if (s == "warn") return runtime::log_level::warn;
  if (s == "debug") return runtime::log_level::debug;
  return runtime::log_level::info;
}

int print_sas_token(const app::cli_result& cli) {
  const auto cs = core::parse_connection_string(cli.connection_string);
  if (!cs) return fail(bad_config, "--connection-string: " + cs.err().message);
  if (cs->shared_access_key.empty())
    return fail(bad_config, "--connection-string: has no SharedAccessKey to sign with");
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto expiry =
      std::chrono::duration_cast<std::chrono::seconds>(now).count() + cli.ttl_seconds;
  std::string resource = cs->host_name;
  if (cs->is_device()) resource += "/devices/" + cs->device_id;
  std::cout << core::make_sas_token(resource, cs->shared_access_key,
                                    cs->is_device() ? "" : cs->shared_access_key_name, expiry)
            << "\n";
  return ok;
}

/// Creates the configured devices that are missing; aligns keys and status of existing ones.
void seed_devices(core::hub& hub, const std::vector<core::device_spec>& devices,
                  core::time_point now) {
  for (const auto& spec : devices) {
    const core::device* existing = hub.find_device(spec.id);
    if (existing == nullptr) {
      (void)hub.create_device(spec, now);
      continue;
    }
    const bool differs =
        existing->status != spec.status ||
        (!spec.primary_key.empty() && spec.primary_key != existing->primary_key) ||
        (!spec.secondary_key.empty() && spec.secondary_key != existing->secondary_key);
    if (differs) (void)hub.update_device(spec, "*", now);
  }
}

std::filesystem::path default_cert_dir(const app::emulator_config& c) {
  if (!c.in_memory || c.data_dir_given) return c.data_dir / "certs";
  // A throw-away hub keeps its CA in the user's cache so it stays trusted across runs.
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg)
    return std::filesystem::path(xdg) / "iothub-emulator" / "certs";
  if (const char* home = std::getenv("HOME"); home && *home)
    return std::filesystem::path(home) / ".cache" / "iothub-emulator" / "certs";
  return std::filesystem::temp_directory_path() / "iothub-emulator-certs";
}

/// `ca-path`: the CA that `serve` with the same flags would use, created if missing. Node
/// reads NODE_EXTRA_CA_CERTS only at start-up, so tests need the path before the emulator runs.
int print_ca_path(const app::emulator_config& config) {
  if (!config.tls_cert.empty())
    return fail(bad_config, "ca-path: --tls-cert is set; trust the CA that signed it");
  try {
    const auto certs =
        runtime::ensure_dev_certificates(default_cert_dir(config), {config.hub.host_name});
    std::cout << std::filesystem::absolute(certs.ca_cert).string() << "\n";
    return ok;
  } catch (const std::exception& e) {
    return fail(bad_tls, std::string("tls: ") + e.what());
  }
}

int serve(const app::emulator_config& config) {
  // SIGINT/SIGTERM are blocked in every thread (the threads started from here inherit the
  // mask) and taken synchronously with sigwait() by one thread below: no signal handler runs
  // at all. With an asynchronous handler (asio::signal_set) ThreadSanitizer's runtime deferred
  // a SIGTERM that reached a blocked thread and never ran the handler: the emulator ignored it
  // (seen in the TSan CI run). A signal that arrives during start-up stays pending until then.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  runtime::log_threshold() = static_cast<int>(level_of(config.log_level));

  // Storage: a refused database (corrupt, newer, another program's, locked) is exit 3.
  std::unique_ptr<storage::sqlite_store> store;
  std::filesystem::path db_path;
  try {
    if (config.in_memory) {
      store = std::make_unique<storage::sqlite_store>(std::string(storage::in_memory_path));
    } else {
      std::filesystem::create_directories(config.data_dir);
      db_path = std::filesystem::absolute(config.data_dir / "iothub.db");
      store = std::make_unique<storage::sqlite_store>(db_path.string());
    }
  } catch (const std::exception& e) {
    return fail(bad_database, std::string("database: ") + e.what());
  }
  storage::sqlite_store* store_view = store.get();

  // TLS: the configured certificate, or a development CA + server certificate of our own.
  std::optional<runtime::tls_server_context> tls;
  std::filesystem::path ca_path;
  std::filesystem::path cert_chain = config.tls_cert;
  std::filesystem::path cert_key = config.tls_key;
  try {
    if (!config.tls_cert.empty()) {
      tls.emplace(runtime::tls_server_options{config.tls_cert, config.tls_key});
    } else {
      const auto certs =
          runtime::ensure_dev_certificates(default_cert_dir(config), {config.hub.host_name});
      for (const auto& note : certs.notes) runtime::log(runtime::log_level::info, "tls", note);
      ca_path = std::filesystem::absolute(certs.ca_cert);
      cert_chain = certs.server_cert;
      cert_key = certs.server_key;
      tls.emplace(certs);
    }
  } catch (const std::exception& e) {
    return fail(bad_tls, std::string("tls: ") + e.what());
  }

  // Loading the store can still fail here (damaged pages SQLite only meets when it reads them):
  // that is a refused database too, exit code 3, not an abort.
  std::optional<runtime::hub_executor> executor_holder;
  try {
    executor_holder.emplace(config.hub, std::move(store));
  } catch (const std::exception& e) {
    return fail(bad_database, std::string("database: ") + e.what());
  }
  runtime::hub_executor& executor = *executor_holder;
  asio::io_context io;

  // ---- fronts: constructed before the executor starts, so their hub listeners are in place --
  std::optional<https::https_server> https_front;
  try {
    https::https_settings hs;
    hs.certificate_chain = cert_chain;
    hs.private_key = cert_key;
    hs.test_control = config.test_control;
    const auto ms = [](core::duration d) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(d);
    };
    hs.max_connections = config.https.max_connections;
    hs.tls_handshake_timeout = ms(config.https.tls_handshake_timeout);
    hs.request_timeout = ms(config.https.request_timeout);
    hs.keep_alive_timeout = ms(config.https.keep_alive_timeout);
    hs.write_timeout = ms(config.https.write_timeout);
    hs.limits.max_head_bytes = config.https.max_header_bytes;
    hs.limits.max_header_fields = config.https.max_header_fields;
    hs.limits.max_body_bytes = config.https.max_body_bytes;
    hs.worker_threads = config.https.worker_threads;
    https_front.emplace(executor, hs);
  } catch (const std::exception& e) {
    return fail(bad_tls, std::string("https: ") + e.what());
  }
  amqp::amqp_settings amqp_settings;
  amqp_settings.hub_name = config.hub.hub_name;
  amqp_settings.host_name = config.hub.host_name;
  amqp_settings.max_connections = config.amqp.max_connections;
  amqp_settings.idle_timeout = config.amqp.idle_timeout;
  amqp_settings.handshake_timeout = config.amqp.handshake_timeout;
  amqp_settings.max_frame_size = static_cast<std::uint32_t>(config.amqp.max_frame_size);
  amqp_settings.max_sessions = static_cast<std::uint16_t>(config.amqp.max_sessions);
  amqp_settings.max_links = config.amqp.max_links;
  amqp_settings.max_delivery_bytes = config.amqp.max_delivery_bytes;
  amqp_settings.max_input_before_auth = config.amqp.max_bytes_before_auth;
  amqp::amqp_server amqp_front(io, &tls->asio_context(), executor, amqp_settings);
  mqtt::gateway_settings mqtt_settings;
  mqtt_settings.session.host_name = config.hub.host_name;
  mqtt_settings.session.inflight_window = config.mqtt_inflight_window;
  mqtt_settings.max_packet_size = config.max_packet_size;
  mqtt_settings.max_connect_packet_size = config.mqtt.max_connect_packet_size;
  mqtt_settings.max_output_backlog = config.mqtt.max_output_backlog;
  mqtt_settings.max_connections = config.mqtt.max_connections;
  mqtt_settings.session.connect_timeout = config.mqtt.connect_timeout;
  mqtt_settings.tls_handshake_timeout = config.mqtt.tls_handshake_timeout;
  mqtt_settings.io_threads = config.mqtt.io_threads;
  mqtt_settings.log = [](mqtt::log_level l, std::string_view text) {
    static constexpr runtime::log_level levels[] = {
        runtime::log_level::debug, runtime::log_level::info, runtime::log_level::warn,
        runtime::log_level::error};
    runtime::log(levels[static_cast<int>(l)], "mqtt", text);
  };
  mqtt::server mqtt_front(mqtt_settings, executor);
  // Clock travel (test control) moves token expiry on open AMQP connections too.
  https_front->on_clock_advanced([&] { amqp_front.recheck_deadlines(); });

  try {
    executor.start(
        [&](core::hub& hub, core::time_point now) { seed_devices(hub, config.devices, now); });
  } catch (const std::exception& e) {
    return fail(bad_database, std::string("database: ") + e.what());
  }

  // The gateway stops first, so the lock releases of its closing connections are committed.
  const auto stop_all = [&] {
    mqtt_front.stop();
    amqp_front.stop();
    if (https_front) https_front->stop();
    executor.stop();
  };

  app::ready_info info;
  info.host_name = config.hub.host_name;
  info.hub_name = config.hub.hub_name;
  info.ca_certificate = ca_path;
  info.database = db_path;
  // Every listener is bound before anything is announced; a port in use is exit code 5.
  const auto listen = [&](const char* name, int wanted, auto&& bind) -> bool {
    const auto where = config.listen.bind + ":" + std::to_string(wanted);
    try {
      info.ports[name] = bind();
      return true;
    } catch (const std::system_error& e) {
      stop_all();
      fail(cannot_listen,
           std::string(name) + ": cannot listen on " + where + ": " + e.code().message());
    } catch (const std::exception& e) {
      stop_all();
      fail(cannot_listen, std::string(name) + ": cannot listen on " + where + ": " + e.what());
    }
    return false;
  };
  const auto port = [](int p) { return static_cast<std::uint16_t>(p); };
  const bool bound =
      listen("mqtt", config.listen.mqtt_port,
             [&] {
               return mqtt_front.listen_tls(config.listen.bind, port(config.listen.mqtt_port),
                                            *tls);
             }) &&
      (!config.listen.mqtt_plain_port || listen("mqttPlain", *config.listen.mqtt_plain_port,
                                                [&] {
                                                  return mqtt_front.listen_plain(
                                                      config.listen.bind,
                                                      port(*config.listen.mqtt_plain_port));
                                                })) &&
      listen(
          "amqp", config.listen.amqp_port,
          [&] { return amqp_front.listen(config.listen.bind, port(config.listen.amqp_port)); }) &&
      listen("https", config.listen.https_port, [&] {
        try {
          return https_front->listen(config.listen.bind, port(config.listen.https_port));
        } catch (const std::system_error& e) {
          // 443 needs root or CAP_NET_BIND_SERVICE. When nobody asked for it explicitly, the
          // one-command start must still work for a normal user: take a free port and say so.
          if (config.listen.https_port_given || e.code() != std::errc::permission_denied) throw;
          const auto fallback = https_front->listen(config.listen.bind, 0);
          runtime::log(runtime::log_level::warn, "https",
                       "port " + std::to_string(config.listen.https_port) +
                           " needs root or CAP_NET_BIND_SERVICE; serving HTTPS on port " +
                           std::to_string(fallback) +
                           " instead (the Node Registry only uses 443; set --https-port to "
                           "choose)");
          return fallback;
        }
      });
  if (!bound) return cannot_listen;
  mqtt_front.start();

  // Connection strings for people and test harnesses, with the keys the hub really has.
  {
    std::promise<std::vector<core::device>> devices_promise;
    auto devices_future = devices_promise.get_future();
    executor.submit(
        [](core::hub& hub, core::time_point) { return hub.list_devices(); },
        [&](bool, std::vector<core::device> d) { devices_promise.set_value(std::move(d)); });
    for (const auto& p : config.hub.policies) {
      if (p.name != "iothubowner" && p.name != "service") continue;
      info.policy_connection_strings[p.name] = "HostName=" + config.hub.host_name +
                                               ";SharedAccessKeyName=" + p.name +
                                               ";SharedAccessKey=" + p.primary_key;
    }
    for (const auto& d : devices_future.get()) {
      const bool configured = std::any_of(config.devices.begin(), config.devices.end(),
                                          [&](const core::device_spec& s) { return s.id == d.id; });
      if (!configured) continue;
      info.device_connection_strings[d.id] = "HostName=" + config.hub.host_name +
                                             ";DeviceId=" + d.id +
                                             ";SharedAccessKey=" + d.primary_key;
    }
  }

  const auto json = app::ready_json(info);
  std::cout << app::banner(info) << "iothub-emulator ready " << json << std::endl;
  if (!config.ready_file.empty()) {
    try {
      app::write_ready_file(config.ready_file, json);
    } catch (const std::exception& e) {
      stop_all();
      return fail(bad_config, std::string("--ready-file: ") + e.what());
    }
  }

  // Graceful shutdown: stop accepting, let the executor finish and commit, checkpoint the WAL.
  auto keep_running = asio::make_work_guard(io);
  std::atomic<bool> signalled{false};
  std::thread signal_waiter([&] {
    int sig = 0;
    if (sigwait(&stop_signals, &sig) != 0) return;
    signalled = true;
    asio::post(io, [&, sig] {
      runtime::log(
          runtime::log_level::info, "app",
          std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
      mqtt_front.stop();
      amqp_front.stop();
      if (https_front) https_front->stop();
      keep_running.reset();
      io.stop();
    });
  });
  io.run();
  // io.run() only returns after the stop above; should it ever return without one, wake the
  // waiter (its SIGTERM is blocked, so sigwait() takes it) instead of hanging in join().
  if (!signalled) pthread_kill(signal_waiter.native_handle(), SIGTERM);
  signal_waiter.join();
  stop_all();
  try {
    store_view->checkpoint();
  } catch (const std::exception& e) {
    runtime::log(runtime::log_level::warn, "storage",
                 std::string("checkpoint failed: ") + e.what());
  }
  runtime::log(runtime::log_level::info, "app", "stopped");
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto cli = app::parse_command_line(args);
  if (cli.cmd == app::command::help) {
    std::cout << app::help_text();
    return ok;
  }
  if (cli.cmd == app::command::version) {
    std::cout << "iothub-emulator " << EMU_VERSION << "\n";
    return ok;
  }
  if (!cli.errors.empty()) {
    for (const auto& e : cli.errors)
      std::fprintf(stderr, "iothub-emulator: %s\n", e.to_string().c_str());
    return bad_config;
  }
  if (cli.cmd == app::command::sas_token) return print_sas_token(cli);
  if (cli.cmd == app::command::ca_path) return print_ca_path(cli.config);
  return serve(cli.config);
}
