#pragma once
/// The AMQP 1.0 service endpoint of the emulated IoT Hub (spec §4, sdk-wire §2 and §7):
/// back-ends send C2D messages and read delivery feedback over AMQP + TLS (default 5671), with
/// no SASL (Node, C#), SASL ANONYMOUS, MSSBCBS or PLAIN (the legacy C client), CBS put-token,
/// the C2D sender link and the feedback receiver link.
///
/// How the pieces fit (the Proton split):
///   - Each TCP connection is a net::stream_connection (TLS on net::transport, the same for
///     every front) driving an amqp_session, whose bytes drive a Proton **C**
///     `pn_connection_driver_t` (connection.hpp). The C driver is used instead of Proton's C++
///     container or C++ `io::connection_driver` because neither exposes the `pn_transport_t`,
///     and our server-side SASL (PLAIN verified by the hub, MSSBCBS, ANONYMOUS) must be
///     installed on the transport through `pnx_sasl_set_implementation`
///     (sasl_authenticator.hpp).
///   - Messages are parsed and built with the Proton **C++** `proton::message`
///     (message_codec.hpp, cbs_node.hpp), after a bounded structural check of the bytes
///     (encoding_check.hpp).
///   - The hub is reached only through the hub executor; answers are posted back to the
///     connection's strand, and a C2D send is accepted only after its commit. Feedback is
///     pushed by the hub to the link of the receiver it was locked for (link_routes).
///
/// Thread safety: construct and listen() from one controlling thread; stop(), wait_closed(),
/// clock_advanced() and connection_count() from any thread. Construct before
/// hub_executor::start() (the constructor registers the hub-event listener). The executor,
/// the io_context and the TLS context must outlive the front's connections.
#include <asio/io_context.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "emulator/core/host_name.hpp"

#include "emulator/amqp/amqp_settings.hpp"
#include "emulator/executor/hub_executor.hpp"
#include "emulator/net/front_numbers.hpp"
#include "emulator/net/listener.hpp"

namespace emu::amqp {

struct amqp_state;

class amqp_front {
 public:
  /// `hub_name` and `host_name` are the hub's (feedback user-id, SASL PLAIN user names).
  amqp_front(amqp_settings settings, const std::string& hub_name, core::host_names hosts,
             executor::hub_executor& executor, asio::io_context& io);
  ~amqp_front();
  amqp_front(const amqp_front&) = delete;
  amqp_front& operator=(const amqp_front&) = delete;

  /// Binds `address:port` (port 0: ephemeral) and accepts AMQP over TLS with `tls`, or over
  /// plain TCP when `tls` is null (tests, TLS-terminating proxies; it sends SAS tokens in
  /// clear text). Returns the bound port; throws std::system_error (net::listener).
  std::uint16_t listen(const std::string& address, std::uint16_t port, SSL_CTX* tls);
  /// An AMQP session for a stream that arrived over WebSocket on the HTTPS port (subprotocol
  /// AMQPWSB10; websocket_stream carries it, the HTTPS front owns the network connection).
  /// Redirects name the first TLS listener's port. Any thread.
  std::unique_ptr<net::protocol> make_websocket_session() const;
  /// Stops accepting and closes every connection with amqp:connection:forced. Idempotent.
  void stop();
  bool wait_closed(std::chrono::milliseconds timeout);
  /// The hub's clock moved: every connection re-checks its token expiry.
  void clock_advanced();
  std::size_t connection_count() const;
  /// Open, accepted and refused connections (any thread; /metrics).
  net::front_numbers numbers() const;

 private:
  std::shared_ptr<amqp_state> state_;
  asio::io_context& io_;
  std::vector<std::unique_ptr<net::listener>> listeners_;
  std::shared_ptr<std::atomic<std::uint16_t>> tls_port_ =
      std::make_shared<std::atomic<std::uint16_t>>(0);
};

}  // namespace emu::amqp
