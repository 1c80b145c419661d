#include "emulator/websocket/websocket_stream.hpp"

#include <algorithm>
#include <utility>

namespace emu::websocket {

websocket_stream::websocket_stream(std::unique_ptr<net::protocol> inner,
                                   std::size_t max_frame_payload)
    : inner_(std::move(inner)), max_frame_payload_(max_frame_payload) {}

websocket_stream::~websocket_stream() = default;

void websocket_stream::on_open(net::link&) {
  inner_->open(*this);
}

std::size_t websocket_stream::input_limit() const {
  // A whole inner packet may be spread over frames that stay buffered until it is used; each
  // frame adds at most 14 header bytes. Frames of a few bytes each cannot make this overflow
  // unnoticed: the connection then calls on_input_overflow (1009).
  return 2 * inner_->input_limit() + max_frame_payload_ + 14;
}

std::size_t websocket_stream::on_input(std::span<const std::uint8_t> bytes) {
  if (failed_) return bytes.size();
  // Decode the complete frames after those already decoded.
  while (decoded_through_ < bytes.size()) {
    const auto rest = bytes.subspan(decoded_through_);
    const auto r = parse_frame_header(rest, max_frame_payload_);
    if (r.status == parse_status::need_more) break;
    if (r.status == parse_status::error) {
      fail(r.code, r.error);
      return bytes.size();
    }
    const auto& h = r.header;
    if (rest.size() < h.header_size + h.payload_size) break;  // the payload is not all here
    const auto payload = rest.subspan(h.header_size, static_cast<std::size_t>(h.payload_size));
    const std::size_t wire_end = decoded_through_ + h.header_size + payload.size();
    switch (h.op) {
      case opcode::binary:
      case opcode::continuation: {
        if (h.op == opcode::continuation && !in_message_) {
          fail(close_code::protocol_error, "continuation frame outside a message");
          return bytes.size();
        }
        if (h.op == opcode::binary && in_message_) {
          fail(close_code::protocol_error, "new message inside a fragmented one");
          return bytes.size();
        }
        in_message_ = !h.fin;
        const std::size_t at = payload_.size();
        payload_.insert(payload_.end(), payload.begin(), payload.end());
        unmask(std::span(payload_).subspan(at), h.mask, 0);
        break;
      }
      case opcode::text:
        fail(close_code::unsupported_data, "text frames are not served (binary MQTT or AMQP)");
        return bytes.size();
      case opcode::ping: {
        std::vector<std::uint8_t> body(payload.begin(), payload.end());
        unmask(body, h.mask, 0);
        frame_output();  // what the inner protocol wrote before goes first
        append_frame(link_->output(), opcode::pong, body);
        break;
      }
      case opcode::pong:
        break;
      case opcode::close: {
        // RFC 6455 §5.5.1: the data before the close still goes to the inner protocol (a
        // DISCONNECT and the close often arrive in one read); the close is answered once it
        // has all been used. Stop decoding here either way.
        if (payload.size() == 1) {
          fail(close_code::protocol_error, "a close frame with a 1-byte payload");
          return bytes.size();
        }
        std::uint16_t code = 1000;
        if (payload.size() >= 2)
          code = static_cast<std::uint16_t>(((payload[0] ^ h.mask[0]) << 8) |
                                            (payload[1] ^ h.mask[1]));
        close_received_ = code;
        break;
      }
    }
    if (close_received_) break;
    decoded_through_ = wire_end;
    frames_.push_back({wire_end, payload_.size()});
  }

  // Offer the payload to the inner protocol while it takes some.
  while (payload_used_ < payload_.size() && inner_->wants_input() && !link_->closing()) {
    const std::size_t used = inner_->on_input(std::span<const std::uint8_t>(
        payload_.data() + payload_used_, payload_.size() - payload_used_));
    if (used == 0) break;
    payload_used_ += std::min(used, payload_.size() - payload_used_);
  }

  if (close_received_ && payload_used_ == payload_.size()) {
    // Echo a code the peer may send (§7.4.1: 1000-1003, 1007-1011, 3000-4999); else 1000.
    const std::uint16_t c = *close_received_;
    const bool echo =
        (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
    send_close(echo ? static_cast<close_code>(c) : close_code::normal, "");
    failed_ = true;  // nothing after a close frame is read
    inner_->on_input_closed("");
    link_->close("WebSocket close from the peer");
    return bytes.size();
  }
  close_received_.reset();  // decoded again, after the data before it, on the next call

  // Give back the frames whose payload is all used.
  std::size_t released = 0;
  std::size_t released_payload = 0;
  std::size_t n = 0;
  while (n < frames_.size() && frames_[n].payload <= payload_used_) {
    released = frames_[n].wire;
    released_payload = frames_[n].payload;
    ++n;
  }
  if (n > 0) {
    frames_.erase(frames_.begin(), frames_.begin() + static_cast<std::ptrdiff_t>(n));
    for (auto& f : frames_) {
      f.wire -= released;
      f.payload -= released_payload;
    }
    payload_.erase(payload_.begin(),
                   payload_.begin() + static_cast<std::ptrdiff_t>(released_payload));
    payload_used_ -= released_payload;
    decoded_through_ -= released;
  }
  return released;
}

void websocket_stream::on_input_closed(std::string_view error) {
  inner_->on_input_closed(error);
}

void websocket_stream::on_output_flushed() {
  frame_output();
  if (inner_out_.empty() && link_->output_pending() == 0) inner_->on_output_flushed();
}

void websocket_stream::on_input_overflow() {
  fail(close_code::message_too_big, "more buffered WebSocket input than allowed");
}

void websocket_stream::frame_output() {
  if (inner_out_.empty() || close_sent_) {
    if (close_sent_) inner_out_.clear();
    return;
  }
  append_frame(link_->output(), opcode::binary, inner_out_);
  inner_out_.clear();
}

void websocket_stream::send_close(close_code code, std::string_view reason) {
  if (close_sent_) return;
  frame_output();
  append_close(link_->output(), code, reason);
  close_sent_ = true;
}

void websocket_stream::close(std::string_view reason, bool drain_input) {
  send_close(close_code::normal, "");
  link_->close(reason, drain_input);
}

void websocket_stream::fail(close_code code, std::string_view why) {
  failed_ = true;
  send_close(code, why);
  link_->close(std::string("WebSocket: ") + std::string(why), /*drain_input=*/true);
}

}  // namespace emu::websocket
