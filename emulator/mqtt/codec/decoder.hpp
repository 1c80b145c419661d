#pragma once
/// Streaming MQTT 3.1.1 decoder: bytes in, one packet out. No I/O, no state between calls.
///
/// Usage (a server's read loop):
///
///     emu::mqtt::decoder dec({.max_remaining_length = 256 * 1024 + 1024});
///     for (;;) {
///       auto r = dec.decode(std::span(buffer).subspan(0, filled));
///       if (r.status == emu::mqtt::decode_status::need_more) break;  // read more (r.needed)
///       if (r.status == emu::mqtt::decode_status::error) { /* r.error: close */ }
///       handle(std::move(r.value));
///       drop_front(buffer, r.consumed);
///     }
///
/// The input may end anywhere (partial packet) or hold several packets; only the first is
/// decoded. Errors that the fixed header alone reveals (reserved type, wrong flags, malformed
/// or too large remaining length, wrong length of a fixed-size packet) are reported as soon as
/// those bytes are present, without waiting for the body. A decoded packet owns its data:
/// the input span may be overwritten afterwards.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "emulator/mqtt/codec/errors.hpp"
#include "emulator/mqtt/codec/packet.hpp"

namespace emu::mqtt {

/// Largest remaining length the wire format can express (MQTT 2.2.3: four bytes of 7 bits).
inline constexpr std::size_t max_wire_remaining_length = 268'435'455;

struct decoder_limits {
  /// Packets whose remaining length (everything after the fixed header) exceeds this are
  /// refused with `decode_error::packet_too_large` as soon as the fixed header is read.
  std::size_t max_remaining_length = max_wire_remaining_length;
};

enum class decode_status : std::uint8_t {
  need_more,  // the input holds no complete packet yet and no error was found so far
  complete,   // `value` holds the first packet, which occupied `consumed` bytes
  error,      // `error` says why; the connection should be closed (see decode_error)
};

struct decode_result {
  decode_status status = decode_status::need_more;
  /// complete: size of the decoded packet in bytes (fixed header included).
  std::size_t consumed = 0;
  /// need_more: the total input size needed before the next call can make progress: the
  /// whole packet once its fixed header is known, otherwise the fixed header read so far + 1.
  std::size_t needed = 0;
  decode_error error = decode_error::none;
  /// complete: the packet. Otherwise a default-constructed value (ignore it).
  packet value;
};

class decoder {
 public:
  explicit decoder(decoder_limits limits = {}) : limits_(limits) {}

  const decoder_limits& limits() const { return limits_; }
  /// Changes the limits for the following calls (e.g. a larger packet size once the client
  /// has authenticated).
  void set_limits(decoder_limits limits) { limits_ = limits; }

  /// Decodes the first packet of `bytes`. Never reads outside `bytes`.
  decode_result decode(std::span<const std::uint8_t> bytes) const;
  decode_result decode(std::string_view bytes) const {
    return decode(std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(bytes.data()),
                                                bytes.size()));
  }

 private:
  decoder_limits limits_;
};

}  // namespace emu::mqtt
