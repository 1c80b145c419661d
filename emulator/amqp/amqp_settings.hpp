#pragma once
/// Settings of the AMQP service endpoint. Defaults are safe for a development emulator: they
/// bound memory per connection and the number of connections, and match what the SDKs need.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "emulator/core/host_name.hpp"
#include "emulator/core/time.hpp"
#include "emulator/log/log.hpp"

namespace emu::amqp {

/// The endpoint logs as component "amqp" (never keys or whole tokens: only a token's
/// sr/skn/se).
using log_level = emu::log::level;

struct amqp_settings {
  /// The hub name: the feedback `user-id` (spec §2.2) and the `{hubName}` of a SASL PLAIN
  /// user name `{policy}@sas.root.{hubName}` (sdk-wire §7). Not a setting of its own: the
  /// front takes it from the hub's settings.
  std::string hub_name;
  /// The HostName clients use (`primary`: redirects name it) and its aliases; the first label
  /// of each is also accepted as `{hubName}` in a SASL PLAIN user name, because the C SDK
  /// derives the hub name from HostName (sdk-wire §7). From the hub's settings, like hub_name.
  core::host_names hosts;
  /// When the hub was created, as the Event Hubs `$management` READ reports it (`created_at`);
  /// set by the front when it starts, like hub_name.
  core::time_point hub_created{};

  /// Connections beyond this are closed right after accept.
  std::size_t max_connections = 1000;
  /// Our max-frame-size (AMQP open; config `amqp.maxFrameSize`). Larger frames from a peer
  /// end the connection with amqp:connection:framing-error before they are buffered. Clients
  /// split larger messages over several frames (AMQP 1.0 §2.6.14 `more`; rhea and Proton size
  /// them by the max-frame-size we announce), so 64 KiB carries a 64 KB C2D message in two.
  std::size_t max_frame_size = 64 * 1024;
  /// Frames a peer may send before its open arrived (the protocol headers, SASL frames, the
  /// open itself). AMQP 1.0 §2.4.1 allows only 512 bytes (MIN-MAX-FRAME-SIZE) before open and
  /// §5.3.1 the same for SASL frames; 4 KiB leaves room for a client with a long SASL PLAIN
  /// token or open properties while bounding what a connection buffers before it opened.
  std::uint32_t max_frame_size_before_open = 4 * 1024;
  /// Bytes a peer may send before the connection is authorised (SASL PLAIN, or a CBS
  /// put-token with ServiceConnect); one more frame beyond this ends the connection with
  /// amqp:resource-limit-exceeded. The SDKs send under 2 KB before that (header, open, begin,
  /// the two $cbs attaches, one put-token: sdk-wire §2.2, §2.3), and a client cannot send C2D
  /// messages before it is authorised (no credit), so this bounds what an unauthenticated
  /// connection can make the endpoint hold (Proton buffers, CBS requests) without limiting
  /// real clients. Not enforced once authorised.
  std::size_t max_input_before_auth = 64 * 1024;
  /// Our channel-max: sessions per connection (the SDKs use one or two).
  std::size_t max_sessions = 16;
  /// Links per connection; further attaches are refused with amqp:resource-limit-exceeded.
  std::size_t max_links = 64;
  /// Bytes of one delivery kept while it arrives. A C2D send larger than this is refused with
  /// amqp:link:message-size-exceeded without being buffered (the hub's own limit, 64 KB, is
  /// checked by the hub; this only protects memory).
  std::size_t max_delivery_bytes = 1024 * 1024;
  /// Idle time-out we announce in our open; a peer silent for longer is disconnected
  /// (Proton enforces it; the SDKs send heartbeats when the peer announces one).
  std::chrono::milliseconds idle_timeout{240'000};
  /// The TLS handshake must be done within this time after accept, and the AMQP open within
  /// this time after the handshake.
  std::chrono::milliseconds handshake_timeout{30'000};
  /// Credit window granted to a C2D sender link, replenished as messages are settled
  /// (issue 4 item 3: "credit keeps a sender flowing").
  std::uint32_t c2d_credit_window = 500;
  /// C2D messages locked at once for a device receiving over AMQP (its hub session's in-flight
  /// window; the Node SDK grants 1000 credits and settles each message when the app does).
  std::size_t device_c2d_window = 10;
  /// CBS replies queued while the client's `$cbs` receiver has no credit.
  std::size_t max_queued_cbs_replies = 32;
};

}  // namespace emu::amqp
