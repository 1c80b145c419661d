#pragma once
/// Settings of the MQTT device gateway (config keys under `mqtt`, README "Configuration").
/// Defaults bound memory and time per connection and match what the SDKs need (sdk-wire §1).
/// Each default is defined here and nowhere else: the configuration embeds this struct.
#include <chrono>
#include <cstddef>

#include "emulator/core/limits.hpp"
#include "emulator/mqtt/session/session.hpp"
#include "emulator/net/stream_connection.hpp"

namespace emu::mqtt {

struct gateway_settings {
  /// Per-connection protocol rules (in-flight window, CONNECT timeout, keep-alive, D2C limit,
  /// subscriptions). The host name is the hub's (core::hub_settings), set by the gateway.
  session_settings session;
  /// TLS handshake time-out, closing linger, output backlog (mqtt.tlsHandshakeTimeoutSeconds,
  /// mqtt.maxOutputBacklogBytes).
  net::connection_settings connection;
  /// Connections beyond this are closed right after accept (mqtt.maxConnections).
  std::size_t max_connections = 10000;
  /// Largest MQTT packet accepted (remaining length) once a device is connected. A larger one
  /// closes the connection as soon as its fixed header is read, before the body is buffered.
  /// 512 KiB fits a 256 KB telemetry payload (spec §3.1) plus the longest topic with room.
  std::size_t max_packet_size = 512 * 1024;
  /// Largest packet accepted before the hub has accepted the connection's CONNECT (issue 7:
  /// what an unauthenticated connection can make the gateway buffer). The smaller of this and
  /// `max_packet_size` applies until then. The default fits the largest CONNECT a device
  /// sends: the Will payload has a two-byte length (MQTT 3.1.1 §3.1.3.3: at most 65,535
  /// bytes), and the client id (a device id of at most 128 characters, spec §7), user name
  /// (sdk-wire §1.2, well under 1 KB) and SAS token (a few hundred bytes) fit in the other
  /// 16 KiB. The SDKs send no Will at all (sdk-wire §1.2).
  std::size_t max_connect_packet_size = 80 * 1024;
  /// Reading from a connection pauses while this many hub requests of it are outstanding (a
  /// device that floods publishes).
  std::size_t max_pending_hub_requests = 64;
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
