#pragma once
/// MQTT 3.1.1 control packets as plain values (OASIS MQTT 3.1.1, chapter 3).
///
/// Every packet type is its own aggregate; `packet` is the variant of all of them. The structs
/// hold only what the wire carries (no framing details such as remaining length), so two
/// packets compare equal exactly when they encode to the same semantic content. Strings are
/// owned copies: a decoded packet never points into the receive buffer, which a server is free
/// to compact or reuse as soon as the decoder returns.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace emu::mqtt {

/// Control packet type, the high nibble of the fixed header's first byte (MQTT 2.2.1).
/// 0 and 15 are reserved.
enum class packet_type : std::uint8_t {
  connect = 1,
  connack = 2,
  publish = 3,
  puback = 4,
  pubrec = 5,
  pubrel = 6,
  pubcomp = 7,
  subscribe = 8,
  suback = 9,
  unsubscribe = 10,
  unsuback = 11,
  pingreq = 12,
  pingresp = 13,
  disconnect = 14,
};

/// Quality of service (MQTT 4.3). The value 3 is not representable on purpose: the decoder
/// rejects it (MQTT-3.3.1-4).
enum class qos_level : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

/// CONNACK return codes (MQTT 3.2.2.3, table 3.1). IoT Hub itself only ever answers 0 or 5
/// (spec §3.3); 1 and 2 are what MQTT-3.1.2-2 and MQTT-3.1.3-8 require for a bad protocol
/// level or an empty client id with a persistent session.
enum class connect_return_code : std::uint8_t {
  accepted = 0,
  unacceptable_protocol_version = 1,
  identifier_rejected = 2,
  server_unavailable = 3,
  bad_username_or_password = 4,
  not_authorized = 5,
};

/// SUBACK return codes (MQTT 3.9.3): the granted QoS, or 0x80 for a refused filter.
enum class suback_return_code : std::uint8_t {
  granted_qos0 = 0x00,
  granted_qos1 = 0x01,
  granted_qos2 = 0x02,
  failure = 0x80,
};

/// The Will of a CONNECT (MQTT 3.1.2.5-3.1.2.7, 3.1.3.2-3.1.3.3).
struct will_message {
  std::string topic;
  std::string payload;  // binary
  qos_level qos = qos_level::at_most_once;
  bool retain = false;
  friend bool operator==(const will_message&, const will_message&) = default;
};

/// CONNECT (MQTT 3.1). A decoded CONNECT always has protocol_name "MQTT" and level 4; the
/// fields are settable so tests can encode other values.
struct connect {
  std::string protocol_name = "MQTT";
  std::uint8_t protocol_level = 4;
  bool clean_session = true;
  std::uint16_t keep_alive = 0;  // seconds; 0 disables keep-alive (MQTT 3.1.2.10)
  std::string client_id;
  std::optional<will_message> will;
  std::optional<std::string> username;  // UTF-8
  std::optional<std::string> password;  // binary (MQTT 3.1.3.5)
  friend bool operator==(const connect&, const connect&) = default;
};

/// CONNACK (MQTT 3.2).
struct connack {
  bool session_present = false;
  connect_return_code return_code = connect_return_code::accepted;
  friend bool operator==(const connack&, const connack&) = default;
};

/// PUBLISH (MQTT 3.3). `packet_id` is 0 (and not on the wire) for QoS 0.
struct publish {
  bool dup = false;
  qos_level qos = qos_level::at_most_once;
  bool retain = false;
  std::string topic;
  std::uint16_t packet_id = 0;
  std::string payload;  // binary; one copy out of the receive buffer
  friend bool operator==(const publish&, const publish&) = default;
};

/// PUBACK (MQTT 3.4): QoS 1 acknowledgement.
struct puback {
  std::uint16_t packet_id = 0;
  friend bool operator==(const puback&, const puback&) = default;
};
/// PUBREC (MQTT 3.5): QoS 2, step 1.
struct pubrec {
  std::uint16_t packet_id = 0;
  friend bool operator==(const pubrec&, const pubrec&) = default;
};
/// PUBREL (MQTT 3.6): QoS 2, step 2. Fixed-header flags 0b0010 (MQTT-3.6.1-1).
struct pubrel {
  std::uint16_t packet_id = 0;
  friend bool operator==(const pubrel&, const pubrel&) = default;
};
/// PUBCOMP (MQTT 3.7): QoS 2, step 3.
struct pubcomp {
  std::uint16_t packet_id = 0;
  friend bool operator==(const pubcomp&, const pubcomp&) = default;
};

/// One topic filter of a SUBSCRIBE with its requested QoS (MQTT 3.8.3).
struct subscription_request {
  std::string filter;
  qos_level qos = qos_level::at_most_once;
  friend bool operator==(const subscription_request&, const subscription_request&) = default;
};

/// SUBSCRIBE (MQTT 3.8): at least one filter (MQTT-3.8.3-3).
struct subscribe {
  std::uint16_t packet_id = 0;
  std::vector<subscription_request> subscriptions;
  friend bool operator==(const subscribe&, const subscribe&) = default;
};

/// SUBACK (MQTT 3.9): one return code per filter, in the SUBSCRIBE's order (MQTT-3.9.3-1).
struct suback {
  std::uint16_t packet_id = 0;
  std::vector<suback_return_code> return_codes;
  friend bool operator==(const suback&, const suback&) = default;
};

/// UNSUBSCRIBE (MQTT 3.10): at least one filter (MQTT-3.10.3-2).
struct unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;
  friend bool operator==(const unsubscribe&, const unsubscribe&) = default;
};

/// UNSUBACK (MQTT 3.11).
struct unsuback {
  std::uint16_t packet_id = 0;
  friend bool operator==(const unsuback&, const unsuback&) = default;
};

/// PINGREQ (MQTT 3.12).
struct pingreq {
  friend bool operator==(const pingreq&, const pingreq&) = default;
};
/// PINGRESP (MQTT 3.13).
struct pingresp {
  friend bool operator==(const pingresp&, const pingresp&) = default;
};
/// DISCONNECT (MQTT 3.14): client to server only in 3.1.1.
struct disconnect {
  friend bool operator==(const disconnect&, const disconnect&) = default;
};

/// Any control packet. The alternatives are in packet-type order, so
/// `index() + 1 == static_cast<int>(type_of(p))`.
using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe,
                            suback, unsubscribe, unsuback, pingreq, pingresp, disconnect>;

/// The wire type of a packet value.
inline packet_type type_of(const packet& p) {
  return static_cast<packet_type>(p.index() + 1);
}

}  // namespace emu::mqtt
