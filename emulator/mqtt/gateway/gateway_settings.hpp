#pragma once
/// Settings of the MQTT device gateway (the 8883 listener). Defaults bound memory and time per
/// connection and match what the SDKs need (sdk-wire §1).
#include <chrono>
#include <cstddef>
#include <functional>
#include <string_view>

#include "emulator/core/limits.hpp"
#include "emulator/mqtt/gateway/session.hpp"

namespace emu::mqtt {

enum class log_level { debug, info, warning, error };

/// Receives the gateway's log lines (without a component prefix: the sink adds "mqtt" if it
/// wants one): connects, refusals with their reason, closes. Never keys, passwords or whole
/// tokens (a token is logged as its sr/skn/se only). Called on I/O and hub executor threads;
/// must be thread-safe.
using log_sink = std::function<void(log_level, std::string_view)>;

struct gateway_settings {
  /// Per-connection protocol rules (host name, in-flight window, CONNECT timeout, keep-alive,
  /// D2C limit, subscriptions).
  session_settings session;
  /// Connections beyond this are closed right after accept.
  std::size_t max_connections = 10000;
  /// Largest MQTT packet accepted (remaining length). A larger one closes the connection as
  /// soon as its fixed header is read, before the body is buffered. The default fits a 256 KB
  /// telemetry payload plus the longest topic.
  std::size_t max_packet_size = core::limits::d2c_max_message_size + 65535 + 4;
  /// Largest packet accepted before the hub has accepted the connection's CONNECT (issue 7:
  /// what an unauthenticated connection can make the gateway buffer). A larger first packet
  /// closes the connection as soon as its fixed header is read, like `max_packet_size`, which
  /// applies from the CONNACK on. The smaller of the two applies before it. The default fits
  /// the largest CONNECT a device sends: the Will payload has a two-byte length (MQTT 3.1.1
  /// §3.1.3.3: at most 65,535 bytes), and the client id (a device id of at most 128
  /// characters, spec §7), user name (sdk-wire §1.2, well under 1 KB) and SAS token (a few
  /// hundred bytes) fit in the other 16 KiB. The SDKs send no Will at all (sdk-wire §1.2).
  std::size_t max_connect_packet_size = 80 * 1024;
  /// The TLS handshake must finish within this time after accept (then the CONNECT timeout of
  /// `session` starts).
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  /// How long a connection being closed may take to flush its last packets (e.g. a CONNACK 5).
  std::chrono::milliseconds close_linger{2'000};
  /// Threads running the sockets. Each connection is serialised on its own strand.
  std::size_t io_threads = 1;
  /// Reading from a connection pauses while this many bytes wait to be written to it, or this
  /// many hub requests of it are outstanding (a device that floods publishes or never reads).
  std::size_t max_output_backlog = 1024 * 1024;
  std::size_t max_pending_hub_requests = 64;
  log_sink log;
};

/// The largest packet (remaining length) the gateway reads from a connection whose session is
/// in `phase`: `max_connect_packet_size` (at most `max_packet_size`) until the hub has
/// accepted its CONNECT, then `max_packet_size`.
inline std::size_t packet_size_limit(const gateway_settings& s, session::phase phase) {
  if (phase == session::phase::connected) return s.max_packet_size;
  return s.max_connect_packet_size < s.max_packet_size ? s.max_connect_packet_size
                                                       : s.max_packet_size;
}

}  // namespace emu::mqtt
