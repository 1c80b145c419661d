#include "emulator/mqtt/codec/encoder.hpp"

#include <cstddef>
#include <type_traits>
#include <variant>

#include "emulator/mqtt/codec/decoder.hpp"

namespace emu::mqtt {

namespace {

constexpr std::size_t max_field = 0xFFFF;

/// Appends bytes to a vector that was reserved to the exact final size beforehand.
class writer {
 public:
  explicit writer(std::vector<std::uint8_t>& out) : out_(out) {}

  void u8(std::uint8_t b) { out_.push_back(b); }
  void u16(std::uint16_t v) {
    out_.push_back(static_cast<std::uint8_t>(v >> 8));
    out_.push_back(static_cast<std::uint8_t>(v & 0xFF));
  }
  void raw(std::string_view s) { out_.insert(out_.end(), s.begin(), s.end()); }
  /// Length-prefixed field; the caller has checked s.size() <= 0xFFFF.
  void prefixed(std::string_view s) {
    u16(static_cast<std::uint16_t>(s.size()));
    raw(s);
  }
  /// MQTT 2.2.3 variable length encoding.
  void remaining_length(std::size_t n) {
    do {
      auto b = static_cast<std::uint8_t>(n % 128);
      n /= 128;
      if (n > 0) b = static_cast<std::uint8_t>(b | 0x80);
      out_.push_back(b);
    } while (n > 0);
  }

