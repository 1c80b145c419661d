// A stand-in for the iothub-emulator executable while the HTTPS front is not wired into it:
// the hub executor, SQLite, development TLS and the HTTPS front (through the C++ fixture),
// started with the executable's flags and announcing itself the same way (the
// `iothub-emulator ready {json}` line and --ready-file, with ports.https). Tests start it
// through one helper (tests/node/registry/emulator.js), so switching them to the real binary
// is changing EMU_BINARY.
//
//   https_test_server [--https-port N] [--bind ADDR] [--data-dir DIR] [--in-memory]
//                     [--ready-file FILE] [--test-control] [--mqtt-port N] [--amqp-port N]
// (--mqtt-port/--amqp-port are accepted and ignored.) Stops on SIGINT/SIGTERM with exit 0;
// exit 2 for bad flags, 5 when the port cannot be bound, 1 for anything else.
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <system_error>
#include <vector>

#include "emulator/app/ready_info.hpp"
#include "emulator/testing/emulator_fixture.hpp"

int main(int argc, char** argv) {
  // Block the stop signals before any thread starts, then wait for them synchronously.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);
  // If the test runner dies, do not outlive it holding a port (443 for the registry tests).
  prctl(PR_SET_PDEATHSIG, SIGTERM);

  emu::testing::fixture_options options;
  options.database_file = true;
  options.test_control = false;
  std::string ready_file;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const auto& a = args[i];
    const bool has_value = i + 1 < args.size();
    if (a == "--in-memory") {
      options.database_file = false;
    } else if (a == "--test-control") {
      options.test_control = true;
    } else if (a == "--https-port" && has_value) {
      options.https_port = static_cast<std::uint16_t>(std::stoi(args[++i]));
    } else if (a == "--bind" && has_value) {
      options.bind = args[++i];
    } else if (a == "--data-dir" && has_value) {
      options.data_dir = args[++i];
    } else if (a == "--ready-file" && has_value) {
      ready_file = args[++i];
    } else if ((a == "--mqtt-port" || a == "--amqp-port") && has_value) {
      ++i;
    } else {
      std::cerr << "https_test_server: unknown or incomplete flag " << a << "\n";
      return 2;
    }
  }

  emu::testing::emulator_fixture hub(options);
  try {
    hub.start();
  } catch (const std::system_error& e) {
    std::cerr << "https_test_server: " << e.what() << "\n";
    return 5;
  } catch (const std::exception& e) {
    std::cerr << "https_test_server: " << e.what() << "\n";
    return 1;
  }

  emu::app::ready_info info;
  info.host_name = hub.host_name();
  info.hub_name = hub.host_name();
  info.ports["https"] = hub.ports().https;
  info.ca_certificate = hub.ca_certificate();
  for (const auto* policy : {"iothubowner", "service"})
    info.policy_connection_strings[policy] = hub.hub_connection_string(policy);
  info.device_connection_strings["myDevice"] = hub.device_connection_string("myDevice");
  const auto json = emu::app::ready_json(info);
  std::cout << "iothub-emulator ready " << json << std::endl;
  if (!ready_file.empty()) emu::app::write_ready_file(ready_file, json);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  hub.stop();
  std::cerr << "https_test_server: stopped\n";
  return 0;
}
