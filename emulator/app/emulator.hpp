#pragma once
/// The emulator, wired once (issue 12): the store, TLS, the hub executor, the io pool every
/// front runs on, and the fronts (MQTT 8883, AMQP 5671, HTTPS 443). The executable (main.cpp:
/// the command line and the signals) and the C++ test fixture (emulator/testing/) are both
/// thin layers over this class.
///
///     app::emulator e(config);
///     const ready_info ready = e.start();   // every listener bound; throws start_error
///     …
///     e.advance_clock(std::chrono::hours(2));  // the hub and every front at the new time
///     e.stop();                               // one order, see stop()
///
/// Thread safety: start() and stop() from one controlling thread; advance_clock(), call() and
/// executor() from any thread while running.
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <system_error>

#include "emulator/app/config.hpp"
#include "emulator/app/ready_info.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/executor/hub_executor.hpp"

namespace emu::app {

/// The process exit codes (README "Exit codes").
enum class exit_code : int {
  ok = 0,
  bad_config = 2,
  bad_database = 3,
  bad_tls = 4,
  cannot_listen = 5
};

/// Why the emulator could not start, with the exit code the executable returns.
class start_error : public std::runtime_error {
 public:
  start_error(exit_code code, const std::string& message, std::error_code cause = {})
      : std::runtime_error(message), code_(code), cause_(cause) {}
  exit_code code() const { return code_; }
  /// For cannot_listen: the system's reason (errno values, generic category).
  std::error_code cause() const { return cause_; }

 private:
  exit_code code_;
  std::error_code cause_;
};

/// Where the development CA and server certificate live for `config` (its data directory, or
/// for a throw-away hub without one, the user's cache, so the CA stays trusted across runs).
std::filesystem::path certificate_dir(const emulator_config& config);

class emulator {
 public:
  explicit emulator(emulator_config config);
  /// Calls stop().
  ~emulator();
  emulator(const emulator&) = delete;
  emulator& operator=(const emulator&) = delete;

  /// Opens the store (exit code 3 if it is refused), prepares TLS (4), starts the hub executor
  /// with the configured devices, starts every front and binds every listener (5), in that
  /// order. Returns what to announce: ports, CA, connection strings. Throws start_error; what
  /// was started is stopped again.
  ready_info start();
  /// Stops in one order: every front stops accepting and closes its connections (HTTP
  /// requests in flight are answered, device sessions given back to the hub), then the hub
  /// executor finishes and commits what is queued, then the io pool ends, then the database's
  /// WAL is checkpointed. Idempotent.
  void stop();
  bool running() const;

  /// Clock travel: moves the hub's clock forward and returns once a hub round has run at the
  /// new time (TTL expiry, lock timeouts, feedback batches applied) and every front was told
  /// (MQTT keep-alive and token expiry, AMQP token expiry).
  void advance_clock(std::chrono::milliseconds by);
  /// The same without waiting: `done` runs (on some thread) when it is complete.
  void advance_clock(std::chrono::milliseconds by, std::function<void()> done);

  /// Runs `fn(hub, now)` on the hub executor and returns its result once the round committed
  /// (tools, the fixture, test harnesses). Throws std::runtime_error if the round could not
  /// commit or the hub does not answer within `timeout`.
  template <class Fn>
  auto call(Fn fn, std::chrono::milliseconds timeout = std::chrono::seconds(30))
      -> decltype(fn(std::declval<core::hub&>(), core::time_point{}));

  /// Starts a direct method call (core::hub::invoke_method) and returns its outcome once it
  /// ends: the device's answer, or a failure (404001, 404103 DeviceNotOnline, 504101
  /// GatewayTimeout). Tools and the fixture; any thread.
  std::future<core::event::method_result> invoke_method(std::string device_id,
                                                        core::method_call call);

  /// Open connections per front (diagnostics, tests).
  struct connection_counts {
    std::size_t mqtt = 0;
    std::size_t amqp = 0;
    std::size_t https = 0;
  };
  connection_counts connections() const;

  executor::hub_executor& executor();
  const emulator_config& config() const { return config_; }

 private:
  struct parts;
  emulator_config config_;
  std::unique_ptr<parts> parts_;
};

template <class Fn>
auto emulator::call(Fn fn, std::chrono::milliseconds timeout)
    -> decltype(fn(std::declval<core::hub&>(), core::time_point{})) {
  using R = decltype(fn(std::declval<core::hub&>(), core::time_point{}));
  auto promise = std::make_shared<std::promise<std::pair<bool, R>>>();
  auto future = promise->get_future();
  executor().submit(std::move(fn), [promise](bool committed, R r) {
    promise->set_value({committed, std::move(r)});
  });
  if (future.wait_for(timeout) != std::future_status::ready)
    throw std::runtime_error("iothub-emulator: the hub did not answer in time");
  auto [committed, result] = future.get();
  if (!committed) throw std::runtime_error("iothub-emulator: the hub could not commit");
  return std::move(result);
}

}  // namespace emu::app
