#pragma once
/// One accepted TCP connection, in TLS or plain, driving one sans-I/O protocol (protocol.hpp).
/// This is the only socket loop of the emulator: every front's connections are these.
///
/// What it does, so that no protocol has to:
///   - the TLS handshake, bounded by `tls_handshake_timeout`;
///   - reading into a buffer that exists only while unconsumed input is held (ARCHITECTURE
///     "Idle TLS memory": an idle connection holds no buffer and, through the transport, no
///     TLS record buffers), grows with what arrives and never beyond the protocol's
///     input_limit();
///   - back-pressure: no reading while the protocol does not want input or while more than
///     `max_output_backlog` bytes wait to be written to a peer that does not read; and a cap
///     on what the emulator itself pushes to a peer that never reads (notifications, events,
///     deliveries): past `unread_output_limit()` bytes waiting, the connection is closed;
///   - fairness: at most 16 reads in a row before the strand is yielded to other connections;
///   - writing the protocol's output, in order, freeing a large buffer once written;
///   - one timer for the handshake, the protocol's deadline and the closing linger;
///   - closing: flush (optionally draining input), then TLS close_notify and close, within
///     `close_linger`; protocol::on_closed() exactly once.
///
/// Threading: everything runs on the connection's strand (the socket's executor). start(),
/// shutdown(), poke() and post() may be called from any thread: they post to it.
/// Lifetime: owned by shared_ptr; pending operations keep it alive; connection_set and
/// connection_handle hold weak references only.
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/net/connection_handle.hpp"
#include "emulator/net/protocol.hpp"
#include "emulator/net/transport.hpp"

namespace emu::net {

/// Per-front settings of its connections (config keys under each front).
struct connection_settings {
  /// The TLS handshake must be done within this time after accept.
  std::chrono::milliseconds tls_handshake_timeout{10'000};
  /// A connection being closed gets this long to write its last bytes (and, when draining,
  /// to read what the peer still sends); then it is closed regardless.
  std::chrono::milliseconds close_linger{2'000};
  /// Reading pauses while more than this many bytes wait to be written (a peer that sends but
  /// never reads cannot make the emulator buffer without bound).
  std::size_t max_output_backlog = 1024 * 1024;
  /// A peer that never reads while the emulator keeps sending (desired-property
  /// notifications, a dashboard event stream, telemetry to a reader with credit) is cut when
  /// this many bytes wait to be written: 16 x max_output_backlog (16 MiB by default), far
  /// above any burst a reading peer sees (issue 20 item 5).
  std::size_t unread_output_limit() const { return 16 * max_output_backlog; }
  /// At most this many bytes are read and dropped while draining after a close.
  std::size_t max_drain_bytes = 16 * 1024 * 1024;
};

class connection_set;

class stream_connection final : public link,
                                public std::enable_shared_from_this<stream_connection> {
 public:
  /// `socket` must use a strand of its own as executor (async_accept(make_strand(io), …)).
  /// `tls` null: plain TCP; it must outlive the connection. `owner` (may be null) is told when
  /// the connection closes.
  stream_connection(asio::ip::tcp::socket socket, SSL_CTX* tls, std::uint64_t id,
                    const connection_settings& settings, std::unique_ptr<protocol> p,
                    std::weak_ptr<connection_set> owner);
  ~stream_connection() override;
  stream_connection(const stream_connection&) = delete;
  stream_connection& operator=(const stream_connection&) = delete;

  /// Starts the TLS handshake (or opens the protocol, for plain TCP). Any thread.
  void start();
  /// See connection_handle. Any thread.
  bool post(std::function<void(protocol&)> fn);
  void shutdown(std::string reason);
  void poke();

  // ---- link (the protocol's side; strand only) -------------------------------------------
  std::vector<std::uint8_t>& output() override { return out_; }
  std::size_t output_pending() const override { return out_.size() - out_offset_; }
  void close(std::string_view reason, bool drain_input = false) override;
  void close_now(std::string_view reason) override;
  void abort(std::string_view reason) override;
  bool closing() const override { return phase_ == phase::closing || phase_ == phase::closed; }
  const std::string& peer() const override { return transport_.peer(); }
  const std::string& peer_address() const override { return peer_address_; }
  std::string transport_name() const override { return transport_.protocol(); }
  const std::vector<std::string>& peer_certificates() const override { return peer_certificates_; }
  std::uint64_t id() const override { return id_; }
  connection_handle handle() const override;
  void replace_protocol(std::unique_ptr<protocol> next) override {
    next_protocol_ = std::move(next);
  }

 private:
  /// Applies a replace_protocol() (between callbacks only).
  void switch_protocol();
  enum class phase : std::uint8_t { handshake, open, closing, closed };

  void handshake();
  void opened();
  /// After every callback: write, resume reading, finish a close, re-arm the timer.
  void settle();
  bool can_read() const;
  void schedule_read();
  void read_input();
  void process_input();
  bool ensure_read_space();
  void release_idle_read_buffer();
  void flush_output();
  void arm(steady_time at);
  void on_timer();
  /// A refusal of the transport for the front's metrics (connection_set::refusals).
  void count_refusal(std::string_view reason) const;
  std::optional<steady_time> next_deadline() const;
  void finish_close();
  void notify_closed();
  /// Test control paused the front (connection_set::set_paused): no handshake, input, output
  /// or protocol deadline until it resumes; a closing connection still finishes.
  bool paused() const {
    return paused_flag_ && paused_flag_->load(std::memory_order_relaxed) &&
           phase_ != phase::closing && phase_ != phase::closed;
  }

  const std::uint64_t id_;
  const connection_settings settings_;
  std::weak_ptr<connection_set> owner_;
  std::shared_ptr<const std::atomic<bool>> paused_flag_;  // the set's (connection_set::set_paused)
  std::string peer_address_;                    // read before the socket moves into the transport
  std::vector<std::string> peer_certificates_;  // read once the handshake is done
  transport transport_;
  asio::steady_timer timer_;
  std::unique_ptr<protocol> protocol_;
  std::unique_ptr<protocol> next_protocol_;  // replace_protocol(), applied by switch_protocol()

  phase phase_ = phase::handshake;
  steady_time handshake_deadline_{};
  steady_time close_deadline_{};
  std::string close_reason_;
  bool draining_ = false;
  std::size_t drained_ = 0;
  bool input_closed_ = false;  // the peer ended its side, or reading failed
  bool read_waiting_ = false;  // an async_wait for readability is pending
  bool read_posted_ = false;   // a read_input() is posted
  bool write_waiting_ = false;
  bool opened_ = false;             // the protocol was opened (it stays so after the close)
  bool handshake_started_ = false;  // start() began it (not while the front was paused)
  bool flushed_ = false;            // output was written out: on_output_flushed() is due
  bool processing_ = false;         // inside process_input(): `in_` must stay where it is
  bool notify_pending_ = false;     // closed: on_closed() is still due
  std::optional<steady_time> armed_;
  std::uint64_t timer_generation_ = 0;

  std::vector<std::uint8_t> in_;  // exists while unconsumed input is held
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::vector<std::uint8_t> out_;
  std::size_t out_offset_ = 0;
};

}  // namespace emu::net
