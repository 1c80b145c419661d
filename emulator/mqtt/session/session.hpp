#pragma once
/// The MQTT device session: IoT Hub's rules for one device connection as a pure state machine.
///
/// No sockets, no clock, no threads, no hub: every input takes `now` and returns the actions
/// the owner must carry out, in order (send a packet, ask the hub to open the device's
/// session, store the subscription or telemetry, settle a message, arm a timer, close …).
/// Results of hub work come back as further inputs (on_auth_result, on_delivery, …). This is
/// what lets the protocol rules be unit-tested as packets-in/actions-out and fuzzed
/// (tests/fuzz/mqtt_session_fuzz.cpp).
///
/// Delivery credit is the hub's (core/device_sessions.hpp): the hub pushes messages for the
/// session (on_delivery) while it has free slots of its in-flight window; the session only
/// maps PUBACKs back to the messages.
///
/// Rules (spec §3, sdk-wire §1; see each function):
///   - CONNECT first; ClientId = device id; user name `{host}/{deviceId}/?…` (spec §3.2);
///     password = SAS token checked by the hub; every refusal is CONNACK 5 (spec §3.3).
///   - keep-alive enforced at 1.5 x the client's value, capped at 1767 s (spec §3.3);
///   - the connection ends when the token's grant expires (spec §3.3);
///   - PUBLISH QoS 0/1 to `devices/{id}/messages/events/…` = telemetry, PUBACK after commit;
///     QoS 2, foreign or unsupported topics close the connection (spec §3.4);
///   - SUBSCRIBE `devices/{id}/messages/devicebound/#` (QoS 2 granted as 1), and the twin and
///     method filters the SDKs use (next-capabilities §2.1, §3.2); other `$iothub/…` filters
///     get 0x80; anything else closes;
///   - `$iothub/…` PUBLISHes never close the connection (issue 13: an SDK that resends its
///     unacknowledged PUBLISH after each reconnect turned a close into a storm): QoS 1 ones are
///     acknowledged, twin requests answered on `$iothub/twin/res/{status}/?$rid=` (400 with an
///     IoT Hub error body for a malformed one), unknown topics ignored;
///   - C2D: the hub delivers up to `inflight_window` messages at a time; a PUBACK completes
///     (spec §1.5); with a QoS 0 subscription the hub completes them as it sends them; when the
///     connection ends the hub gives the unacknowledged ones back to the queue.
///
/// Thread safety: none. One owner (the connection's strand) calls everything.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/c2d_message.hpp"
#include "emulator/core/device_twin.hpp"
#include "emulator/core/host_name.hpp"
#include "emulator/core/iothub_topic.hpp"
#include "emulator/core/limits.hpp"
#include "emulator/core/time.hpp"
#include "emulator/mqtt/codec/errors.hpp"
#include "emulator/mqtt/codec/packet.hpp"
#include "emulator/mqtt/session/iothub_topics.hpp"

