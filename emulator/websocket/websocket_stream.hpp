#pragma once
/// A protocol carried in WebSocket binary messages (RFC 6455; next-capabilities §6): MQTT or
/// AMQP over `wss://<host>:443/$iothub/websocket`, after http_session accepted the upgrade.
///
/// It sits between the connection and the inner protocol: to the connection it is the
/// protocol (frames in, frames out), to the inner protocol it is the link (a byte stream in,
/// a byte stream out). IoT Hub's WebSocket payload is a plain byte stream: a message may hold
/// several MQTT packets or AMQP frames and a packet may span messages, so payloads are joined
/// without regard to frame or message boundaries. The inner protocol's output is sent as one
/// binary frame per settle (the connection's write cycle).
///
/// Frames stay in the connection's read buffer until the inner protocol has used their
/// payload, so input the inner protocol is not ready for (waiting for the hub) waits there and
/// is offered again, exactly as without WebSocket. Control frames: a ping is answered with a
/// pong, a close with a close (then the connection ends and the inner protocol sees its input
/// end); text frames (1003), protocol errors (1002) and oversized frames (1009) are answered
/// with a close frame and end the connection.
///
/// connection_handle posts reach the inner protocol (dispatch_target), so the MQTT gateway and
/// the AMQP front find their own connections' protocols, whichever port they came in on.
///
/// Not thread-safe: the connection's strand only.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "emulator/net/protocol.hpp"
#include "emulator/websocket/frame_codec.hpp"

namespace emu::websocket {

class websocket_stream final : public net::protocol, public net::link {
 public:
  /// `max_frame_payload`: larger frames are refused with 1009.
  websocket_stream(std::unique_ptr<net::protocol> inner, std::size_t max_frame_payload);
  ~websocket_stream() override;

  // ---- protocol (the connection's side) --------------------------------------------------
  void on_open(net::link& l) override;
  std::size_t on_input(std::span<const std::uint8_t> bytes) override;
  void on_input_closed(std::string_view error) override;
  void on_deadline(net::steady_time now) override { inner_->on_deadline(now); }
  void on_output_flushed() override;
  void on_clock_travel() override { inner_->on_clock_travel(); }
  void on_shutdown(std::string_view reason) override { inner_->on_shutdown(reason); }
  void on_closed(std::string_view reason) override { inner_->on_closed(reason); }
  void on_input_overflow() override;
  void on_hub_reset() override { inner_->on_hub_reset(); }
  void on_settle() override { frame_output(); }
  net::protocol& dispatch_target() override { return inner_->dispatch_target(); }
  bool wants_input() const override { return !failed_ && inner_->wants_input(); }
  std::size_t input_limit() const override;
  std::optional<net::steady_time> deadline() const override { return inner_->deadline(); }

  // ---- link (the inner protocol's side) ------------------------------------------------
  std::vector<std::uint8_t>& output() override { return inner_out_; }
  std::size_t output_pending() const override {
    return inner_out_.size() + link_->output_pending();
  }
  void close(std::string_view reason, bool drain_input = false) override;
  void close_now(std::string_view reason) override { link_->close_now(reason); }
  void abort(std::string_view reason) override { link_->abort(reason); }
  bool closing() const override { return link_->closing(); }
  const std::string& peer() const override { return link_->peer(); }
  const std::string& peer_address() const override { return link_->peer_address(); }
  std::string transport_name() const override { return link_->transport_name() + "+ws"; }
  const std::vector<std::string>& peer_certificates() const override {
    return link_->peer_certificates();
  }
  std::uint64_t id() const override { return link_->id(); }
  net::connection_handle handle() const override { return link_->handle(); }
  void replace_protocol(std::unique_ptr<net::protocol>) override {}  // not inside a stream

 private:
  /// Sends what the inner protocol wrote as one binary frame.
  void frame_output();
  /// Sends a close frame (once) and ends the connection.
  void fail(close_code code, std::string_view why);
  void send_close(close_code code, std::string_view reason);

  std::unique_ptr<net::protocol> inner_;
  const std::size_t max_frame_payload_;
  /// The payload of the frames decoded so far and not yet used by the inner protocol; the
  /// frames themselves are still in the connection's buffer (the first `decoded_through_`
  /// bytes of what on_input() is given).
  std::vector<std::uint8_t> payload_;
  std::size_t payload_used_ = 0;
  std::size_t decoded_through_ = 0;
  /// Where each decoded frame ends: in the connection's bytes and in payload_.
  struct frame_end {
    std::size_t wire;
    std::size_t payload;
  };
  std::vector<frame_end> frames_;
  bool in_message_ = false;  // a data message's first frame came without FIN
  /// The code of a close frame decoded this call (after the frames before it).
  std::optional<std::uint16_t> close_received_;
  bool close_sent_ = false;
  bool failed_ = false;
  std::vector<std::uint8_t> inner_out_;
};

}  // namespace emu::websocket
