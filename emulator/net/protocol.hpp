#pragma once
/// The sans-I/O seam between a network connection and the protocol it carries.
///
/// Every front (MQTT device gateway, AMQP service endpoint, HTTPS) is a `protocol`: it gets the
/// bytes that arrived, appends the bytes to send to its `link`'s output, says when it next has
/// something to do (a deadline) and whether it wants more input now. It never touches a socket,
/// a TLS session or a timer. One `stream_connection` (stream_connection.hpp) drives any
/// protocol: TLS or plain transport, the read buffer, flushing, back-pressure, deadlines, and
/// closing. So the socket loop exists once, and a protocol adapter can be unit-tested with a
/// fake link (tests/unit/net/).
///
/// Threading: every call of a protocol, and every call it makes on its link, runs on the
/// connection's strand. Other threads reach a protocol only through its connection_handle.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/net/connection_handle.hpp"

namespace emu::net {

using steady_clock = std::chrono::steady_clock;
using steady_time = steady_clock::time_point;

/// What a protocol may ask of the connection that carries it.
class link {
 public:
  virtual ~link() = default;

  /// Bytes appended here are written after the current callback returns, in order.
  virtual std::vector<std::uint8_t>& output() = 0;
  /// Bytes appended to output() and not yet handed to the transport.
  virtual std::size_t output_pending() const = 0;

  /// Ends the connection gracefully: no more input reaches the protocol, what is queued is
  /// written (within the connection's linger time), then the transport is closed (TLS
  /// close_notify, best effort) and on_closed() runs. With `drain_input`, input that still
  /// arrives is read and dropped until the peer closes or the linger time ends, so that a peer
  /// which sends before it reads (an HTTP body after a 413) sees the last answer instead of a
  /// TCP reset. Idempotent; the first reason wins.
  virtual void close(std::string_view reason, bool drain_input = false) = 0;
  /// Ends the connection now, dropping unwritten output. on_closed() runs when the current
  /// callback has returned (never inside a protocol call); after close_now() the input span of
  /// a running on_input() stays readable, but the protocol should return at once.
  virtual void close_now(std::string_view reason) = 0;
  /// Ends the connection now like close_now(), without any goodbye of the transport either
  /// (no TLS close_notify): the peer sees its connection cut (fault injection's KillTcp).
  virtual void abort(std::string_view reason) { close_now(reason); }
  /// True from the first close()/close_now() on.
  virtual bool closing() const = 0;

  /// "address:port" of the peer ("?" when unknown), and the address alone.
  virtual const std::string& peer() const = 0;
  virtual const std::string& peer_address() const = 0;
  /// "TLSv1.3", "TLSv1.2", … or "tcp" for a plain connection.
  virtual std::string transport_name() const = 0;
  /// The certificates the peer presented in the TLS handshake, DER, leaf first; empty when it
  /// presented none (or the connection is plain). The TLS fronts ask for one and accept any
  /// (tls_context.hpp): what it proves is for the protocol above to decide (X.509 devices).
  virtual const std::vector<std::string>& peer_certificates() const {
    static const std::vector<std::string> none;
    return none;
  }
  /// Unique among the connections of the process (for logs).
  virtual std::uint64_t id() const = 0;
  /// The handle other threads use to reach this connection (hub answers, hub events).
  virtual connection_handle handle() const = 0;
  /// Hands the connection to `next` (a WebSocket upgrade: the HTTP session gives way to the
  /// protocol it carries). Takes effect when the current callback has returned: the calling
  /// protocol is then destroyed without on_closed() (the connection did not close), `next` is
  /// opened on this link, and input not yet used goes to it. What the caller appended to
  /// output() before is written first.
  virtual void replace_protocol(std::unique_ptr<class protocol> next) = 0;
};

/// A connection's protocol. The connection owns it and calls it on its strand only.
class protocol {
 public:
  virtual ~protocol() = default;

  /// The transport is up (the TLS handshake finished): remembers `l` (link()) and calls
  /// on_open(). `l` stays valid until on_closed() has returned.
  void open(link& l) {
    link_ = &l;
    on_open(l);
  }
  /// Called once, by open(), before any other call.
  virtual void on_open(link& l) = 0;
  /// Bytes from the peer. Returns how many were used; the rest stays buffered and is offered
  /// again, with what arrives next, at the next call. Not called while wants_input() is false
  /// or once the connection is closing.
  virtual std::size_t on_input(std::span<const std::uint8_t> bytes) = 0;
  /// The peer ended its sending side (`error` empty) or reading failed (`error` says why).
  /// The protocol decides whether the connection ends now or after its last output.
  virtual void on_input_closed(std::string_view error) = 0;
  /// deadline() has passed (`now` is the connection's steady clock).
  virtual void on_deadline(steady_time now) { (void)now; }
  /// Everything appended to the output so far has been handed to the transport (an HTTP
  /// response is out: the next request may be read).
  virtual void on_output_flushed() {}
  /// The hub's clock was moved (test control clock travel, connection_handle::poke): deadlines
  /// that follow hub time (token expiry, keep-alive) must be evaluated again. deadline() is
  /// asked right after; a protocol that computes it from hub time needs nothing more.
  virtual void on_clock_travel() {}
  /// The server is stopping or the hub was reset (connection_handle::shutdown). The default
  /// ends the connection gracefully; a protocol overrides it to say goodbye its own way (an
  /// AMQP close frame) or to finish an answer first.
  virtual void on_shutdown(std::string_view reason);
  /// The connection is closed, for whatever reason: release what is held (hub locks, …).
  /// Called exactly once if on_open() was, and last.
  virtual void on_closed(std::string_view reason) = 0;
  /// The read buffer holds input_limit() bytes and on_input() used none of them. The default
  /// closes the connection; an HTTP front answers 431 first.
  virtual void on_input_overflow();
  /// The hub was reset (test control): a protocol that holds hub state (a device session, an
  /// AMQP connection's links) ends its connection; the default does nothing.
  virtual void on_hub_reset() {}
  /// Runs before the connection writes, after every callback: a protocol that carries another
  /// one (websocket_stream) frames what the inner protocol wrote.
  virtual void on_settle() {}
  /// The protocol that connection_handle::post() callbacks are given: this one, or the one it
  /// carries (a WebSocket stream hands the fronts' posts to the MQTT or AMQP protocol inside).
  virtual protocol& dispatch_target() { return *this; }

  // ---- polled by the connection after every callback -------------------------------------
  /// Reading pauses while false (the protocol waits for the hub, has too much work queued, …).
  virtual bool wants_input() const { return true; }
  /// The most unconsumed input the protocol may need at once (one whole packet or frame):
  /// the read buffer never grows beyond it.
  virtual std::size_t input_limit() const = 0;
  /// When on_deadline() must run next; nullopt: no deadline.
  virtual std::optional<steady_time> deadline() const { return std::nullopt; }

 protected:
  /// The link given to open() (null before it).
  link* link_ = nullptr;
};

}  // namespace emu::net
