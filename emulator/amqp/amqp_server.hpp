#pragma once
/// The AMQP 1.0 service endpoint of the emulated IoT Hub (spec §4, sdk-wire §2 and §7):
/// back-ends send C2D messages and read delivery feedback over AMQP + TLS (default 5671), with
/// no SASL (Node, C#), SASL ANONYMOUS, MSSBCBS or PLAIN (the legacy C client), CBS put-token,
/// the C2D sender link and the feedback receiver link.
///
/// How the pieces fit (the Proton split):
///   - Each TCP connection is an Asio stream (TLS with Asio + OpenSSL, or plain TCP when no TLS
///     context is given); the decrypted bytes drive a Proton **C** `pn_connection_driver_t`
///     (connection.hpp). The C driver is used instead of Proton's C++ container or C++
///     `io::connection_driver` because neither exposes the `pn_transport_t`, and our
///     server-side SASL (PLAIN verified by the hub, MSSBCBS, ANONYMOUS) must be installed on
///     the transport through `pnx_sasl_set_implementation` (sasl_authenticator.hpp).
///   - Messages are parsed and built with the Proton **C++** `proton::message`
///     (message_codec.hpp, cbs_node.hpp), after a bounded structural check of the bytes
///     (encoding_check.hpp).
///   - The hub is reached only through the hub executor; completions are posted back to the
///     connection's strand, and a C2D send is accepted only after its commit.
///
/// Thread safety: listen() before the io_context runs (or on its thread); stop(),
/// recheck_deadlines() and connection_count() from any thread. The io_context may be run by
/// several threads: each connection runs on its own strand.
///
/// Lifetime: construct BEFORE hub_executor::start(), because the constructor registers the
/// hub-event listener (feedback_available, hub_reset). Declare the executor and the TLS
/// context before the io_context, and the server after it: the server must be destroyed
/// before the io_context, and the executor and TLS context must outlive every connection (a
/// connection destroyed with the io_context still gives its locked feedback batches back to
/// the executor). After stop(), keep running the io_context until it runs out of work so that
/// connections can finish their close handshake (at most about 2 s each).
#include <asio/io_context.hpp>
#include <asio/ssl/context.hpp>

#include <cstdint>
#include <memory>
#include <string>

#include "emulator/amqp/amqp_settings.hpp"
#include "emulator/runtime/hub_executor.hpp"

namespace emu::amqp {

namespace detail {
class server_state;
}

class amqp_server {
 public:
  /// `tls` == nullptr listens in plain TCP (tests, TLS-terminating proxies). Off by default in
  /// the application; it sends SAS tokens in clear text.
  amqp_server(asio::io_context& io, asio::ssl::context* tls, runtime::hub_executor& executor,
              amqp_settings settings);
  /// Calls stop().
  ~amqp_server();
  amqp_server(const amqp_server&) = delete;
  amqp_server& operator=(const amqp_server&) = delete;

  /// Binds `address:port` (port 0 = ephemeral) and starts accepting. Returns the bound port.
  /// May be called several times (e.g. 127.0.0.1 and ::1). Throws std::system_error when the
  /// address cannot be bound.
  std::uint16_t listen(const std::string& address, std::uint16_t port);

  /// Stops accepting and closes every connection with amqp:connection:forced. Idempotent.
  void stop();

  /// Re-evaluates every connection's deadlines now (token expiry after the executor's clock
  /// was moved by test control).
  void recheck_deadlines();

  /// Open connections (diagnostics).
  std::size_t connection_count() const;

 private:
  std::shared_ptr<detail::server_state> state_;
};

}  // namespace emu::amqp