namespace emu::mqtt {

/// Why a connection ends. Logged by the server; asserted by tests.
enum class close_reason : std::uint8_t {
  client_disconnect,       // DISCONNECT received (MQTT 3.14)
  connection_lost,         // the peer went away or an I/O error (reported by the server)
  protocol_error,          // a malformed packet, or a packet the client may not send
  connect_timeout,         // no CONNECT within the configured time (slowloris)
  not_connect_first,       // MQTT-3.1.0-1
  second_connect,          // MQTT-3.1.0-2
  unsupported_protocol,    // protocol level != 4: CONNACK 1 (MQTT-3.1.2-2)
  identifier_rejected,     // empty client id with clean session 0: CONNACK 2 (MQTT-3.1.3-8)
  not_authorized,          // CONNACK 5 (spec §3.3)
  server_unavailable,      // the hub could not commit the connect: CONNACK 3
  keep_alive_timeout,      // spec §3.3
  token_expired,           // the SAS grant's expiry passed (spec §3.3)
  qos2_publish,            // spec §3.4
  forbidden_topic,         // another device's topic, or a topic IoT Hub does not offer
  too_many_subscriptions,  // spec §3.4: five topics at a time
  message_too_large,       // D2C above 256 KB (spec §3.1)
  store_failed,            // the hub could not commit telemetry or a subscription
  too_many_pending,        // packets pipelined behind CONNECT beyond the session's buffer
  taken_over,              // a new connection with the same client id (spec §3.3)
  device_changed,          // the device was disabled, deleted or had its keys changed
  hub_reset,               // test control reset the hub
  fault_injection,         // a KillTcp / ShutDownMqtt fault (issue 17)
  operation_refused,       // the hub refused telemetry (throttled, quota, unauthorized)
  server_shutdown,
};

std::string_view to_string(close_reason r);

struct session_settings {
  /// The HostNames devices may put in the user name (and the SAS `sr`). Matched
  /// case-insensitively, with or without a `:port` suffix (sdk-wire §8 "Host with a port"). Not
  /// a setting of its own: the gateway takes it from the hub's settings.
  core::host_names hosts;
  /// C2D messages locked and sent but not yet PUBACKed (spec §3.5: UNCONFIRMED on Azure;
  /// default 1, which keeps C#'s in-order PUBACK requirement trivially true). The hub holds
  /// this credit; the session passes it on when it opens the device's session.
  std::size_t inflight_window = 1;
  /// A connection that has not sent CONNECT this long after the transport is up is closed.
  core::duration connect_timeout = std::chrono::seconds{10};
  double keep_alive_factor = core::limits::mqtt_keep_alive_factor;
  std::chrono::seconds keep_alive_cap = core::limits::mqtt_keep_alive_cap;
  /// Largest telemetry payload accepted (spec §3.1); larger closes the connection.
  std::size_t max_d2c_message_size = core::limits::d2c_max_message_size;
  /// Most topic filters one SUBSCRIBE may name (spec §3.4).
  std::size_t max_subscriptions = static_cast<std::size_t>(core::limits::mqtt_max_subscriptions);
  /// Packets that may arrive behind CONNECT before its CONNACK (MQTT lets clients pipeline);
  /// more closes the connection. The server also stops reading while authenticating.
  std::size_t max_pending_packets = 32;
};

/// The hub's answer to an `authenticate` action (core::hub::connect_device).
struct auth_result {
  enum class outcome : std::uint8_t {
    accepted,
    refused,       // bad token, unknown/disabled device, …: CONNACK 5
    store_failed,  // the hub could not commit: CONNACK 3
  };
  outcome result = outcome::refused;
  /// Why it was refused, for the log (never contains the token).
  std::string reason;
  /// The hub's session epoch: every later hub call of this connection names it.
  std::uint64_t epoch = 0;
  /// When the connection must be closed (the grant's `se` plus the hub's clock skew).
  core::time_point expiry{};
  /// The device's generation id, stamped on telemetry (spec §3.6).
  std::string generation_id;
  /// True when authenticated by a hub policy with DeviceConnect rather than the device key.
  bool hub_scope = false;
  /// The durable session's C2D subscription QoS (clean session 0 only): delivery resumes
  /// right after CONNACK without a new SUBSCRIBE (spec §1.6, sdk-wire §1.3).
  std::optional<int> stored_subscription;
  /// The durable session's `$iothub/…` filters (core::iothub_topic bits, clean session 0).
  std::uint8_t stored_iothub_topics = 0;
};

namespace action {
/// Encode and write this packet.
struct send {
  packet value;
};
/// Close the network connection after writing what was queued before (MQTT 3.1.1 has no
/// server DISCONNECT). `detail` is for the log.
struct close {
  close_reason reason;
  std::string detail;
};
/// Open the device's session on the hub (core::hub::connect_device): verify `password` (device
/// scope or a hub policy with DeviceConnect), apply clean session, end an older connection of
/// the device (spec §3.3) and give back what it held; answer with on_auth_result().
struct authenticate {
  std::string device_id;
  /// The SAS token; empty: the connection's TLS client certificate authenticates (X.509).
  std::string password;
  bool clean_session = false;
  std::size_t inflight_window = 1;
};
/// Set the session's C2D subscription to `qos` (nullopt: none) on the hub, durably unless the
/// session is clean; answer with on_subscription_stored().
struct store_subscription {
  std::optional<int> qos;
};
/// Complete a delivered message (its PUBACK): → Completed (spec §1.5). A lost lock (it timed
/// out and the message went out again) is ignored by the hub.
struct settle {
  std::uint64_t seq = 0;
  std::uint64_t lock_id = 0;
};
/// Store device-to-cloud telemetry; answer with on_telemetry_stored(). packet_id 0 = QoS 0.
struct store_telemetry {
  std::uint16_t packet_id = 0;
  std::vector<core::property> properties;
  std::string body;
};
/// Call on_timer() at `at` (replaces any earlier request).
struct set_timer {
  core::time_point at;
};
/// A twin request of the device (next-capabilities §2.1); answer with on_twin_response().
struct twin_request {
  enum class kind : std::uint8_t { get, patch_reported };
  kind what = kind::get;
  std::string rid;
  nlohmann::json patch;  // patch_reported: the parsed body
  /// patch_reported at QoS 1: its PUBACK follows the commit (on_twin_response); 0 otherwise.
  std::uint16_t packet_id = 0;
};
/// The session's `$iothub/…` filters changed (core::iothub_topic bits): the hub keeps them
/// for the next connection (clean session 0) and sends method calls only to sessions that
/// subscribed to them (next-capabilities §3.2). Comes before the SUBACK/UNSUBACK.
struct store_iothub_topics {
  std::uint8_t topics = 0;
};
/// The device answered a direct method call (`$iothub/methods/res/{status}/?$rid={rid}`).
struct method_response {
  std::string rid;
  int status = 0;
  std::string payload;
};
}  // namespace action

using session_action =
    std::variant<action::send, action::close, action::authenticate, action::store_subscription,
                 action::settle, action::store_telemetry, action::set_timer, action::twin_request,
                 action::store_iothub_topics, action::method_response>;
using actions = std::vector<session_action>;

/// The hub's answer to a twin request: `$iothub/twin/res/{status}/?$rid={rid}[&$version=N]`.
struct twin_answer {
  std::string rid;
  int status = 200;
  std::string body;                     // JSON text, or empty (204)
  std::optional<std::int64_t> version;  // reported `$version` after a PATCH
  std::uint16_t packet_id = 0;          // the request's QoS 1 packet id, acknowledged now
};

using core::twin_error_body;

class session {
 public:
  enum class phase : std::uint8_t { awaiting_connect, authenticating, connected, closed };

