#pragma once
// Helpers for the MQTT session tests: a session with a hand-driven clock, canned packets and
// filters that pick actions of one kind out of a list.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "emulator/core/c2d_message.hpp"
#include "emulator/mqtt/session/iothub_topics.hpp"
#include "emulator/mqtt/session/session.hpp"

namespace emu::mqtt::testing {

using namespace std::chrono_literals;

inline const std::string node_username =
    "localhost/dev1/?api-version=2021-04-12&DeviceClientType=azure-iot-device%2F1.18.4%20(node%"
    "20v20.20.2%3B%20Debian%2012%3B%20x64)";
inline const std::string token =
    "SharedAccessSignature sr=localhost%2Fdevices%2Fdev1&sig=abc%3D&se=1800000000";

template <class T>
std::vector<T> only(const actions& list) {
  std::vector<T> out;
  for (const auto& a : list)
    if (const auto* x = std::get_if<T>(&a)) out.push_back(*x);
  return out;
}

template <class T>
bool has(const actions& list) {
  return !only<T>(list).empty();
}

/// The packets of every `send` action, in order.
inline std::vector<packet> sent(const actions& list) {
  std::vector<packet> out;
  for (const auto& s : only<action::send>(list)) out.push_back(s.value);
  return out;
}

template <class T>
std::vector<T> sent_of(const actions& list) {
  std::vector<T> out;
  for (const auto& p : sent(list))
    if (const auto* x = std::get_if<T>(&p)) out.push_back(*x);
  return out;
}

/// The close action's reason; fails the test when there is none or more than one.
inline close_reason closed_with(const actions& list) {
  const auto c = only<action::close>(list);
  REQUIRE(c.size() == 1);
  return c.front().reason;
}

inline connect make_connect(std::string client_id = "dev1", bool clean = false,
                            std::uint16_t keep_alive = 180) {
  connect c;
  c.client_id = std::move(client_id);
  c.clean_session = clean;
  c.keep_alive = keep_alive;
  c.username = node_username;
  c.password = token;
  return c;
}

inline subscribe make_subscribe(std::uint16_t id,
                                std::vector<std::pair<std::string, qos_level>> f) {
  subscribe s;
  s.packet_id = id;
  for (auto& [filter, q] : f) s.subscriptions.push_back({std::move(filter), q});
  return s;
}

inline publish make_publish(std::string topic, qos_level q, std::uint16_t id, std::string body) {
  publish p;
  p.topic = std::move(topic);
  p.qos = q;
  p.packet_id = q == qos_level::at_most_once ? 0 : id;
  p.payload = std::move(body);
  return p;
}

inline const std::string c2d_filter = "devices/dev1/messages/devicebound/#";

struct harness {
  session_settings settings;
  std::unique_ptr<session> s;
  core::time_point now = core::from_unix_ms(1'780'000'000'000);

  explicit harness(session_settings st = {}) : settings(std::move(st)) {
    if (settings.hosts.primary.empty()) settings.hosts.primary = "localhost";  // the hub's, normally
    s = std::make_unique<session>(settings);
  }

  actions open() { return s->on_open(now); }
  actions in(packet p) { return s->on_packet(std::move(p), now); }

  auth_result accepted(std::optional<int> stored = std::nullopt) const {
    auth_result r;
    r.result = auth_result::outcome::accepted;
    r.epoch = 42;
    r.expiry = now + 1h;
    r.generation_id = "638000000000000001";
    r.stored_subscription = stored;
    return r;
  }

  /// CONNECT + accepted authentication; returns the actions of the auth result.
  actions connected(connect c = make_connect(), std::optional<int> stored = std::nullopt) {
    (void)open();
    const auto a = in(std::move(c));
    REQUIRE(has<action::authenticate>(a));
    return s->on_auth_result(accepted(stored), now);
  }

  /// A SUBSCRIBE or UNSUBSCRIBE, and the hub's answer to the subscription it asks for (the
  /// session's C2D subscription lives in the hub, which holds its delivery credit): the
  /// actions of both.
  actions sub(packet p) {
    auto out = in(std::move(p));
    if (has<action::store_subscription>(out)) {
      auto stored = s->on_subscription_stored(true, now);
      out.insert(out.end(), stored.begin(), stored.end());
    }
    return out;
  }

  /// Connected (clean session 1) and subscribed to C2D at `q`; returns what the subscription
  /// produced (the store action, the SUBACK).
  actions subscribed(qos_level q = qos_level::at_least_once) {
    (void)connected(make_connect("dev1", true));
    return sub(make_subscribe(1, {{c2d_filter, q}}));
  }

  core::c2d_delivery delivery(std::uint64_t seq, std::uint64_t lock_id,
                              std::string message_id = "m1") const {
    core::c2d_delivery d;
    d.lock_id = lock_id;
    d.message.seq = seq;
    d.message.device_id = "dev1";
    d.message.state = core::c2d_state::invisible;
    d.message.lock_id = lock_id;
    d.message.lock_expiry = now + 60s;
    d.message.content.message_id = std::move(message_id);
    d.message.content.to = "/devices/dev1/messages/devicebound";
    d.message.content.properties = {{"color", "blue/green"}};
    d.message.content.body = "payload-" + std::to_string(seq);
    return d;
  }
};

}  // namespace emu::mqtt::testing
