#pragma once
/// Settings of the HTTPS front. Defaults suit a development emulator: bounded requests, a
/// deadline for every phase of a connection, a connection limit, bounded waits for the hub
/// (issue 7, "resource limits"; README "Configuration", keys under `https`).
#include <chrono>
#include <cstddef>
#include <filesystem>

#include "emulator/https/http_codec.hpp"

namespace emu::https {

struct https_settings {
  /// PEM server certificate chain (leaf first) and unencrypted key: the same files the MQTT
  /// and AMQP fronts serve, so one CA covers every port (README "Trusting the certificate").
  std::filesystem::path certificate_chain;
  std::filesystem::path private_key;
  /// Serve the /admin/ routes (docs/test-control.md), to loopback peers only. Off unless the
  /// emulator is started with --test-control.
  bool test_control = false;
  /// Request head and body bounds (http_codec.hpp). A device JSON is < 1 KB; a test-control
  /// C2D message is at most 64 KB (spec §1.4) plus base64, well under the 1 MiB body bound.
  http_limits limits;
  /// Connections beyond this are closed right after accept.
  std::size_t max_connections = 1000;
  /// Threads that run requests (each waits for the hub executor's answer, at most
  /// `hub_timeout`). The sockets themselves are served by one I/O thread.
  std::size_t worker_threads = 4;
  /// How long a request waits for the hub executor's answer before 503 ServiceUnavailable.
  std::chrono::milliseconds hub_timeout{10'000};
  /// The TLS handshake must finish within this time after accept.
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  /// The first request must arrive within this time after the handshake, and every request
  /// within this time of its first byte (head and body).
  std::chrono::milliseconds request_timeout{10'000};
  /// Idle time between requests after which a keep-alive connection is closed.
  std::chrono::milliseconds keep_alive_timeout{5'000};
  /// Time allowed to hand a response to the client.
  std::chrono::milliseconds write_timeout{10'000};
};

}  // namespace emu::https
