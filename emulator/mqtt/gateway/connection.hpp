#pragma once
/// One device connection: the transport (TLS or TCP), the read/write buffers, one timer and
/// the pure `session` that decides everything. It carries out the session's actions: packets
/// go to the socket, hub work goes to the hub executor, whose answers come back to this
/// connection's strand.
///
/// Memory (ARCHITECTURE "Idle TLS memory"): the read buffer exists only while bytes of an
/// unfinished packet are held; the write buffer is released once flushed; the transport keeps
/// no TLS record buffers while idle. Until the hub accepted the CONNECT, the read buffer holds
/// at most `max_connect_packet_size` (issue 7: an unauthenticated connection cannot make the
/// gateway buffer a full `max_packet_size`).
///
/// Thread safety: every member function except those marked "any thread" runs on the
/// connection's strand. Owned by shared_ptr: pending asio operations and strand posts keep it
/// alive; the hub executor holds only weak references (connection_registry::post_to).
#include <asio/any_io_executor.hpp>
#include <asio/steady_timer.hpp>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/gateway/session.hpp"
#include "emulator/runtime/transport.hpp"

namespace emu::mqtt {

struct gateway_context;
using runtime::transport;

class connection : public std::enable_shared_from_this<connection> {
 public:
  /// `socket` must use a strand executor of its own (async_accept(make_strand(io), …)).
  connection(std::shared_ptr<gateway_context> context, std::uint64_t id,
             asio::ip::tcp::socket socket, SSL_CTX* tls);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Starts the TLS handshake (with its timeout) or, for plain TCP, the session. Any thread.
  void start();

  std::uint64_t id() const { return id_; }
  /// The connection's strand. Any thread.
  const asio::any_io_executor& executor() const { return executor_; }
  /// True from the moment the connection starts closing. Any thread.
  bool closing() const { return closing_.load(); }

  // ---- inputs from the hub (posted to the strand by connection_registry) ----------------
  void on_c2d_available();
  /// Closes at once (takeover, device change, hub reset, shutdown).
  void close_now(close_reason why, std::string detail = {});

 private:
  void handshake();
  void transport_up();
  void read_input();
  void process_input();
  bool input_paused() const;
  void resume_input();
  bool ensure_read_space();
  /// The packet size limit of the session's phase (packet_size_limit()).
  std::size_t packet_limit() const;
  void flush_output();
  void apply(actions list);
  void apply_one(session_action& a);
  void close_after_flush(close_reason why, std::string detail);
  void set_timer(core::time_point at);
  void release_buffers_if_idle();
  void log_packet(const packet& p) const;
  core::time_point now() const;
  void log_close(close_reason why, const std::string& detail);

  // hub work: posted to the executor; completions come back through the registry
  void hub_authenticate(action::authenticate a);
  void hub_store_subscription(std::optional<int> qos);
  void hub_lock_next();
  void hub_settle(std::uint64_t seq, std::uint64_t lock_id);
  void hub_release(std::uint64_t seq, std::uint64_t lock_id);
  void hub_store_telemetry(action::store_telemetry t);
  void hub_request_done();

  std::shared_ptr<gateway_context> context_;
  const std::uint64_t id_;
  asio::any_io_executor executor_;
  transport transport_;
  asio::steady_timer timer_;
  session session_;
  decoder decoder_;

  std::vector<std::uint8_t> in_;  // allocated while a packet is partially received
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::size_t in_needed_ = 0;  // decoder's "needed" for the packet at in_begin_
  std::vector<std::uint8_t> out_;
  std::size_t out_offset_ = 0;

  bool read_waiting_ = false;
  bool write_waiting_ = false;
  bool transport_ready_ = false;
  bool closed_ = false;  // the transport is closed
  std::atomic<bool> closing_{false};
  std::optional<close_reason> close_reason_;
  std::string close_detail_;
  std::size_t hub_requests_ = 0;  // outstanding hub work with a completion
  std::string device_id_;         // set once the hub accepted the CONNECT
};

}  // namespace emu::mqtt
