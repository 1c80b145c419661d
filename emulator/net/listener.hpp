#pragma once
/// A listening socket of one front: binds an address (an IP literal, or a name resolved once),
/// accepts connections (retrying after errors such as EMFILE instead of spinning), refuses
/// those over the front's connection limit (logged at most once a second, with a count), and
/// turns each accepted socket into a stream_connection that drives a new protocol object.
///
/// Thread safety: listen() and stop() from one controlling thread; the accept loop runs on the
/// io_context. The TLS context and the connection set must outlive the listener's
/// connections (the front owns all three).
#include <openssl/ssl.h>

#include <asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "emulator/net/connection_set.hpp"
#include "emulator/net/protocol.hpp"
#include "emulator/net/stream_connection.hpp"

namespace emu::net {

struct listener_options {
  /// The front's name in logs ("mqtt", "amqp", "https").
  std::string front;
  /// The setting that sets the connection limit, named when a connection is refused
  /// (e.g. "mqtt.maxConnections").
  std::string limit_setting;
  connection_settings connection;
};

/// Makes the protocol of one accepted connection.
using protocol_factory = std::function<std::unique_ptr<protocol>()>;

class listener {
 public:
  /// `tls` null: plain TCP.
  listener(asio::io_context& io, SSL_CTX* tls, std::shared_ptr<connection_set> connections,
           listener_options options, protocol_factory factory);
  /// Calls stop().
  ~listener();
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;

  /// Binds `address:port` (port 0: an ephemeral port) and starts accepting. Returns the bound
  /// port. Throws std::system_error when the address cannot be bound or resolved; its code is
  /// in the generic category (errno values, so `std::errc::permission_denied` can be tested).
  /// SO_REUSEADDR only (fast restarts), never SO_REUSEPORT: a second emulator on the same port
  /// fails instead of sharing it. IPv6 addresses listen on IPv6 only.
  std::uint16_t listen(const std::string& address, std::uint16_t port);
  /// Stops accepting (open connections are the front's to close). Idempotent.
  void stop();

 private:
  struct state;
  std::shared_ptr<state> state_;
};

}  // namespace emu::net
