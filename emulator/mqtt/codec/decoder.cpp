#include "emulator/mqtt/codec/decoder.hpp"

#include <utility>

#include "emulator/mqtt/codec/validation.hpp"

namespace emu::mqtt {

namespace {

/// Bounds-checked cursor over one packet's variable header + payload. Every read either
/// succeeds entirely or leaves the cursor unchanged and returns false (→ truncated).
class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}

  std::size_t remaining() const { return size_ - pos_; }

  bool u8(std::uint8_t& out) {
    if (remaining() < 1) return false;
    out = data_[pos_++];
    return true;
  }

  bool u16(std::uint16_t& out) {
    if (remaining() < 2) return false;
    out = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    pos_ += 2;
    return true;
  }

  /// A two-byte length followed by that many bytes (MQTT 1.5.3 strings, 3.1.3.3 binary).
  bool prefixed(std::string_view& out) {
    std::uint16_t len = 0;
    if (remaining() < 2) return false;
    len = static_cast<std::uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
    if (remaining() - 2 < len) return false;
    out = std::string_view(reinterpret_cast<const char*>(data_ + pos_ + 2), len);
    pos_ += 2 + static_cast<std::size_t>(len);
    return true;
  }

  std::string_view rest() {
    std::string_view out(reinterpret_cast<const char*>(data_ + pos_), remaining());
    pos_ = size_;
    return out;
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t pos_ = 0;
};

/// A UTF-8 string field (MQTT 1.5.3).
decode_error read_utf8(reader& r, std::string& out) {
  std::string_view v;
  if (!r.prefixed(v)) return decode_error::truncated;
  if (!is_valid_mqtt_utf8(v)) return decode_error::invalid_utf8;
  out.assign(v);
  return decode_error::none;
}

decode_error read_topic_name(reader& r, std::string& out) {
  if (auto e = read_utf8(r, out); e != decode_error::none) return e;
  if (out.empty()) return decode_error::empty_topic;                           // MQTT-4.7.3-1
  if (!is_valid_topic_name(out)) return decode_error::wildcard_in_topic_name;  // MQTT-3.3.2-2
  return decode_error::none;
}

decode_error read_topic_filter(reader& r, std::string& out) {
  if (auto e = read_utf8(r, out); e != decode_error::none) return e;
  if (out.empty()) return decode_error::empty_topic;  // MQTT-4.7.3-1
  if (!is_valid_topic_filter(out)) return decode_error::invalid_topic_filter;
  return decode_error::none;
}

decode_error read_packet_id(reader& r, std::uint16_t& out) {
  if (!r.u16(out)) return decode_error::truncated;
  if (out == 0) return decode_error::zero_packet_id;  // MQTT-2.3.1-1
  return decode_error::none;
}

decode_error finish(const reader& r) {
  return r.remaining() == 0 ? decode_error::none : decode_error::trailing_bytes;
}

decode_error decode_connect(reader& r, connect& c) {
  std::string_view name;
  if (!r.prefixed(name)) return decode_error::truncated;
  if (name != "MQTT") return decode_error::invalid_protocol_name;  // MQTT-3.1.2-1
  c.protocol_name.assign(name);
  std::uint8_t level = 0;
  if (!r.u8(level)) return decode_error::truncated;
  // Checked before the flags: an MQTT 5 CONNECT has a different layout after the keep-alive
  // and must still get CONNACK 1 rather than a malformed-packet close (MQTT-3.1.2-2).
  if (level != 4) return decode_error::unsupported_protocol_level;
  c.protocol_level = level;

  std::uint8_t flags = 0;
  if (!r.u8(flags)) return decode_error::truncated;
  if ((flags & 0x01) != 0) return decode_error::connect_reserved_flag_set;  // MQTT-3.1.2-3
  c.clean_session = (flags & 0x02) != 0;
  const bool will_flag = (flags & 0x04) != 0;
  const auto will_qos = static_cast<std::uint8_t>((flags >> 3) & 0x03);
  const bool will_retain = (flags & 0x20) != 0;
  const bool password_flag = (flags & 0x40) != 0;
  const bool username_flag = (flags & 0x80) != 0;
  if (!will_flag && (will_qos != 0 || will_retain)) {
    return decode_error::invalid_will_flags;  // MQTT-3.1.2-13, MQTT-3.1.2-15
  }
  if (will_qos == 3) return decode_error::invalid_qos;  // MQTT-3.1.2-14
  if (password_flag && !username_flag) {
    return decode_error::password_without_username;  // MQTT-3.1.2-22
  }
  if (!r.u16(c.keep_alive)) return decode_error::truncated;

  // Payload order is fixed: client id, will topic, will message, user name, password
  // (MQTT-3.1.3-1).
  if (auto e = read_utf8(r, c.client_id); e != decode_error::none) return e;
  if (will_flag) {
    will_message w;
    if (auto e = read_topic_name(r, w.topic); e != decode_error::none) return e;
    std::string_view payload;
    if (!r.prefixed(payload)) return decode_error::truncated;
    w.payload.assign(payload);
    w.qos = static_cast<qos_level>(will_qos);
    w.retain = will_retain;
    c.will = std::move(w);
  }
  if (username_flag) {
    std::string u;
    if (auto e = read_utf8(r, u); e != decode_error::none) return e;
    c.username = std::move(u);
  }
  if (password_flag) {
    std::string_view pw;
    if (!r.prefixed(pw)) return decode_error::truncated;
    c.password = std::string(pw);
  }
  if (auto e = finish(r); e != decode_error::none) return e;
  // Last, so that a server only answers CONNACK 2 to an otherwise well-formed CONNECT.
  if (c.client_id.empty() && !c.clean_session) {
    return decode_error::empty_client_id_persistent_session;  // MQTT-3.1.3-8
  }
  return decode_error::none;
}

decode_error decode_connack(reader& r, connack& c) {
  std::uint8_t ack_flags = 0;
  std::uint8_t rc = 0;
  if (!r.u8(ack_flags) || !r.u8(rc)) return decode_error::truncated;
  if ((ack_flags & 0xFE) != 0) return decode_error::invalid_connack;  // MQTT 3.2.2.1
  if (rc > 5) return decode_error::invalid_connack;                   // table 3.1: reserved
  c.session_present = (ack_flags & 0x01) != 0;
  if (c.session_present && rc != 0) return decode_error::invalid_connack;  // MQTT-3.2.2-4
  c.return_code = static_cast<connect_return_code>(rc);
  return finish(r);
}

decode_error decode_publish(reader& r, std::uint8_t flags, publish& p) {
  // Flags were validated with the fixed header (qos != 3, no DUP on QoS 0).
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<qos_level>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  if (auto e = read_topic_name(r, p.topic); e != decode_error::none) return e;
  if (p.qos != qos_level::at_most_once) {
    if (auto e = read_packet_id(r, p.packet_id); e != decode_error::none) return e;
  }
  p.payload.assign(r.rest());  // MQTT 3.3.3: the rest of the packet, may be empty
  return decode_error::none;
}

template <class Ack>
decode_error decode_ack(reader& r, Ack& a) {
  if (auto e = read_packet_id(r, a.packet_id); e != decode_error::none) return e;
  return finish(r);
}

decode_error decode_subscribe(reader& r, subscribe& s) {
  if (auto e = read_packet_id(r, s.packet_id); e != decode_error::none) return e;
  if (r.remaining() == 0) return decode_error::no_topic_filters;  // MQTT-3.8.3-3
  while (r.remaining() > 0) {
    subscription_request req;
    if (auto e = read_topic_filter(r, req.filter); e != decode_error::none) return e;
    std::uint8_t q = 0;
    if (!r.u8(q)) return decode_error::truncated;
    if (q > 2) return decode_error::invalid_requested_qos;  // MQTT-3-8.3-4
    req.qos = static_cast<qos_level>(q);
    s.subscriptions.push_back(std::move(req));
  }
  return decode_error::none;
}

decode_error decode_suback(reader& r, suback& s) {
  if (auto e = read_packet_id(r, s.packet_id); e != decode_error::none) return e;
  if (r.remaining() == 0) return decode_error::no_topic_filters;
  s.return_codes.reserve(r.remaining());
  while (r.remaining() > 0) {
    std::uint8_t rc = 0;
    r.u8(rc);
    if (rc > 2 && rc != 0x80) return decode_error::invalid_suback_return_code;  // MQTT-3.9.3-2
    s.return_codes.push_back(static_cast<suback_return_code>(rc));
  }
  return decode_error::none;
}

decode_error decode_unsubscribe(reader& r, unsubscribe& u) {
  if (auto e = read_packet_id(r, u.packet_id); e != decode_error::none) return e;
  if (r.remaining() == 0) return decode_error::no_topic_filters;  // MQTT-3.10.3-2
  while (r.remaining() > 0) {
    std::string filter;
    if (auto e = read_topic_filter(r, filter); e != decode_error::none) return e;
    u.filters.push_back(std::move(filter));
  }
  return decode_error::none;
}

/// Checks the first byte alone (MQTT 2.2.1, 2.2.2, table 2.2).
decode_error check_first_byte(std::uint8_t b) {
  const auto type = static_cast<std::uint8_t>(b >> 4);
  const auto flags = static_cast<std::uint8_t>(b & 0x0F);
  if (type == 0 || type == 15) return decode_error::reserved_packet_type;
  switch (static_cast<packet_type>(type)) {
    case packet_type::publish: {
      const auto q = (flags >> 1) & 0x03;
      if (q == 3) return decode_error::invalid_qos;                           // MQTT-3.3.1-4
      if (q == 0 && (flags & 0x08) != 0) return decode_error::dup_with_qos0;  // MQTT-3.3.1-2
      return decode_error::none;
    }
    case packet_type::pubrel:
    case packet_type::subscribe:
    case packet_type::unsubscribe:
      // MQTT-3.6.1-1, MQTT-3.8.1-1, MQTT-3.10.1-1
      return flags == 0x02 ? decode_error::none : decode_error::invalid_fixed_header_flags;
    default:
      return flags == 0 ? decode_error::none : decode_error::invalid_fixed_header_flags;
  }
}

/// The exact remaining length of the fixed-size packets, or -1 for variable ones.
int fixed_remaining_length(packet_type t) {
  switch (t) {
    case packet_type::connack:
    case packet_type::puback:
    case packet_type::pubrec:
    case packet_type::pubrel:
    case packet_type::pubcomp:
    case packet_type::unsuback:
      return 2;
    case packet_type::pingreq:
    case packet_type::pingresp:
    case packet_type::disconnect:
      return 0;
    default:
      return -1;
  }
}

decode_result fail(decode_error e) {
  decode_result r;
  r.status = decode_status::error;
  r.error = e;
  return r;
}

decode_result need(std::size_t n) {
  decode_result r;
  r.status = decode_status::need_more;
  r.needed = n;
  return r;
}

}  // namespace

