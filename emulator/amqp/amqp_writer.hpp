#pragma once
/// Writes AMQP 1.0 type encodings (AMQP 1.0 §1.6) into a byte buffer, for the hot path where
/// building a proton::message per delivery costs more than the rest of the delivery: the
/// telemetry events an Event Hubs reader receives (event_message.cpp; bench/RESULTS.md found
/// proton::message encoding at 38% of the emulator's CPU in the D2C benchmark).
///
/// Only the encodings the hub sends: null, long, timestamp, string, symbol, binary, described
/// section headers and 32-bit maps and lists (sizes back-patched when the container closes).
/// Variable-width values take their 8-bit form when they fit. The output is checked against
/// Proton's decoder in tests/unit/amqp/event_message_test.cpp.
///
/// Pure; not thread-safe (one writer per buffer).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace emu::amqp {

class amqp_writer {
 public:
  explicit amqp_writer(std::vector<char>& out) : out_(out) {}

  void null() { byte(0x40); }
  void long_value(std::int64_t v) {
    byte(0x81);
    be64(static_cast<std::uint64_t>(v));
  }
  /// Milliseconds since the Unix epoch (AMQP 1.0 §1.6.21 timestamp).
  void timestamp(std::int64_t unix_ms) {
    byte(0x83);
    be64(static_cast<std::uint64_t>(unix_ms));
  }
  void string(std::string_view s) { variable(0xa1, 0xb1, s); }
  void symbol(std::string_view s) { variable(0xa3, 0xb3, s); }
  void binary(std::string_view b) { variable(0xa0, 0xb0, b); }

  /// A described type with a small-ulong descriptor, e.g. a message section (0x70-0x78).
  void descriptor(std::uint8_t code) {
    byte(0x00);
    byte(0x53);
    byte(static_cast<char>(code));
  }

  /// Opens a map32 (0xd1) or list32 (0xd0); `close` back-patches its size and element count.
  /// `count` is the number of encoded values (a map's keys plus its values).
  struct container {
    std::size_t size_at;
    std::uint32_t count = 0;
  };
  container open_map() { return open(0xd1); }
  container open_list() { return open(0xd0); }
  void close(const container& c);

 private:
  void byte(int b) { out_.push_back(static_cast<char>(b)); }
  void be32(std::uint32_t v);
  void be64(std::uint64_t v);
  void variable(int code8, int code32, std::string_view bytes);
  container open(int code);

  std::vector<char>& out_;
};

}  // namespace emu::amqp
