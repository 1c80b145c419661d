#include "emulator/mqtt/session/session.hpp"

#include "emulator/core/host_name.hpp"

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <utility>

#include "emulator/core/identity_key.hpp"
#include "emulator/core/telemetry_stamps.hpp"
#include "emulator/mqtt/session/iothub_topics.hpp"

namespace emu::mqtt {

std::string_view to_string(close_reason r) {
  switch (r) {
    case close_reason::client_disconnect:
      return "client_disconnect";
    case close_reason::connection_lost:
      return "connection_lost";
    case close_reason::protocol_error:
      return "protocol_error";
    case close_reason::connect_timeout:
      return "connect_timeout";
    case close_reason::not_connect_first:
      return "not_connect_first";
    case close_reason::second_connect:
      return "second_connect";
    case close_reason::unsupported_protocol:
      return "unsupported_protocol";
    case close_reason::identifier_rejected:
      return "identifier_rejected";
    case close_reason::not_authorized:
      return "not_authorized";
    case close_reason::server_unavailable:
      return "server_unavailable";
    case close_reason::keep_alive_timeout:
      return "keep_alive_timeout";
    case close_reason::token_expired:
      return "token_expired";
    case close_reason::qos2_publish:
      return "qos2_publish";
    case close_reason::forbidden_topic:
      return "forbidden_topic";
    case close_reason::too_many_subscriptions:
      return "too_many_subscriptions";
    case close_reason::message_too_large:
      return "message_too_large";
    case close_reason::store_failed:
      return "store_failed";
    case close_reason::too_many_pending:
      return "too_many_pending";
    case close_reason::taken_over:
      return "taken_over";
    case close_reason::fault_injection:
      return "fault_injection";
    case close_reason::operation_refused:
      return "operation_refused";
    case close_reason::device_changed:
      return "device_changed";
    case close_reason::hub_reset:
      return "hub_reset";
    case close_reason::server_shutdown:
      return "server_shutdown";
  }
  return "unknown";
}

session::session(session_settings settings) : settings_(std::move(settings)) {
  // Packet ids are 16-bit (MQTT 2.3.1): keep the window far below the id space.
  settings_.inflight_window = std::clamp<std::size_t>(settings_.inflight_window, 1, 1000);
  if (settings_.max_subscriptions == 0) settings_.max_subscriptions = 1;
}

// ---- inputs -------------------------------------------------------------------------------

actions session::on_open(core::time_point now) {
  actions out;
  if (phase_ != phase::awaiting_connect) return out;
  connect_deadline_ = now + settings_.connect_timeout;
  arm_timer(now, out);
  return out;
}

actions session::on_packet(packet p, core::time_point now) {
  actions out;
  switch (phase_) {
    case phase::closed:
      break;
    case phase::authenticating:
      // MQTT 3.1.4: a client may send further packets right after CONNECT, before CONNACK.
      // They are handled in order once the hub has answered.
      if (deferred_.size() >= settings_.max_pending_packets) {
        fail(close_reason::too_many_pending, "too many packets before CONNACK", now, out);
        break;
      }
      deferred_.push_back(std::move(p));
      break;
    case phase::awaiting_connect:
      if (auto* c = std::get_if<connect>(&p)) {
        on_connect(*c, now, out);
      } else {
        fail(close_reason::not_connect_first, "the first packet must be CONNECT (MQTT-3.1.0-1)",
             now, out);
      }
      break;
    case phase::connected:
      last_received_ = now;  // any packet resets the keep-alive (spec §3.3)
      handle(p, now, out);
      break;
  }
  return out;
}

actions session::on_decode_error(decode_error e, core::time_point now) {
  actions out;
  if (phase_ == phase::closed) return out;
  if (phase_ == phase::awaiting_connect && e == decode_error::unsupported_protocol_level) {
    refuse(connect_return_code::unacceptable_protocol_version, close_reason::unsupported_protocol,
           "protocol level is not 4 (MQTT 3.1.1 only, MQTT-3.1.2-2)", out);
  } else if (phase_ == phase::awaiting_connect &&
             e == decode_error::empty_client_id_persistent_session) {
    refuse(connect_return_code::identifier_rejected, close_reason::identifier_rejected,
           "empty client id with clean session 0 (MQTT-3.1.3-8)", out);
  } else {
    fail(close_reason::protocol_error, std::string(to_string(e)), now, out);
  }
  return out;
}

actions session::on_auth_result(auth_result r, core::time_point now) {
  actions out;
  if (phase_ != phase::authenticating) return out;
  switch (r.result) {
    case auth_result::outcome::refused:
      // Spec §3.3: IoT Hub answers every CONNECT failure with 5 (Not Authorized).
      refuse(connect_return_code::not_authorized, close_reason::not_authorized, std::move(r.reason),
             out);
      return out;
    case auth_result::outcome::store_failed:
      refuse(connect_return_code::server_unavailable, close_reason::server_unavailable,
             std::move(r.reason), out);
      return out;
    case auth_result::outcome::accepted:
      break;
  }
  phase_ = phase::connected;
  epoch_ = r.epoch;
  token_expiry_ = r.expiry;
  generation_id_ = std::move(r.generation_id);
  hub_scope_ = r.hub_scope;
  last_received_ = now;
  // Spec §1.6, MQTT-3.2.2-2: a persistent session resumes its subscription; CONNACK says so.
  // A clean session starts without one (the hub cleared the stored one). sdk-wire §1.3: the
  // SDKs reconnect on token renewal without subscribing again, so the hub delivers queued
  // messages right after this CONNACK (spec §1.6 DOCS-31378).
  subscription_ = clean_session_ ? std::nullopt : r.stored_subscription;
  iothub_topics_ = clean_session_ ? 0 : r.stored_iothub_topics;
  const bool session_present = subscription_.has_value() || iothub_topics_ != 0;
  out.push_back(action::send{connack{session_present, connect_return_code::accepted}});
  arm_timer(now, out);
  auto deferred = std::exchange(deferred_, {});
  for (std::size_t i = 0; i < deferred.size() && phase_ == phase::connected; ++i)
    handle(deferred[i], now, out);
  return out;
}

actions session::on_subscription_stored(bool committed, core::time_point now) {
  actions out;
  if (stores_pending_ > 0) --stores_pending_;
  if (phase_ != phase::connected) return out;
  if (!committed) {
    fail(close_reason::store_failed, "the subscription could not be stored", now, out);
    return out;
  }
  for (auto& a : acks_) {
    if (!a.ready) {
      a.ready = true;
      break;
    }
  }
  flush_acks(out);
  return out;
}

actions session::on_delivery(core::c2d_delivery d, int qos, core::time_point now) {
  (void)now;
  actions out;
  // Closed meanwhile: the owner's disconnect gives the message back to the queue (spec §1.6).
  if (phase_ != phase::connected) return out;
  publish p;
  // Spec §3.5: delivery QoS = min(subscription QoS, 1); QoS 2 subscriptions were granted 1.
  p.qos = qos == 0 ? qos_level::at_most_once : qos_level::at_least_once;
  p.topic = c2d_topic(d.message);
  p.payload = std::move(d.message.content.body);
  if (p.qos == qos_level::at_least_once) {
    p.packet_id = next_packet_id();
    inflight_[p.packet_id] = inflight_entry{d.message.seq, d.lock_id};
    sent_order_.push_back(p.packet_id);
    // The hub keeps at most `inflight_window` of these locked; older entries whose lock timed
    // out stay so that a late PUBACK is recognised, but not forever.
    while (sent_order_.size() > settings_.inflight_window + 64) {
      inflight_.erase(sent_order_.front());
      sent_order_.erase(sent_order_.begin());
    }
  }
  out.push_back(action::send{std::move(p)});
  return out;
}

actions session::on_telemetry_stored(std::uint16_t packet_id, bool committed,
                                     core::time_point now) {
  actions out;
  if (phase_ != phase::connected) return out;
  if (!committed) {
    fail(close_reason::store_failed, "telemetry could not be stored", now, out);
    return out;
  }
  // ARCHITECTURE: the PUBACK goes out only after the telemetry is committed.
  if (packet_id != 0) out.push_back(action::send{puback{packet_id}});
  return out;
}

actions session::on_timer(core::time_point now) {
  actions out;
  timer_at_.reset();
  switch (phase_) {
    case phase::awaiting_connect:
      if (now >= connect_deadline_) {
        fail(close_reason::connect_timeout, "no CONNECT in time", now, out);
        return out;
      }
      break;
    case phase::connected:
      if (now >= token_expiry_) {
        // Spec §3.3: the hub severs the connection when the SAS token expires.
        fail(close_reason::token_expired, "the SAS token or client certificate expired", now, out);
        return out;
      }
      if (now >= last_received_ + keep_alive_timeout_) {
        fail(close_reason::keep_alive_timeout, "nothing received within 1.5 x keep-alive", now,
             out);
        return out;
      }
      break;
    case phase::authenticating:
    case phase::closed:
      break;
  }
  arm_timer(now, out);
  return out;
}

actions session::close(close_reason why, core::time_point now) {
  (void)now;
  actions out;
  if (phase_ == phase::closed) return out;
  // MQTT-3.1.2-8: the Will is published when the connection ends without DISCONNECT; spec
  // §3.2: IoT Hub forwards it as telemetry with iothub-MessageType=Will. Not when the device
  // itself is gone (deleted, reset) or the emulator is stopping.
  const bool publish_will = phase_ == phase::connected && will_ &&
                            why != close_reason::client_disconnect &&
                            why != close_reason::device_changed && why != close_reason::hub_reset &&
                            why != close_reason::server_shutdown;
  if (publish_will) {
    auto props = parse_telemetry_topic(will_->topic, device_id_);
    if (props) {
      auto properties = std::move(*props);
      properties.push_back({"iothub-MessageType", "Will"});
      stamp(properties, will_->retain);
      out.push_back(action::store_telemetry{0, std::move(properties), std::move(will_->payload)});
    }
  }
  will_.reset();
  phase_ = phase::closed;
  timer_at_.reset();
  deferred_.clear();
  acks_.clear();
  return out;
}

// ---- packets ------------------------------------------------------------------------------

void session::handle(packet& p, core::time_point now, actions& out) {
  switch (type_of(p)) {
    case packet_type::connect:
      fail(close_reason::second_connect, "a second CONNECT (MQTT-3.1.0-2)", now, out);
      return;
    case packet_type::publish:
      on_publish(std::get<publish>(p), now, out);
      return;
    case packet_type::puback:
      on_puback(std::get<puback>(p), now, out);
      return;
    case packet_type::subscribe:
      on_subscribe(std::get<subscribe>(p), now, out);
      return;
    case packet_type::unsubscribe:
      on_unsubscribe(std::get<unsubscribe>(p), now, out);
      return;
    case packet_type::pingreq:
      out.push_back(action::send{pingresp{}});
      return;
    case packet_type::disconnect: {
      // MQTT-3.14.4-3: a DISCONNECT discards the Will.
      will_.reset();
      out.push_back(action::close{close_reason::client_disconnect, {}});
      auto rest = close(close_reason::client_disconnect, now);
      out.insert(out.end(), std::make_move_iterator(rest.begin()),
                 std::make_move_iterator(rest.end()));
      return;
    }
    case packet_type::connack:
    case packet_type::pubrec:
    case packet_type::pubrel:
    case packet_type::pubcomp:
    case packet_type::suback:
    case packet_type::unsuback:
    case packet_type::pingresp:
      // Server-to-client packets, or QoS 2 steps of flows this server never starts.
      fail(close_reason::protocol_error,
           "unexpected packet type " + std::to_string(static_cast<int>(type_of(p))), now, out);
      return;
  }
}

void session::on_connect(connect& c, core::time_point now, actions& out) {
  (void)now;
  device_id_ = c.client_id;
  clean_session_ = c.clean_session;
  // Spec §3.3: 1.5 x the client's keep-alive, capped at 1767 s; 0 (no keep-alive) gets the cap
  // (UNCONFIRMED on Azure).
  const core::duration cap = settings_.keep_alive_cap;
  if (c.keep_alive == 0) {
    keep_alive_timeout_ = cap;
  } else {
    const auto scaled = core::duration{static_cast<core::duration::rep>(
        static_cast<double>(c.keep_alive) * settings_.keep_alive_factor * 1000.0)};
    keep_alive_timeout_ = std::min(scaled, cap);
  }

  const auto no = [&](std::string why) {
    refuse(connect_return_code::not_authorized, close_reason::not_authorized, std::move(why), out);
  };
  if (c.client_id.empty()) return no("empty client id");
  // Spec §3.2: modules connect as `{deviceId}/{moduleId}` (issue 16): that client id is the
  // module's identity key (core/identity_key.hpp).
  if (std::count(c.client_id.begin(), c.client_id.end(), '/') > 1 || c.client_id.front() == '/' ||
      c.client_id.back() == '/')
    return no("malformed client id (expected {deviceId} or {deviceId}/{moduleId})");
  if (!c.username) return no("no user name (expected {host}/{deviceId}/?api-version=...)");
  const auto user = parse_username(*c.username);
  if (!user) return no("malformed user name: " + std::string(to_string(user.error())));
  // Spec §3.2: host and ids are compared verbatim (never percent-decoded).
  if (!settings_.hosts.names(user->host))
    return no("user name host '" + user->host + "' is not " + settings_.hosts.primary);
  const std::string user_identity = user->module_id.empty()
                                        ? user->device_id
                                        : core::module_key(user->device_id, user->module_id);
  if (user_identity != c.client_id) return no("user name device/module id differs from client id");
  // Spec §3.2: an X.509 device sends no password; its TLS client certificate is checked by
  // the hub (core::authenticate_device_certificate).
  if ((!c.password || c.password->empty()) && !client_certificate_)
    return no(
        "no password and no client certificate (a SAS token or an X.509 certificate is "
        "required)");
  if (c.will) {
    // Spec §3.2: the Will must be a telemetry message of this device.
    if (classify_publish_topic(c.will->topic, c.client_id) != publish_kind::telemetry ||
        !parse_telemetry_topic(c.will->topic, c.client_id))
      return no("the Will topic is not this device's telemetry topic");
    if (c.will->payload.size() > settings_.max_d2c_message_size)
      return no("the Will message is larger than the D2C limit");
    will_ = std::move(c.will);
  }
  phase_ = phase::authenticating;
  timer_at_.reset();  // the CONNECT deadline no longer applies; the hub answers
  out.push_back(action::authenticate{device_id_, c.password.value_or(std::string()), clean_session_,
                                     settings_.inflight_window});
}

void session::on_publish(publish& p, core::time_point now, actions& out) {
  if (p.qos == qos_level::exactly_once) {
    // Spec §3.4: IoT Hub closes the network connection on a QoS 2 PUBLISH.
    fail(close_reason::qos2_publish, "QoS 2 is not supported", now, out);
    return;
  }
  switch (classify_publish_topic(p.topic, device_id_)) {
    case publish_kind::telemetry:
      break;
    case publish_kind::other_device:
      fail(close_reason::forbidden_topic, "publish to another device's topic", now, out);
      return;
    case publish_kind::iothub_feature:
      on_iothub_publish(p, now, out);
      return;
    case publish_kind::unsupported:
      fail(close_reason::forbidden_topic, "publish to an unsupported topic", now, out);
      return;
  }
  auto bag = parse_telemetry_topic(p.topic, device_id_);
  if (!bag) {
    fail(close_reason::protocol_error,
         "bad telemetry topic: " + std::string(to_string(bag.error())), now, out);
    return;
  }
  if (p.payload.size() > settings_.max_d2c_message_size) {
    // Spec §3.1: 256 KB is the D2C maximum.
    fail(close_reason::message_too_large,
         "telemetry of " + std::to_string(p.payload.size()) + " bytes", now, out);
    return;
  }
  auto properties = std::move(*bag);
  stamp(properties, p.retain);
  const std::uint16_t id = p.qos == qos_level::at_least_once ? p.packet_id : 0;
  out.push_back(action::store_telemetry{id, std::move(properties), std::move(p.payload)});
}

void session::on_iothub_publish(publish& p, core::time_point now, actions& out) {
  // Issue 13: never a disconnect here. An SDK resends an unacknowledged PUBLISH (DUP=1) right
  // after it reconnects, so closing turned one request into a reconnect storm.
  const auto request = parse_iothub_publish(p.topic);
  const bool ack_after_commit = request.operation == iothub_operation::twin_patch_reported &&
                                request.rid && p.qos == qos_level::at_least_once;
  if (p.qos == qos_level::at_least_once && !ack_after_commit)
    out.push_back(action::send{puback{p.packet_id}});
  switch (request.operation) {
    case iothub_operation::twin_get:
      if (!request.rid) {
        twin_error("", 400004, "The request has no $rid.", now, out);
        return;
      }
      out.push_back(action::twin_request{action::twin_request::kind::get, *request.rid, {}, 0});
      return;
    case iothub_operation::twin_patch_reported: {
      if (!request.rid) {
        twin_error("", 400004, "The request has no $rid.", now, out);
        return;
      }
      auto patch = nlohmann::json::parse(p.payload, nullptr, /*allow_exceptions=*/false);
      if (patch.is_discarded() || !patch.is_object()) {
        if (ack_after_commit) out.push_back(action::send{puback{p.packet_id}});
        // The text IoT Hub sends (azure-iot-sdk-node#590).
        twin_error(*request.rid, 400004,
                   "Provided json is not a valid 'tags' or 'properties' object.", now, out);
        return;
      }
      out.push_back(action::twin_request{action::twin_request::kind::patch_reported, *request.rid,
                                         std::move(patch),
                                         ack_after_commit ? p.packet_id : std::uint16_t{0}});
      return;
    }
    case iothub_operation::method_response:
      // A response without its $rid or status cannot be matched to a call: dropped (the
      // caller gets its timeout), as IoT Hub does with responses to unknown requests.
      if (request.rid && request.status)
        out.push_back(action::method_response{*request.rid, *request.status, std::move(p.payload)});
      return;
    case iothub_operation::twin_unknown:
      if (request.rid) twin_error(*request.rid, 400004, "Unknown twin operation.", now, out);
      return;
    case iothub_operation::unknown:
      return;
  }
}

void session::twin_error(std::string_view rid, int error_number, std::string_view message,
                         core::time_point now, actions& out) {
  // Nobody listens: MQTT sends only what was subscribed to.
  if (!has_topic(core::iothub_topic::twin_responses)) return;
  publish r;
  r.qos = qos_level::at_most_once;
  r.topic = twin_response_topic(error_number / 1000, rid);
  r.payload = twin_error_body(error_number, message, now);
  out.push_back(action::send{std::move(r)});
}

actions session::on_twin_response(twin_answer a, core::time_point now) {
  (void)now;
  actions out;
  if (phase_ != phase::connected) return out;
  if (a.packet_id != 0) out.push_back(action::send{puback{a.packet_id}});
  if (!has_topic(core::iothub_topic::twin_responses)) return out;
  publish r;
  r.qos = qos_level::at_most_once;
  r.topic = twin_response_topic(a.status, a.rid, a.version);
  r.payload = std::move(a.body);
  out.push_back(action::send{std::move(r)});
  return out;
}

actions session::on_desired_patch(std::int64_t version, std::string body, core::time_point now) {
  (void)now;
  actions out;
  // Nothing is queued for a device that does not listen: it GETs the twin when it subscribes
  // (DOC device twins "Device reconnection flow").
  if (phase_ != phase::connected || !has_topic(core::iothub_topic::twin_desired)) return out;
  publish r;
  r.qos = qos_level::at_most_once;
  r.topic = desired_patch_topic(version);
  r.payload = std::move(body);
  out.push_back(action::send{std::move(r)});
  return out;
}

actions session::on_method_request(std::string_view name, std::string_view rid, std::string payload,
                                   core::time_point now) {
  (void)now;
  actions out;
  if (phase_ != phase::connected || !has_topic(core::iothub_topic::methods)) return out;
  publish r;
  r.qos = qos_level::at_most_once;  // next-capabilities §3.2: method requests are QoS 0
  r.topic = method_request_topic(name, rid);
  r.payload = std::move(payload);
  out.push_back(action::send{std::move(r)});
  return out;
}

void session::on_puback(const puback& p, core::time_point now, actions& out) {
  const auto it = inflight_.find(p.packet_id);
  // An unknown id: a duplicate, or an entry dropped after its lock timed out. Nothing to do.
  if (it == inflight_.end()) return;
  // Spec §1.5: on MQTT the PUBACK is the completion. A lock that timed out meanwhile makes the
  // hub answer lock-lost, which is ignored (the message was or will be delivered again).
  (void)now;
  out.push_back(action::settle{it->second.seq, it->second.lock_id});
  std::erase(sent_order_, p.packet_id);
  inflight_.erase(it);
}

void session::on_subscribe(const subscribe& s, core::time_point now, actions& out) {
  if (s.subscriptions.size() > settings_.max_subscriptions) {
    fail(close_reason::too_many_subscriptions,
         "more than " + std::to_string(settings_.max_subscriptions) + " topic filters", now, out);
    return;
  }
  suback ack;
  ack.packet_id = s.packet_id;
  std::optional<int> wanted = subscription_;
  std::uint8_t topics = iothub_topics_;
  for (const auto& req : s.subscriptions) {
    switch (classify_subscription(req.filter, device_id_)) {
      case subscription_kind::c2d: {
        // Spec §3.4: QoS 2 is granted as 1.
        const int granted = req.qos == qos_level::at_most_once ? 0 : 1;
        wanted = granted;
        ack.return_codes.push_back(granted == 0 ? suback_return_code::granted_qos0
                                                : suback_return_code::granted_qos1);
        break;
      }
      case subscription_kind::twin_responses:
      case subscription_kind::twin_desired:
      case subscription_kind::methods:
        // Responses, notifications and method calls go out at QoS 0 (next-capabilities §2.2,
        // §3.2 "Method requests are QoS 0"), within any granted QoS.
        topics |= topic_bit(classify_subscription(req.filter, device_id_));
        ack.return_codes.push_back(req.qos == qos_level::at_most_once
                                       ? suback_return_code::granted_qos0
                                       : suback_return_code::granted_qos1);
        break;
      case subscription_kind::iothub_unknown:
      case subscription_kind::module_inputs:
        // Not a topic IoT Hub offers: refuse the filter, keep the connection.
        ack.return_codes.push_back(suback_return_code::failure);
        break;
      case subscription_kind::other_device:
        fail(close_reason::forbidden_topic, "subscribe to another device's topic: " + req.filter,
             now, out);
        return;
      case subscription_kind::unsupported:
        // Spec §3.4 (FREERTOS-89): a failing subscribe terminates the connection.
        fail(close_reason::forbidden_topic, "subscribe to an unsupported topic: " + req.filter, now,
             out);
        return;
    }
  }
  store_topics(topics, out);
  const bool changed = wanted != subscription_;
  subscription_ = wanted;
  // The hub delivers by the session's subscription, and keeps it across connections unless
  // the session is clean (MQTT-3.1.2-6); the SUBACK waits for its commit, so no PUBLISH can
  // come before it.
  if (changed) {
    ++stores_pending_;
    out.push_back(action::store_subscription{wanted});
  }
  queue_ack(std::move(ack), changed, out);
}

std::uint8_t session::topic_bit(subscription_kind k) {
  switch (k) {
    case subscription_kind::twin_responses:
      return core::iothub_topic::twin_responses;
    case subscription_kind::twin_desired:
      return core::iothub_topic::twin_desired;
    case subscription_kind::methods:
      return core::iothub_topic::methods;
    default:
      return 0;
  }
}

void session::store_topics(std::uint8_t topics, actions& out) {
  if (topics == iothub_topics_) return;
  iothub_topics_ = topics;
  out.push_back(action::store_iothub_topics{topics});
}

void session::on_unsubscribe(const unsubscribe& u, core::time_point now, actions& out) {
  std::optional<int> wanted = subscription_;
  std::uint8_t topics = iothub_topics_;
  for (const auto& filter : u.filters) {
    switch (classify_subscription(filter, device_id_)) {
      case subscription_kind::c2d:
        wanted.reset();
        break;
      case subscription_kind::other_device:
        fail(close_reason::forbidden_topic, "unsubscribe from another device's topic: " + filter,
             now, out);
        return;
      case subscription_kind::twin_responses:
      case subscription_kind::twin_desired:
      case subscription_kind::methods:
        topics &= static_cast<std::uint8_t>(~topic_bit(classify_subscription(filter, device_id_)));
        break;
      case subscription_kind::iothub_unknown:
      case subscription_kind::module_inputs:
      case subscription_kind::unsupported:
        break;  // MQTT-3.10.4-5: UNSUBACK even when nothing matched
    }
  }
  store_topics(topics, out);
  const bool changed = wanted != subscription_;
  subscription_ = wanted;
  if (changed) {
    ++stores_pending_;
    out.push_back(action::store_subscription{std::nullopt});
  }
  // Messages already in flight stay in flight: their PUBACK still completes them.
  queue_ack(unsuback{u.packet_id}, changed, out);
}

// ---- helpers ------------------------------------------------------------------------------

void session::stamp(std::vector<core::property>& properties, bool retain) const {
  // Spec §3.4: RETAIN is not stored; the message carries mqtt-retain=true instead.
  if (retain) properties.push_back({"mqtt-retain", "true"});
  // Spec §3.6: the hub's stamps, after dropping what the device wrote under their names.
  core::stamp_telemetry(properties, device_id_, generation_id_, hub_scope_);
}

void session::refuse(connect_return_code code, close_reason why, std::string detail, actions& out) {
  // MQTT-3.2.2-4: session present is 0 with a non-zero return code.
  out.push_back(action::send{connack{false, code}});
  out.push_back(action::close{why, std::move(detail)});
  phase_ = phase::closed;
  timer_at_.reset();
  deferred_.clear();
  will_.reset();
}

void session::fail(close_reason why, std::string detail, core::time_point now, actions& out) {
  out.push_back(action::close{why, std::move(detail)});
  auto rest = close(why, now);
  out.insert(out.end(), std::make_move_iterator(rest.begin()), std::make_move_iterator(rest.end()));
}

void session::queue_ack(packet reply, bool needs_store, actions& out) {
  acks_.push_back(pending_ack{std::move(reply), !needs_store});
  flush_acks(out);
}

void session::flush_acks(actions& out) {
  // SUBACK/UNSUBACK go out in request order, each after its subscription is committed.
  std::size_t sent = 0;
  for (; sent < acks_.size() && acks_[sent].ready; ++sent)
    out.push_back(action::send{std::move(acks_[sent].reply)});
  acks_.erase(acks_.begin(), acks_.begin() + static_cast<std::ptrdiff_t>(sent));
}

std::uint16_t session::next_packet_id() {
  // MQTT 2.3.1: non-zero, and not one still in use.
  for (;;) {
    ++last_packet_id_;
    if (last_packet_id_ == 0) last_packet_id_ = 1;
    if (!inflight_.contains(last_packet_id_)) return last_packet_id_;
  }
}

void session::arm_timer(core::time_point now, actions& out) {
  (void)now;
  std::optional<core::time_point> at;
  if (phase_ == phase::awaiting_connect) {
    at = connect_deadline_;
  } else if (phase_ == phase::connected) {
    at = std::min(last_received_ + keep_alive_timeout_, token_expiry_);
  }
  if (!at || (timer_at_ && *timer_at_ == *at)) return;
  timer_at_ = at;
  out.push_back(action::set_timer{*at});
}

}  // namespace emu::mqtt
