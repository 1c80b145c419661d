#include "emulator/websocket/frame_codec.hpp"

#include <algorithm>
#include <string_view>

namespace emu::websocket {

namespace {

bool known(std::uint8_t op) {
  return op == 0x0 || op == 0x1 || op == 0x2 || op == 0x8 || op == 0x9 || op == 0xa;
}

parse_result fail(close_code code, std::string why) {
  parse_result r;
  r.status = parse_status::error;
  r.code = code;
  r.error = std::move(why);
  return r;
}

}  // namespace

parse_result parse_frame_header(std::span<const std::uint8_t> bytes, std::uint64_t max_payload) {
  if (bytes.size() < 2) return {};
  const std::uint8_t b0 = bytes[0];
  const std::uint8_t b1 = bytes[1];
  if ((b0 & 0x70) != 0) return fail(close_code::protocol_error, "RSV bits set (no extension)");
  const std::uint8_t op = b0 & 0x0f;
  if (!known(op)) return fail(close_code::protocol_error, "unknown opcode");
  if ((b1 & 0x80) == 0) return fail(close_code::protocol_error, "unmasked client frame");
  const bool control = (op & 0x8) != 0;
  const bool fin = (b0 & 0x80) != 0;
  if (control && !fin) return fail(close_code::protocol_error, "fragmented control frame");
  std::uint64_t size = b1 & 0x7f;
  std::size_t at = 2;
  if (size == 126) {
    if (bytes.size() < 4) return {};
    size = (std::uint64_t{bytes[2]} << 8) | bytes[3];
    at = 4;
  } else if (size == 127) {
    if (bytes.size() < 10) return {};
    size = 0;
    for (std::size_t i = 2; i < 10; ++i) size = (size << 8) | bytes[i];
    if ((size >> 63) != 0) return fail(close_code::protocol_error, "64-bit length with top bit");
    at = 10;
  }
  if (control && size > 125) return fail(close_code::protocol_error, "control frame over 125");
  if (size > max_payload) return fail(close_code::message_too_big, "frame larger than allowed");
  if (bytes.size() < at + 4) return {};
  parse_result r;
  r.status = parse_status::frame;
  r.header.fin = fin;
  r.header.op = static_cast<opcode>(op);
  r.header.payload_size = size;
  std::copy_n(bytes.begin() + static_cast<std::ptrdiff_t>(at), 4, r.header.mask);
  r.header.header_size = at + 4;
  return r;
}

void unmask(std::span<std::uint8_t> payload, const std::uint8_t (&mask)[4], std::uint64_t offset) {
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] ^= mask[(offset + i) & 3];
}

void append_frame(std::vector<std::uint8_t>& out, opcode op,
                  std::span<const std::uint8_t> payload) {
  out.push_back(static_cast<std::uint8_t>(0x80 | static_cast<std::uint8_t>(op)));
  const std::uint64_t n = payload.size();
  if (n < 126) {
    out.push_back(static_cast<std::uint8_t>(n));
  } else if (n <= 0xffff) {
    out.push_back(126);
    out.push_back(static_cast<std::uint8_t>(n >> 8));
    out.push_back(static_cast<std::uint8_t>(n));
  } else {
    out.push_back(127);
    for (int shift = 56; shift >= 0; shift -= 8)
      out.push_back(static_cast<std::uint8_t>(n >> shift));
  }
  out.insert(out.end(), payload.begin(), payload.end());
}

void append_close(std::vector<std::uint8_t>& out, close_code code, std::string_view reason) {
  std::vector<std::uint8_t> payload;
  const auto c = static_cast<std::uint16_t>(code);
  payload.push_back(static_cast<std::uint8_t>(c >> 8));
  payload.push_back(static_cast<std::uint8_t>(c));
  reason = reason.substr(0, 123);
  payload.insert(payload.end(), reason.begin(), reason.end());
  append_frame(out, opcode::close, payload);
}

}  // namespace emu::websocket
