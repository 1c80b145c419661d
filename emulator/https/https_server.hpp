#pragma once
/// The HTTPS front of the emulated IoT Hub (issue 6; default port 443): the registry REST subset
/// the official SDKs use (registry_api.hpp), `GET /health`, and, when enabled, test control for
/// loopback peers (test_control_api.hpp, docs/test-control.md).
///
/// One I/O thread serves every connection (http_connection.hpp: TLS on runtime::transport,
/// configured like the other fronts, HTTP/1.1 by http_codec.hpp, a deadline for every phase,
/// bounded requests, at most `max_connections`). A complete request is routed on a worker
/// thread (`worker_threads`), the operation runs on the hub executor (the only owner of the
/// hub) and the worker waits for the answer, which comes after the round's commit: nothing is
/// acknowledged before it is durable (docs/architecture.md). A wait longer than `hub_timeout`
/// answers 503.
///
/// Thread safety: construct, set hooks and listen() from one thread; stop() from any thread.
/// Lifetime: the executor must outlive the server; stop the server before the executor
/// (requests in flight then still get their answers).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "emulator/https/https_settings.hpp"
#include "emulator/runtime/hub_executor.hpp"

namespace emu::https {

class https_server {
 public:
  /// Loads the certificate and key. Throws std::runtime_error naming the file and the reason
  /// when they are missing, unreadable, not PEM or do not match.
  https_server(runtime::hub_executor& executor, https_settings settings);
  /// Calls stop().
  ~https_server();
  https_server(const https_server&) = delete;
  https_server& operator=(const https_server&) = delete;

  /// Runs after clock travel (`POST /admin/clock/advance`), once the hub has applied the new
  /// time and before the request is answered: e.g. amqp_server::recheck_deadlines, so token
  /// expiry on open connections follows the clock too. Set before listen(). Runs on an HTTP
  /// worker thread.
  void on_clock_advanced(std::function<void()> hook);

  /// Binds `address:port` (an IP literal or a name resolved once; 0 = an ephemeral port),
  /// starts serving and returns the bound port. Call once. Throws std::system_error when the
  /// address cannot be bound (port in use, no permission for a port below 1024). The port is
  /// bound exclusively (SO_REUSEADDR only, no SO_REUSEPORT), so a second emulator on the same
  /// port fails instead of sharing it.
  std::uint16_t listen(const std::string& address, std::uint16_t port);

  /// Stops accepting, closes idle connections at once, answers the requests in flight (then
  /// closes their connections) and joins the threads: bounded by `hub_timeout` plus
  /// `write_timeout`. Idempotent.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace emu::https