 private:
  std::vector<std::uint8_t>& out_;
};

std::size_t varint_size(std::size_t n) {
  if (n < 128) return 1;
  if (n < 16'384) return 2;
  if (n < 2'097'152) return 3;
  return 4;
}

/// Adds a length-prefixed field's size to `total`; false if the field is too long.
bool add_field(std::size_t& total, std::string_view s) {
  if (s.size() > max_field) return false;
  total += 2 + s.size();
  return true;
}

std::uint8_t qos_bits(qos_level q) {
  return static_cast<std::uint8_t>(q) & 0x03;
}

/// Writes the fixed header after checking the body size, and reserves the whole packet.
encode_error begin(std::vector<std::uint8_t>& out, std::uint8_t first_byte, std::size_t body,
                   writer& w) {
  if (body > max_wire_remaining_length) return encode_error::packet_too_large;
  out.reserve(out.size() + 1 + varint_size(body) + body);
  w.u8(first_byte);
  w.remaining_length(body);
  return encode_error::none;
}

std::uint8_t first_byte(packet_type t, std::uint8_t flags) {
  return static_cast<std::uint8_t>((static_cast<std::uint8_t>(t) << 4) | flags);
}

encode_error encode_connect(const connect& c, std::vector<std::uint8_t>& out) {
  std::size_t body = 0;
  bool ok = add_field(body, c.protocol_name);
  body += 1 + 1 + 2;  // level, flags, keep alive
  ok = ok && add_field(body, c.client_id);
  if (c.will) ok = ok && add_field(body, c.will->topic) && add_field(body, c.will->payload);
  if (c.username) ok = ok && add_field(body, *c.username);
  if (c.password) ok = ok && add_field(body, *c.password);
  if (!ok) return encode_error::field_too_long;

  std::uint8_t flags = 0;  // MQTT 3.1.2.3
  if (c.clean_session) flags |= 0x02;
  if (c.will) {
    flags = static_cast<std::uint8_t>(flags | 0x04 | (qos_bits(c.will->qos) << 3));
    if (c.will->retain) flags |= 0x20;
  }
  if (c.password) flags |= 0x40;
  if (c.username) flags |= 0x80;

  writer w(out);
  if (auto e = begin(out, first_byte(packet_type::connect, 0), body, w); e != encode_error::none) {
    return e;
  }
  w.prefixed(c.protocol_name);
  w.u8(c.protocol_level);
  w.u8(flags);
  w.u16(c.keep_alive);
  w.prefixed(c.client_id);
  if (c.will) {
    w.prefixed(c.will->topic);
    w.prefixed(c.will->payload);
  }
  if (c.username) w.prefixed(*c.username);
  if (c.password) w.prefixed(*c.password);
  return encode_error::none;
}

encode_error encode_connack(const connack& c, std::vector<std::uint8_t>& out) {
  writer w(out);
  auto e = begin(out, first_byte(packet_type::connack, 0), 2, w);
  w.u8(c.session_present ? 1 : 0);
  w.u8(static_cast<std::uint8_t>(c.return_code));
  return e;
}

encode_error encode_id_only(packet_type t, std::uint8_t flags, std::uint16_t id,
                            std::vector<std::uint8_t>& out) {
  writer w(out);
  auto e = begin(out, first_byte(t, flags), 2, w);
  w.u16(id);
  return e;
}

encode_error encode_empty(packet_type t, std::vector<std::uint8_t>& out) {
  writer w(out);
  return begin(out, first_byte(t, 0), 0, w);
}

encode_error encode_subscribe(const subscribe& s, std::vector<std::uint8_t>& out) {
  std::size_t body = 2;
  for (const auto& sub : s.subscriptions) {
    if (!add_field(body, sub.filter)) return encode_error::field_too_long;
    body += 1;
  }
  writer w(out);
  // MQTT-3.8.1-1: flags 0b0010.
  if (auto e = begin(out, first_byte(packet_type::subscribe, 0x02), body, w);
      e != encode_error::none) {
    return e;
  }
  w.u16(s.packet_id);
  for (const auto& sub : s.subscriptions) {
    w.prefixed(sub.filter);
    w.u8(static_cast<std::uint8_t>(sub.qos));
  }
  return encode_error::none;
}

encode_error encode_suback(const suback& s, std::vector<std::uint8_t>& out) {
  const std::size_t body = 2 + s.return_codes.size();
  writer w(out);
  if (auto e = begin(out, first_byte(packet_type::suback, 0), body, w); e != encode_error::none) {
    return e;
  }
  w.u16(s.packet_id);
  for (auto rc : s.return_codes) w.u8(static_cast<std::uint8_t>(rc));
  return encode_error::none;
}

encode_error encode_unsubscribe(const unsubscribe& u, std::vector<std::uint8_t>& out) {
  std::size_t body = 2;
  for (const auto& f : u.filters) {
    if (!add_field(body, f)) return encode_error::field_too_long;
  }
  writer w(out);
  // MQTT-3.10.1-1: flags 0b0010.
  if (auto e = begin(out, first_byte(packet_type::unsubscribe, 0x02), body, w);
      e != encode_error::none) {
    return e;
  }
  w.u16(u.packet_id);
  for (const auto& f : u.filters) w.prefixed(f);
  return encode_error::none;
}

}  // namespace

encode_error encode_publish(const publish_view& p, std::vector<std::uint8_t>& out) {
  std::size_t body = 0;
  if (!add_field(body, p.topic)) return encode_error::field_too_long;
  const bool has_id = p.qos != qos_level::at_most_once;
  if (has_id) body += 2;
  if (p.payload.size() > max_wire_remaining_length) return encode_error::packet_too_large;
  body += p.payload.size();
  // MQTT 3.3.1: DUP bit 3, QoS bits 2-1, RETAIN bit 0.
  auto flags = static_cast<std::uint8_t>(qos_bits(p.qos) << 1);
  if (p.dup) flags |= 0x08;
  if (p.retain) flags |= 0x01;
  writer w(out);
  if (auto e = begin(out, first_byte(packet_type::publish, flags), body, w);
      e != encode_error::none) {
    return e;
  }
  w.prefixed(p.topic);
  if (has_id) w.u16(p.packet_id);
  w.raw(p.payload);
  return encode_error::none;
}

encode_error encode(const packet& p, std::vector<std::uint8_t>& out) {
  return std::visit(
      [&out](const auto& v) -> encode_error {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, connect>) {
          return encode_connect(v, out);
        } else if constexpr (std::is_same_v<T, connack>) {
          return encode_connack(v, out);
        } else if constexpr (std::is_same_v<T, publish>) {
          return encode_publish(
              publish_view{v.dup, v.qos, v.retain, v.topic, v.packet_id, v.payload}, out);
        } else if constexpr (std::is_same_v<T, puback>) {
          return encode_id_only(packet_type::puback, 0, v.packet_id, out);
        } else if constexpr (std::is_same_v<T, pubrec>) {
          return encode_id_only(packet_type::pubrec, 0, v.packet_id, out);
        } else if constexpr (std::is_same_v<T, pubrel>) {
          return encode_id_only(packet_type::pubrel, 0x02, v.packet_id, out);  // MQTT-3.6.1-1
        } else if constexpr (std::is_same_v<T, pubcomp>) {
          return encode_id_only(packet_type::pubcomp, 0, v.packet_id, out);
        } else if constexpr (std::is_same_v<T, subscribe>) {
          return encode_subscribe(v, out);
        } else if constexpr (std::is_same_v<T, suback>) {
          return encode_suback(v, out);
        } else if constexpr (std::is_same_v<T, unsubscribe>) {
          return encode_unsubscribe(v, out);
        } else if constexpr (std::is_same_v<T, unsuback>) {
          return encode_id_only(packet_type::unsuback, 0, v.packet_id, out);
        } else if constexpr (std::is_same_v<T, pingreq>) {
          return encode_empty(packet_type::pingreq, out);
        } else if constexpr (std::is_same_v<T, pingresp>) {
          return encode_empty(packet_type::pingresp, out);
        } else {
          static_assert(std::is_same_v<T, disconnect>);
          return encode_empty(packet_type::disconnect, out);
        }
      },
      p);
}

std::vector<std::uint8_t> encode(const packet& p) {
  std::vector<std::uint8_t> out;
  if (encode(p, out) != encode_error::none) out.clear();
  return out;
}

}  // namespace emu::mqtt
