#include "emulator/mqtt/codec/validation.hpp"

#include <cstddef>
#include <cstdint>

namespace emu::mqtt {

namespace {

bool is_continuation(std::uint8_t b) {
  return (b & 0xC0) == 0x80;
}

}  // namespace

bool is_valid_mqtt_utf8(std::string_view s) {
  // Table 3-7 of the Unicode standard ("well-formed UTF-8 byte sequences"); the E0/ED/F0/F4
  // second-byte ranges exclude overlong forms, surrogates (MQTT-1.5.3-1) and > U+10FFFF.
  const auto* p = reinterpret_cast<const std::uint8_t*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    const std::uint8_t b0 = p[i];
    if (b0 == 0x00) return false;  // MQTT-1.5.3-2
    if (b0 < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint8_t lo = 0x80;
    std::uint8_t hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
      len = 2;
    } else if (b0 == 0xE0) {
      len = 3;
      lo = 0xA0;
    } else if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF) {
      len = 3;
    } else if (b0 == 0xED) {
      len = 3;
      hi = 0x9F;  // D800..DFFF would be ED A0..BF xx
    } else if (b0 == 0xF0) {
      len = 4;
      lo = 0x90;
    } else if (b0 >= 0xF1 && b0 <= 0xF3) {
      len = 4;
    } else if (b0 == 0xF4) {
      len = 4;
      hi = 0x8F;
    } else {
      return false;  // 80..C1 (stray continuation / overlong lead), F5..FF
    }
    if (n - i < len) return false;
    if (p[i + 1] < lo || p[i + 1] > hi) return false;
    for (std::size_t k = 2; k < len; ++k) {
      if (!is_continuation(p[i + k])) return false;
    }
    i += len;
  }
  return true;
}

bool is_valid_topic_name(std::string_view s) {
  return !s.empty() && s.find_first_of("+#") == std::string_view::npos;
}

bool is_valid_topic_filter(std::string_view s) {
  if (s.empty()) return false;
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = s.find('/', start);
    const std::size_t end = slash == std::string_view::npos ? s.size() : slash;
    const std::string_view level = s.substr(start, end - start);
    if (level.find('#') != std::string_view::npos) {
      // MQTT-4.7.1-2: `#` alone in the last level.
      if (level.size() != 1 || slash != std::string_view::npos) return false;
    }
    if (level.find('+') != std::string_view::npos && level.size() != 1) {
      return false;  // MQTT-4.7.1-3
    }
    if (slash == std::string_view::npos) return true;
    start = slash + 1;
  }
}

}  // namespace emu::mqtt
