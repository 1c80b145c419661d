#pragma once
/// The MQTT device gateway: devices connect to it exactly as to Azure IoT Hub's MQTT endpoint
/// (MQTT 3.1.1 over TLS, SAS token password; spec §3, sdk-wire §1).
///
/// Each accepted connection is a net::stream_connection driving a device_connection (the MQTT
/// decoder, the pure session, and the hub calls). The gateway routes the hub's events to the
/// device's connection: deliveries (event::c2d_delivery) and ended sessions
/// (event::session_ended) go to the connection of the session's epoch, a reset closes all.
///
/// Usage (app::emulator is the one place that does this):
///
///     mqtt::gateway mqtt(settings, hub_settings.hosts(), executor, io);  // before start()
///     auto port = mqtt.listen("127.0.0.1", 8883, tls.native_handle());
///     … executor.start(); io.start();
///     mqtt.stop(); mqtt.wait_closed(5s);   // connections give their sessions back
///     executor.stop(); io.stop();
///
/// Thread safety: construct, listen and stop from one controlling thread; clock_advanced(),
/// wait_closed() and connection_count() from any thread. The executor, the io_context and the
/// TLS contexts passed to listen() must outlive the gateway.
#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emulator/core/host_name.hpp"
#include "emulator/executor/hub_executor.hpp"
#include "emulator/mqtt/gateway/gateway_settings.hpp"
#include "emulator/net/front_numbers.hpp"
#include "emulator/net/listener.hpp"

namespace emu::mqtt {

struct gateway_state;

class gateway {
 public:
  /// Registers the gateway's hub-event listener on `executor`, which therefore must not have
  /// been started yet (hub_executor::add_listener).
  gateway(gateway_settings settings, core::host_names hosts, executor::hub_executor& executor,
          asio::io_context& io);
  ~gateway();
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  /// Binds `address:port` (port 0: ephemeral) and accepts MQTT over TLS with `tls`, or over
  /// plain TCP when `tls` is null (only when configured: for TLS-terminating proxies and
  /// debugging; no SDK connects without TLS, sdk-wire §1.1). Returns the bound port; throws
  /// std::system_error (net::listener::listen).
  std::uint16_t listen(const std::string& address, std::uint16_t port, SSL_CTX* tls);

  /// A device connection for MQTT that arrived over WebSocket on the HTTPS port
  /// (websocket_stream carries it; the HTTPS front owns the network connection, its limits,
  /// shutdown and clock travel). Any thread.
  std::unique_ptr<net::protocol> make_websocket_connection() const;

  /// Stops accepting and closes every connection (server_shutdown: no Will is published; their
  /// sessions end on the hub, which gives their in-flight messages back). Idempotent.
  void stop();
  /// Waits until every connection is gone, at most `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout);
  /// The hub's clock moved (test control): every connection re-checks its token expiry and
  /// keep-alive against the new time.
  void clock_advanced();
  std::size_t connection_count() const;
  /// Open, accepted and refused connections (any thread; /metrics).
  net::front_numbers numbers() const;

 private:
  std::shared_ptr<gateway_state> state_;
  asio::io_context& io_;
  std::vector<std::unique_ptr<net::listener>> listeners_;
};

}  // namespace emu::mqtt
