#pragma once
/// The server side of the WebSocket opening handshake (RFC 6455 §4.2) for IoT Hub's
/// `GET /$iothub/websocket` (next-capabilities §6): which subprotocol the client gets, or the
/// HTTP status that refuses it. Pure; thread-safe.
///
/// Checks (§4.2.1): `Upgrade: websocket`, `Connection` listing `upgrade`, a
/// `Sec-WebSocket-Key` that is base64 of 16 bytes, `Sec-WebSocket-Version: 13` (else 426 with
/// the supported version), and a `Sec-WebSocket-Protocol` offering one of `supported`, matched
/// without regard to case and echoed exactly as the client wrote it (the Node `ws` library
/// fails with "Server sent no subprotocol" otherwise; the C SDK sends `MQTT`, Node `mqtt`).
/// Extensions (permessage-deflate) are declined by not answering them.
#include <span>
#include <string>
#include <string_view>

namespace emu::websocket {

struct upgrade_request {
  std::string_view method;
  std::string_view upgrade;     ///< the Upgrade header
  std::string_view connection;  ///< the Connection header(s), comma-joined
  std::string_view key;         ///< Sec-WebSocket-Key
  std::string_view version;     ///< Sec-WebSocket-Version
  std::string_view protocols;   ///< Sec-WebSocket-Protocol(s), comma-joined
};

struct handshake_result {
  /// 101 when accepted; otherwise 400, 405 or 426.
  int status = 400;
  std::string error;     ///< why it was refused
  std::string accept;    ///< Sec-WebSocket-Accept
  std::string protocol;  ///< the subprotocol token as the client wrote it
  /// The index in `supported` of the chosen subprotocol.
  std::size_t chosen = 0;
};

handshake_result check_upgrade(const upgrade_request& r,
                               std::span<const std::string_view> supported);

/// base64(SHA-1(key + the RFC 6455 GUID)).
std::string accept_key(std::string_view key);

}  // namespace emu::websocket
