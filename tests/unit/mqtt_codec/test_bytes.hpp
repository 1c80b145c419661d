#pragma once
// Helpers to write byte-annotated fixtures: `bytes{0x10, 0x0C} + str("MQTT") + …`.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "emulator/mqtt/codec/decoder.hpp"
#include "emulator/mqtt/codec/packet.hpp"

namespace emu::mqtt::test {

using bytes = std::vector<std::uint8_t>;

inline bytes str(std::string_view s) {
  return bytes(s.begin(), s.end());
}

/// A UTF-8/binary field: two-byte big-endian length, then the bytes (MQTT 1.5.3).
inline bytes field(std::string_view s) {
  bytes out{static_cast<std::uint8_t>(s.size() >> 8), static_cast<std::uint8_t>(s.size() & 0xFF)};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

inline bytes operator+(bytes a, const bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline decode_result decode(const bytes& b, decoder_limits limits = {}) {
  return decoder(limits).decode(std::span<const std::uint8_t>(b));
}

/// Decodes `b` and expects `error`.
inline decode_error decode_error_of(const bytes& b, decoder_limits limits = {}) {
  const auto r = decode(b, limits);
  return r.status == decode_status::error ? r.error : decode_error::none;
}

}  // namespace emu::mqtt::test