decode_result decoder::decode(std::span<const std::uint8_t> bytes) const {
  if (bytes.empty()) return need(1);
  const std::uint8_t first = bytes[0];
  if (auto e = check_first_byte(first); e != decode_error::none) return fail(e);
  const auto type = static_cast<packet_type>(first >> 4);

  // Remaining length: 1..4 bytes, 7 bits each, least significant first (MQTT 2.2.3).
  std::size_t remaining_length = 0;
  std::size_t header_size = 1;
  for (std::size_t i = 0;; ++i) {
    if (i == 4) return fail(decode_error::malformed_remaining_length);
    if (1 + i >= bytes.size()) return need(2 + i);
    const std::uint8_t b = bytes[1 + i];
    remaining_length |= static_cast<std::size_t>(b & 0x7F) << (7 * i);
    if ((b & 0x80) == 0) {
      header_size = 2 + i;
      break;
    }
  }
  if (remaining_length > limits_.max_remaining_length) {
    return fail(decode_error::packet_too_large);
  }
  if (const int fixed = fixed_remaining_length(type); fixed >= 0) {
    if (remaining_length < static_cast<std::size_t>(fixed)) return fail(decode_error::truncated);
    if (remaining_length > static_cast<std::size_t>(fixed)) {
      return fail(decode_error::trailing_bytes);
    }
  }
  const std::size_t total = header_size + remaining_length;
  if (bytes.size() < total) return need(total);

  reader r(bytes.data() + header_size, remaining_length);
  const auto flags = static_cast<std::uint8_t>(first & 0x0F);
  decode_result result;
  decode_error e = decode_error::none;
  switch (type) {
    case packet_type::connect:
      e = decode_connect(r, result.value.emplace<connect>());
      break;
    case packet_type::connack:
      e = decode_connack(r, result.value.emplace<connack>());
      break;
    case packet_type::publish:
      e = decode_publish(r, flags, result.value.emplace<publish>());
      break;
    case packet_type::puback:
      e = decode_ack(r, result.value.emplace<puback>());
      break;
    case packet_type::pubrec:
      e = decode_ack(r, result.value.emplace<pubrec>());
      break;
    case packet_type::pubrel:
      e = decode_ack(r, result.value.emplace<pubrel>());
      break;
    case packet_type::pubcomp:
      e = decode_ack(r, result.value.emplace<pubcomp>());
      break;
    case packet_type::subscribe:
      e = decode_subscribe(r, result.value.emplace<subscribe>());
      break;
    case packet_type::suback:
      e = decode_suback(r, result.value.emplace<suback>());
      break;
    case packet_type::unsubscribe:
      e = decode_unsubscribe(r, result.value.emplace<unsubscribe>());
      break;
    case packet_type::unsuback:
      e = decode_ack(r, result.value.emplace<unsuback>());
      break;
    case packet_type::pingreq:
      result.value.emplace<pingreq>();
      break;
    case packet_type::pingresp:
      result.value.emplace<pingresp>();
      break;
    case packet_type::disconnect:
      result.value.emplace<disconnect>();
      break;
  }
  if (e != decode_error::none) return fail(e);
  result.status = decode_status::complete;
  result.consumed = total;
  return result;
}

}  // namespace emu::mqtt
