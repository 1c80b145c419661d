#pragma once
/// Settings of the HTTPS front (config keys under `https`, README "Configuration"). Defaults
/// suit a development emulator: bounded requests, a deadline for every phase of a connection,
/// a connection limit, bounded waits for the hub (issue 7, "resource limits"). Each default is
/// defined here and nowhere else: the configuration embeds this struct.
#include <chrono>
#include <cstddef>

#include "emulator/https/http_codec.hpp"
#include "emulator/net/stream_connection.hpp"

namespace emu::https {

/// Who is served the dashboard (`/`, /dashboard/…; README "Dashboard").
enum class dashboard_access {
  off,       ///< --no-dashboard: 404
  loopback,  ///< the default: loopback peers, without a token (like test control); others 403
  remote,    ///< --dashboard-remote: also other peers, with a service SAS token for the data
};

struct https_settings {
  /// Serve the /admin/ routes (docs/test-control.md), to loopback peers only. Off unless the
  /// emulator is started with --test-control.
  bool test_control = false;
  /// Serve `GET /metrics` (Prometheus text, no token: it names no device and holds no
  /// secret). On unless --no-metrics; it is reachable where the HTTPS port listens.
  bool metrics = true;
  /// The dashboard (issue 18): loopback only unless --dashboard-remote; off with
  /// --no-dashboard.
  dashboard_access dashboard = dashboard_access::loopback;
  /// How often an open event stream (`GET /dashboard/events`) looks at the hub; it sends an
  /// event only when the view changed.
  std::chrono::milliseconds dashboard_refresh{500};
  /// An event stream whose client has not read the last event for this long is closed (a
  /// client that never reads holds one event, not a growing buffer).
  std::chrono::milliseconds dashboard_keep_alive{15'000};
  /// Request head and body bounds (http_codec.hpp). A device JSON is < 1 KB; a test-control
  /// C2D message is at most 64 KB (spec §1.4) plus base64, well under the 1 MiB body bound.
  http_limits limits;
  /// TLS handshake time-out (https.tlsHandshakeTimeoutSeconds) and the linger after a refusal:
  /// the rest of a refused request is read and dropped (at most 16 MiB, for `close_linger`)
  /// so that a client that sends its whole body before reading (Python's http.client, curl)
  /// sees the 413/431 instead of a reset.
  net::connection_settings connection;
  /// Connections beyond this are closed right after accept.
  std::size_t max_connections = 1000;
  /// How long a request waits for the hub executor's answer before 503 ServiceUnavailable.
  std::chrono::milliseconds hub_timeout{10'000};
  /// The first request must arrive within this time after the handshake, and every request
  /// within this time of its first byte (head and body); else 408, then close.
  std::chrono::milliseconds request_timeout{10'000};
  /// Idle time between requests after which a keep-alive connection is closed.
  std::chrono::milliseconds keep_alive_timeout{5'000};
  /// Time allowed to hand a response to the client.
  std::chrono::milliseconds write_timeout{10'000};
};

}  // namespace emu::https
