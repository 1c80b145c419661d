// iothub-emulator: the command line and the signals. Everything else is app::emulator, the one
// wiring that the C++ test fixture uses too.
#include <pthread.h>
#include <signal.h>

#include <spdlog/logger.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "emulator/app/cli.hpp"
#include "emulator/app/dev_certificates.hpp"
#include "emulator/app/emulator.hpp"
#include "emulator/app/ready_info.hpp"
#include "emulator/core/connection_string.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/log/log.hpp"

namespace {

using namespace emu;
using app::exit_code;

int fail(exit_code code, const std::string& message) {
  std::fprintf(stderr, "iothub-emulator: %s\n", message.c_str());
  return static_cast<int>(code);
}

int print_sas_token(const app::cli_result& cli) {
  const auto cs = core::parse_connection_string(cli.connection_string);
  if (!cs) return fail(exit_code::bad_config, "--connection-string: " + cs.error().message);
  if (cs->shared_access_key.empty())
    return fail(exit_code::bad_config, "--connection-string: has no SharedAccessKey to sign with");
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  const auto expiry =
      std::chrono::duration_cast<std::chrono::seconds>(now).count() + cli.ttl_seconds;
  std::string resource = cs->host_name;
  if (cs->is_device()) resource += "/devices/" + cs->device_id;
  std::cout << core::make_sas_token(resource, cs->shared_access_key,
                                    cs->is_device() ? "" : cs->shared_access_key_name, expiry)
            << "\n";
  return 0;
}

/// `ca-path`: the CA that `serve` with the same flags would use, created if missing. Node
/// reads NODE_EXTRA_CA_CERTS only at start-up, so tests need the path before the emulator runs.
int print_ca_path(const app::emulator_config& config) {
  if (!config.tls_cert.empty())
    return fail(exit_code::bad_config, "ca-path: --tls-cert is set; trust the CA that signed it");
  try {
    const auto certs = app::ensure_dev_certificates(app::certificate_dir(config),
                                                    app::certificate_names(config.hub));
    std::cout << std::filesystem::absolute(certs.ca_cert).string() << "\n";
    return 0;
  } catch (const std::exception& e) {
    return fail(exit_code::bad_tls, std::string("tls: ") + e.what());
  }
}

int serve(const app::emulator_config& config) {
  // SIGINT/SIGTERM are blocked in every thread (the threads started from here inherit the
  // mask) and taken synchronously with sigwait() below: no signal handler runs at all. With an
  // asynchronous handler ThreadSanitizer's runtime deferred a SIGTERM that reached a blocked
  // thread and never ran the handler: the emulator ignored it (seen in the TSan CI run). A
  // signal that arrives during start-up stays pending until then.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  auto& log = emu::log::get("app");
  app::emulator emulator(config);
  app::ready_info info;
  try {
    info = emulator.start();
  } catch (const app::start_error& e) {
    return fail(e.code(), e.what());
  }

  const auto json = app::ready_json(info);
  std::cout << app::banner(info) << "iothub-emulator ready " << json << std::endl;
  if (!config.ready_file.empty()) {
    try {
      app::write_ready_file(config.ready_file, json);
    } catch (const std::exception& e) {
      emulator.stop();
      return fail(exit_code::bad_config, std::string("--ready-file: ") + e.what());
    }
  }

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  log.info("received {}, stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
  emulator.stop();
  log.info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> args(argv + 1, argv + argc);
  auto cli = app::parse_command_line(args);
  if (cli.cmd == app::command::help || cli.cmd == app::command::version) {
    std::cout << cli.help << "\n";
    return 0;
  }
  if (!cli.errors.empty()) {
    for (const auto& e : cli.errors)
      std::fprintf(stderr, "iothub-emulator: %s\n", e.to_string().c_str());
    return static_cast<int>(exit_code::bad_config);
  }
  if (cli.cmd == app::command::sas_token) return print_sas_token(cli);
  if (cli.cmd == app::command::ca_path) return print_ca_path(cli.config);
  return serve(cli.config);
}
