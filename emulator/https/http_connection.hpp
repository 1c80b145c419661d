#pragma once
/// One HTTPS client connection: the transport (runtime/transport.hpp: OpenSSL on a non-blocking
/// socket, no TLS record buffers while idle), a read buffer bounded by the request limits, one
/// timer, and the request/response cycle of HTTP/1.1 keep-alive.
///
/// Every phase has a deadline, so no client can hold a connection by being slow (issue 7,
/// slowloris rows of the attack matrix):
///   TLS handshake     `tls_handshake_timeout` from accept;
///   next request      `request_timeout` for the first request after the handshake; then
///                     `keep_alive_timeout` of idleness between requests, and once a request's
///                     first byte arrives the whole request (head and body) must arrive within
///                     `request_timeout` of that byte (else 408, then close);
///   response          `write_timeout` to hand the whole response to a client that reads;
///   after a refusal   `linger_timeout` (and at most `linger_bytes`) of reading and discarding
///                     what the client still sends, so that a client which sends its whole
///                     body before reading (Python's http.client, curl) sees the 413 instead of
///                     a reset; memory stays constant while discarding.
/// Requests are parsed by http_codec (bounded head and body); a complete request is handed to
/// `http_front::handle` on a worker thread (it may block on the hub executor) and reading
/// pauses until its response is written, so a connection holds at most one request.
///
/// Thread safety: all members run on the connection's strand, except start() and shut_down(),
/// which post to it. Owned by shared_ptr (pending operations keep it alive).
#include <asio/any_io_executor.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "emulator/https/http_front.hpp"
#include "emulator/runtime/transport.hpp"

namespace emu::https {

class http_connection : public std::enable_shared_from_this<http_connection> {
 public:
  /// `socket` must use a strand executor of its own (async_accept(make_strand(io), …)).
  http_connection(std::shared_ptr<http_front> front, std::uint64_t id, asio::ip::tcp::socket socket,
                  SSL_CTX* tls);
  ~http_connection();
  http_connection(const http_connection&) = delete;
  http_connection& operator=(const http_connection&) = delete;

  /// Starts the TLS handshake. Any thread.
  void start();
  /// The server is stopping: close now if no request is being answered, else after its
  /// response. Any thread.
  void shut_down();

  std::uint64_t id() const { return id_; }

 private:
  enum class phase : std::uint8_t { handshake, reading, answering, writing, lingering, closed };

  void handshake();
  void await_request(bool first);
  void read_input();
  void process_input();
  bool ensure_read_space();
  void answer(http_request request, bool keep_alive);
  void respond(const http_response& response, bool keep_alive);
  void flush_output();
  void response_written();
  void linger();
  void arm(std::chrono::milliseconds after, const char* what);
  void disarm();
  void deadline_passed(const char* what);
  void request_consumed(std::size_t bytes);
  void close(const std::string& why);

  std::shared_ptr<http_front> front_;
  const std::uint64_t id_;
  asio::any_io_executor executor_;
  std::string peer_address_;  // the IP only, for test control's loopback check (before
                              // transport_: read from the socket before it is moved there)
  runtime::transport transport_;
  asio::steady_timer timer_;

  phase phase_ = phase::handshake;
  bool request_started_ = false;  // a byte of the next request has arrived
  bool continue_sent_ = false;    // `100 Continue` written for the request being read
  bool keep_alive_ = true;        // after the response being written
  bool refused_ = false;          // the response being written refuses the request
  std::size_t discarded_ = 0;     // bytes read and dropped while lingering
  bool stopping_ = false;         // shut_down() was called
  bool read_waiting_ = false;
  bool write_waiting_ = false;
  std::uint64_t timer_generation_ = 0;  // a fired wait of an older arm() does nothing
  std::string in_;  // bytes received, not yet consumed; grows with what arrives, bounded
  std::size_t in_end_ = 0;
  // Parsing work is linear in the bytes received, however they are split into reads:
  std::size_t lead_ = 0;     // CR/LF bytes before the request line (RFC 9112 §2.2)
  std::size_t scanned_ = 0;  // bytes already searched for the end of the head
  std::size_t needed_ = 0;   // head parsed: the request's total size, else 0
  std::string out_;
  std::size_t out_offset_ = 0;
};

}  // namespace emu::https
