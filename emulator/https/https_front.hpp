#pragma once
/// The HTTPS front of the emulated IoT Hub (issue 6; default port 443): the registry REST subset
/// the official SDKs use (registry_api.hpp), `GET /health`, and, when enabled, test control for
/// loopback peers (test_control_api.hpp, docs/test-control.md).
///
/// Each connection is a net::stream_connection driving an http_session (http_session.hpp):
/// HTTP/1.1 by the pure http_codec, a deadline for every phase, bounded requests. A request's
/// body is parsed and its answer rendered on the I/O thread; only its hub call runs on the hub
/// executor, and the answer is sent after that round's commit: nothing is acknowledged before
/// it is durable (docs/architecture.md). A hub that does not answer within `hub_timeout` gets
/// the request a 503.
///
/// Thread safety: construct and listen() from one controlling thread; stop(), wait_closed()
/// and connection_count() from any thread. The executor, the io_context and the TLS context
/// passed to listen() must outlive the front's connections (stop(), then wait_closed()).
#include <asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "emulator/executor/hub_executor.hpp"
#include "emulator/https/dashboard_api.hpp"
#include "emulator/https/https_settings.hpp"
#include "emulator/metrics/hub_metrics.hpp"
#include "emulator/net/front_numbers.hpp"
#include "emulator/net/listener.hpp"
#include "emulator/net/protocol.hpp"

namespace emu::https {

/// Clock travel as the emulator does it (`POST /admin/clock/advance`): moves the hub's clock by
/// `by`, tells every front, and runs `done` once a hub round has run at the new time, so the
/// answer shows what became due. Any thread; `done` may run on any thread.
using clock_travel = std::function<void(std::chrono::milliseconds by, std::function<void()> done)>;

struct https_state;

/// A protocol the HTTPS port carries over WebSocket (`GET /$iothub/websocket`,
/// next-capabilities §6), chosen by the subprotocol the client offers: `mqtt` for the device
/// gateway, `AMQPWSB10` for the AMQP endpoint.
struct websocket_protocol {
  std::string subprotocol;
  std::function<std::unique_ptr<net::protocol>()> make;
};

class https_front {
 public:
  https_front(https_settings settings, executor::hub_executor& executor, asio::io_context& io,
              clock_travel travel);
  ~https_front();
  https_front(const https_front&) = delete;
  https_front& operator=(const https_front&) = delete;

  /// Binds `address:port` (port 0: ephemeral) and serves HTTPS with `tls` (plain HTTP when
  /// null: tests only). Returns the bound port; throws std::system_error (net::listener).
  std::uint16_t listen(const std::string& address, std::uint16_t port, SSL_CTX* tls);
  /// Serves these protocols over WebSocket (none: `/$iothub/websocket` is 404). Before listen().
  void serve_websockets(std::vector<websocket_protocol> protocols);
  /// What /metrics shows of the fronts (the emulator's wiring knows them all). Before listen().
  void serve_metrics(std::function<std::vector<metrics::front_metrics>()> fronts);
  /// What the dashboard shows of the emulator (ports, CA, policies' connection strings): any
  /// time, typically once every listener is bound.
  void set_dashboard_site(dashboard_site site);
  /// The hub's clock moved: connections re-check their deadlines (MQTT and AMQP carried over
  /// WebSocket check their tokens and keep-alive).
  void clock_advanced();
  /// Stops accepting; idle connections close at once, a request being answered gets its
  /// response (with `Connection: close`) first. Idempotent.
  void stop();
  bool wait_closed(std::chrono::milliseconds timeout);
  std::size_t connection_count() const;
  /// Open, accepted and refused connections (any thread; /metrics).
  net::front_numbers numbers() const;

 private:
  std::shared_ptr<https_state> state_;
  asio::io_context& io_;
  std::vector<std::unique_ptr<net::listener>> listeners_;
};

}  // namespace emu::https
