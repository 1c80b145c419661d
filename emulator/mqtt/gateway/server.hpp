#pragma once
/// The MQTT device gateway: devices connect to it exactly as to Azure IoT Hub's MQTT endpoint
/// (MQTT 3.1.1 over TLS, SAS token password; spec §3, sdk-wire §1).
///
/// Usage (the app's wiring):
///
///     runtime::hub_executor executor(hub_settings, std::move(store));
///     mqtt::server mqtt(gateway_settings, executor);         // before executor.start()
///     auto port = mqtt.listen_tls("127.0.0.1", 8883, tls);  // 0 = ephemeral; returns the port
///     executor.start(seed);
///     mqtt.start();
///     …
///     mqtt.stop();      // closes every connection (their C2D locks are released)
///     executor.stop();  // then the executor finishes the releases and commits
///
/// Every connection runs on its own strand of the server's io_context (`io_threads` threads).
/// The hub is reached only through the executor; hub events (c2d_available, device_changed,
/// hub_reset) arrive through the listener registered by the constructor.
///
/// Thread safety: construct, listen, start and stop from one controlling thread;
/// connection_count() from any thread. The executor and every TLS context passed to
/// listen_tls() must outlive the server. The executor may outlive it (its listener then does
/// nothing).
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "emulator/mqtt/gateway/gateway_settings.hpp"
#include "emulator/runtime/hub_executor.hpp"
#include "emulator/runtime/tls_context.hpp"

namespace emu::mqtt {

struct gateway_context;

class server {
 public:
  /// Registers the gateway's hub-event listener on `executor`, which therefore must not have
  /// been started yet (hub_executor::add_listener).
  server(gateway_settings settings, runtime::hub_executor& executor);
  /// Stops (see stop()).
  ~server();
  server(const server&) = delete;
  server& operator=(const server&) = delete;

  /// Binds `address:port` (an IP literal or a name resolved once; port 0 = ephemeral) and
  /// accepts MQTT over TLS with `tls`. Returns the bound port. Throws std::system_error when
  /// the address cannot be bound. May be called before or after start().
  std::uint16_t listen_tls(const std::string& address, std::uint16_t port,
                           runtime::tls_server_context& tls);
  /// The same without TLS: only when explicitly enabled by configuration (for TLS-terminating
  /// proxies and debugging; no SDK connects without TLS, sdk-wire §1.1).
  std::uint16_t listen_plain(const std::string& address, std::uint16_t port);

  /// Runs the io_context on `io_threads` threads.
  void start();
  /// Stops accepting, closes every connection (releasing their in-flight C2D locks on the hub,
  /// publishing no Will), and joins the threads. Idempotent.
  void stop();

  /// Open connections (any thread).
  std::size_t connection_count() const;

 private:
  struct listener;
  std::uint16_t listen(const std::string& address, std::uint16_t port, SSL_CTX* tls);
  void accept(listener& l);

  asio::io_context io_;  // first: destroyed last, after everything that uses it
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  std::shared_ptr<gateway_context> context_;
  std::vector<std::unique_ptr<listener>> listeners_;
  std::vector<std::thread> threads_;
  bool stopped_ = false;
};

}  // namespace emu::mqtt
