#pragma once
/// WebSocket frames (RFC 6455 §5) as the server side reads and writes them. Pure (bytes in,
/// values out, no I/O), so it is unit-tested and fuzzed (tests/fuzz/websocket_frame_fuzz.cpp).
///
/// What a client must send (§5.1-§5.5), else the frame is an error with the close code to send:
/// masked frames (1002), no RSV bits (no extension is negotiated: 1002), a known opcode (1002),
/// control frames of at most 125 bytes and unfragmented (1002), the minimal length encoding is
/// not required (§5.2 says "MUST", but refusing costs interoperability and gains nothing), a
/// 64-bit length with the top bit clear (1002), a payload of at most `max_payload` (1009).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace emu::websocket {

enum class opcode : std::uint8_t {
  continuation = 0x0,
  text = 0x1,
  binary = 0x2,
  close = 0x8,
  ping = 0x9,
  pong = 0xa,
};

/// Close status codes (RFC 6455 §7.4.1).
enum class close_code : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  invalid_payload = 1007,
  policy_violation = 1008,
  message_too_big = 1009,
  internal_error = 1011,
};

enum class parse_status : std::uint8_t { need_more, frame, error };

struct frame_header {
  bool fin = false;
  websocket::opcode op = opcode::continuation;
  std::uint64_t payload_size = 0;
  std::uint8_t mask[4] = {};
  /// Header bytes (2-14); the payload follows.
  std::size_t header_size = 0;
};

struct parse_result {
  parse_status status = parse_status::need_more;
  frame_header header;  ///< frame: the header (the payload may not all be there yet)
  close_code code = close_code::protocol_error;  ///< error
  std::string error;                             ///< error: why, for the log
};

/// Parses the frame header at the start of `bytes`.
parse_result parse_frame_header(std::span<const std::uint8_t> bytes, std::uint64_t max_payload);

/// Unmasks `payload` in place; `offset` is the position of payload[0] within the frame's
/// payload (the mask repeats every 4 bytes).
void unmask(std::span<std::uint8_t> payload, const std::uint8_t (&mask)[4], std::uint64_t offset);

/// Appends an unmasked server frame (FIN set) with `payload`.
void append_frame(std::vector<std::uint8_t>& out, opcode op, std::span<const std::uint8_t> payload);

/// Appends a close frame with `code` and a short reason (cut to fit a control frame).
void append_close(std::vector<std::uint8_t>& out, close_code code, std::string_view reason);

}  // namespace emu::websocket
