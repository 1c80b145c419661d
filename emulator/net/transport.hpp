#pragma once
/// A non-blocking byte stream over an accepted TCP socket, in TLS or (only when explicitly
/// configured) in plain TCP.
///
/// Why not asio::ssl::stream: it keeps two 17 KB record buffers per connection for its whole
/// life. Here OpenSSL reads and writes the socket itself (through a small BIO that sends with
/// MSG_NOSIGNAL, so a peer that went away cannot raise SIGPIPE), with SSL_MODE_RELEASE_BUFFERS:
/// an idle TLS connection holds no record buffers (ARCHITECTURE "Idle TLS memory"). Asio is
/// used only to wait for readiness (socket.async_wait), so the caller allocates its own read
/// buffer when data arrives.
///
/// Every operation returns at once: `ok` with a byte count, `would_block` with what to wait
/// for (a TLS read may need the socket writable and the other way round), `closed` (orderly
/// end) or `failed`. A blocked write must be retried with the same bytes (more may be
/// appended; the buffer may move).
///
/// Thread safety: none; one strand owns it. Not copyable or movable (OpenSSL keeps the fd).
#include <openssl/ssl.h>

#include <asio/ip/tcp.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace emu::net {

class transport {
 public:
  enum class status : std::uint8_t { ok, would_block, closed, failed };
  struct result {
    status st = status::ok;
    std::size_t bytes = 0;
    /// For would_block: wait until the socket is ready for this.
    asio::socket_base::wait_type wait = asio::socket_base::wait_read;
    /// For failed: a short reason (OpenSSL's or the system's), for the log.
    std::string error;
  };

  /// `tls` null: plain TCP. Otherwise a server-side TLS session on `tls` (which must outlive
  /// this object). The socket is switched to non-blocking mode with TCP_NODELAY (ARCHITECTURE
  /// "Latency tails").
  transport(asio::ip::tcp::socket socket, SSL_CTX* tls);
  ~transport();
  transport(const transport&) = delete;
  transport& operator=(const transport&) = delete;

  bool is_tls() const { return ssl_ != nullptr; }
  /// Runs the TLS handshake as far as it can; `ok` when done. Plain TCP: always `ok`.
  result handshake();
  result read(std::span<std::uint8_t> into);
  result write(std::span<const std::uint8_t> bytes);
  /// Ends the sending side and keeps reading: a TLS close_notify if possible (never waits),
  /// then a TCP FIN. The peer sees the end of the stream at once, while what it still sends
  /// is read (a lingering close, as HTTP servers do). Idempotent.
  void shutdown_write();
  /// Sends a TLS close_notify if possible (never waits) and closes the socket. Idempotent.
  void close();
  /// Closes the socket without a TLS close_notify: the peer's TLS layer sees the stream end
  /// in the middle (fault injection's KillTcp). Idempotent.
  void abort();

  asio::ip::tcp::socket& socket() { return socket_; }
  /// "address:port" of the peer, or "?" when unknown.
  const std::string& peer() const { return peer_; }
  /// "TLSv1.3" etc. after the handshake; "tcp" for plain.
  std::string protocol() const;
  /// After the handshake: the certificates the client presented, DER, leaf first (empty when
  /// none or plain TCP).
  std::vector<std::string> peer_certificates() const;

 private:
  result map_ssl(int rc, const char* what);

  asio::ip::tcp::socket socket_;
  struct ssl_free {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL, ssl_free> ssl_;
  std::string peer_;
  bool write_shut_ = false;
  bool closed_ = false;
};

}  // namespace emu::net