  explicit session(session_settings settings);

  /// The connection presented a TLS client certificate: a CONNECT without a password is an
  /// X.509 device's (spec §3.2). Call before on_open().
  void client_certificate_presented() { client_certificate_ = true; }
  /// The transport is up (TLS handshake done): starts the CONNECT timeout.
  actions on_open(core::time_point now);
  /// A decoded packet from the device.
  actions on_packet(packet p, core::time_point now);
  /// The decoder refused the input: CONNACK 1 for a bad protocol level, CONNACK 2 for an
  /// empty client id with a persistent session, otherwise just close.
  actions on_decode_error(decode_error e, core::time_point now);
  actions on_auth_result(auth_result r, core::time_point now);
  actions on_subscription_stored(bool committed, core::time_point now);
  /// A message the hub delivered to this session (core event c2d_delivery): PUBLISH it with
  /// `qos` (0: the hub has completed it already).
  actions on_delivery(core::c2d_delivery d, int qos, core::time_point now);
  actions on_telemetry_stored(std::uint16_t packet_id, bool committed, core::time_point now);
  /// The hub answered a twin_request (after its commit).
  actions on_twin_response(twin_answer a, core::time_point now);
  /// The service changed desired properties (core event desired_patch): pushed as
  /// `$iothub/twin/PATCH/properties/desired/?$version=N` if the device subscribed to them.
  actions on_desired_patch(std::int64_t version, std::string body, core::time_point now);
  /// A direct method call for the device: `$iothub/methods/POST/{name}/?$rid={rid}` if the
  /// device subscribed to methods.
  actions on_method_request(std::string_view name, std::string_view rid, std::string payload,
                            core::time_point now);
  actions on_timer(core::time_point now);
  /// The owner closes the connection (peer gone, takeover, shutdown, …). Returns what must
  /// still be done: publish the Will (MQTT-3.1.2-8). The owner tells the hub the session is
  /// over (which gives its unacknowledged messages back).
  actions close(close_reason why, core::time_point now);

