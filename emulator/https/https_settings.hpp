#pragma once
/// Settings of the HTTPS front. Defaults suit a development emulator: bounded bodies, bounded
/// waits for the hub, a small worker pool.
#include <chrono>
#include <cstddef>
#include <filesystem>

namespace emu::https {

struct https_settings {
  /// PEM server certificate chain (leaf first) and unencrypted key: the same files the MQTT
  /// and AMQP fronts serve, so one CA covers every port (README "Trusting the certificate").
  std::filesystem::path certificate_chain;
  std::filesystem::path private_key;
  /// Serve the /admin/ routes (docs/test-control.md), to loopback peers only. Off unless the
  /// emulator is started with --test-control.
  bool test_control = false;
  /// Larger request bodies are refused with 413 before they are read into memory. A device
  /// JSON is < 1 KB; a test-control C2D message is at most 64 KB (spec §1.4) plus base64.
  std::size_t max_body_bytes = 1024 * 1024;
  /// Worker threads of the HTTP server (each serves one connection at a time).
  std::size_t worker_threads = 8;
  /// How long a request waits for the hub executor's answer before 503 ServiceUnavailable.
  std::chrono::milliseconds hub_timeout{10'000};
  /// Idle time after which a keep-alive connection is closed. The server's stop() waits for
  /// idle keep-alive connections at most this long.
  std::chrono::seconds keep_alive_timeout{5};
  /// Time allowed to read a request (and the TLS handshake) and to write a response.
  std::chrono::seconds io_timeout{5};
};

}  // namespace emu::https
