#pragma once
/// How other threads (the hub executor, a front's event fan-out, stop()) reach one connection:
/// a weak reference that posts to the connection's strand. A handle never keeps a connection
/// alive, and what it posts does nothing once the connection has closed.
///
/// Thread safety: every member may be called from any thread.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace emu::net {

class stream_connection;
class protocol;

class connection_handle {
 public:
  connection_handle() = default;
  connection_handle(std::weak_ptr<stream_connection> c, std::uint64_t id)
      : c_(std::move(c)), id_(id) {}

  /// Runs `fn(protocol)` on the connection's strand, also when the connection has closed
  /// meanwhile (the protocol then only gives back what the answer brought: protocols know
  /// they are closed); then the connection writes what `fn` queued, resumes reading and
  /// re-arms its timer as needed. False when the connection object is already gone: nothing
  /// was posted, and the caller gives back what it holds itself. `fn` never runs before the
  /// protocol was opened.
  bool post(std::function<void(protocol&)> fn) const;
  /// Asks the protocol to end the connection (protocol::on_shutdown); a connection still in
  /// its TLS handshake is closed at once.
  void shutdown(std::string reason) const;
  /// Re-evaluates the protocol's deadline now (after clock travel moved the hub's time).
  void poke() const;

  std::uint64_t id() const { return id_; }
  bool expired() const { return c_.expired(); }

 private:
  std::weak_ptr<stream_connection> c_;
  std::uint64_t id_ = 0;
};

}  // namespace emu::net
