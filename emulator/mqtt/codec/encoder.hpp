#pragma once
/// MQTT 3.1.1 encoder: packet values to bytes. No I/O.
///
/// The encoder writes what it is given: it checks only what the wire cannot represent
/// (field and packet lengths), not protocol rules, so tests can build non-conforming packets.
/// Everything the decoder accepts re-encodes to a packet the decoder decodes to an equal value.
/// Remaining lengths are written in the minimal number of bytes (MQTT 2.2.3).
#include <cstdint>
#include <string_view>
#include <vector>

#include "emulator/mqtt/codec/errors.hpp"
#include "emulator/mqtt/codec/packet.hpp"

namespace emu::mqtt {

/// Appends the encoding of `p` to `out` (one allocation at most: the size is computed first).
/// On error `out` is left unchanged.
encode_error encode(const packet& p, std::vector<std::uint8_t>& out);

/// Convenience for tests: the encoding of `p`, or an empty vector on error.
std::vector<std::uint8_t> encode(const packet& p);

/// A PUBLISH whose topic and payload are borrowed, so a sender can encode straight from its
/// own message storage without building a `publish` first (one payload copy, into `out`).
struct publish_view {
  bool dup = false;
  qos_level qos = qos_level::at_most_once;
  bool retain = false;
  std::string_view topic;
  std::uint16_t packet_id = 0;  // written only for QoS > 0
  std::string_view payload;
};

/// Appends a PUBLISH. On error `out` is left unchanged.
encode_error encode_publish(const publish_view& p, std::vector<std::uint8_t>& out);

}  // namespace emu::mqtt