  phase current_phase() const { return phase_; }
  /// True while packets can be handled at once (not waiting for the hub's authentication);
  /// the server stops reading while false.
  bool accepting_packets() const { return phase_ != phase::authenticating; }
  const std::string& device_id() const { return device_id_; }
  std::optional<int> subscription_qos() const { return subscription_; }
  bool twin_responses_subscribed() const { return has_topic(core::iothub_topic::twin_responses); }
  bool desired_subscribed() const { return has_topic(core::iothub_topic::twin_desired); }
  bool methods_subscribed() const { return has_topic(core::iothub_topic::methods); }
  std::size_t inflight_count() const { return inflight_.size(); }
  /// The hub's epoch of this connection's session (0 before it is accepted).
  std::uint64_t epoch() const { return epoch_; }
  /// When the session next needs on_timer() (hub time), if ever.
  std::optional<core::time_point> timer() const { return timer_at_; }
  bool clean_session() const { return clean_session_; }
  /// The keep-alive enforcement interval (after CONNECT).
  core::duration keep_alive_timeout() const { return keep_alive_timeout_; }

 private:
  struct inflight_entry {
    std::uint64_t seq = 0;
    std::uint64_t lock_id = 0;
  };
  struct pending_ack {
    packet reply;
    bool ready = false;  // false: waits for a store_subscription to commit
  };

  void handle(packet& p, core::time_point now, actions& out);
  void on_connect(connect& c, core::time_point now, actions& out);
  void on_publish(publish& p, core::time_point now, actions& out);
  void on_iothub_publish(publish& p, core::time_point now, actions& out);
  void twin_error(std::string_view rid, int error_number, std::string_view message,
                  core::time_point now, actions& out);
  void on_puback(const puback& p, core::time_point now, actions& out);
  void on_subscribe(const subscribe& s, core::time_point now, actions& out);
  void on_unsubscribe(const unsubscribe& u, core::time_point now, actions& out);
  static std::uint8_t topic_bit(subscription_kind k);
  /// Records the session's new `$iothub/…` filters and tells the hub when they changed.
  void store_topics(std::uint8_t topics, actions& out);
  void stamp(std::vector<core::property>& properties, bool retain) const;
  void refuse(connect_return_code code, close_reason why, std::string detail, actions& out);
  void fail(close_reason why, std::string detail, core::time_point now, actions& out);
  void queue_ack(packet reply, bool needs_store, actions& out);
  void flush_acks(actions& out);
  std::uint16_t next_packet_id();
  void arm_timer(core::time_point now, actions& out);

  session_settings settings_;
  phase phase_ = phase::awaiting_connect;
  core::time_point connect_deadline_{};
  std::optional<core::time_point> timer_at_;

  // CONNECT
  std::string device_id_;
  bool clean_session_ = true;
  bool client_certificate_ = false;
  std::optional<will_message> will_;
  core::duration keep_alive_timeout_{};
  core::time_point last_received_{};
  core::time_point token_expiry_{};
  std::string generation_id_;
  bool hub_scope_ = false;
  std::uint64_t epoch_ = 0;
  // Vectors, not deques: an empty std::deque allocates (≈600 bytes in libstdc++), and every
  // idle device's session holds these empty (issue 19: memory per device).
  std::vector<packet> deferred_;  // received while authenticating

  // subscriptions
  std::optional<int> subscription_;  // granted QoS of the C2D subscription
  std::vector<pending_ack> acks_;
  // $iothub subscriptions (core::iothub_topic bits): kept by the hub across connections of a
  // clean-session-0 session, like the C2D subscription
  std::uint8_t iothub_topics_ = 0;
  bool has_topic(std::uint8_t t) const { return (iothub_topics_ & t) != 0; }
  std::size_t stores_pending_ = 0;

  // C2D delivery: PUBLISHes sent at QoS 1 and not yet PUBACKed, by packet id
  std::map<std::uint16_t, inflight_entry> inflight_;
  std::vector<std::uint16_t> sent_order_;  // the same packet ids, oldest first
  std::uint16_t last_packet_id_ = 0;
};

}  // namespace emu::mqtt
