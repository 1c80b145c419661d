#pragma once
// Shared helpers for the core tests: a hub with one device and a test clock.
#include <chrono>
#include <string>

#include <doctest/doctest.h>

#include "emulator/core/crypto.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/sas_token.hpp"

namespace emu::core::testing {

using namespace std::chrono_literals;

inline const std::string device_key = base64_encode(std::string(32, 'k'));
inline const std::string owner_key = base64_encode(std::string(32, 'o'));
inline const std::string service_key = base64_encode(std::string(32, 's'));
inline const std::string registry_read_key = base64_encode(std::string(32, 'r'));

inline hub_settings test_settings() {
  hub_settings s;
  s.hub_name = "testhub";
  s.host_name = "testhub.localhost";
  s.policies = {
      {"iothubowner", owner_key, base64_encode(std::string(32, 'O')),
       permission::registry_read | permission::registry_write | permission::service_connect |
           permission::device_connect},
      {"service", service_key, base64_encode(std::string(32, 'S')),
       static_cast<permission_set>(permission::service_connect)},
      {"registryRead", registry_read_key, base64_encode(std::string(32, 'R')),
       static_cast<permission_set>(permission::registry_read)},
  };
  return s;
}

/// A hub with device "dev1", and a clock the test moves by hand.
struct fixture {
  hub h;
  time_point now = time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

  explicit fixture(hub_settings settings = test_settings()) : h(std::move(settings)) {
    device_spec spec;
    spec.id = "dev1";
    spec.primary_key = device_key;
    REQUIRE(h.create_device(spec, now).ok());
    (void)h.take_changes();
    (void)h.take_events();
  }

  c2d_content msg(std::string id, ack_mode ack = ack_mode::none) {
    c2d_content c;
    c.message_id = std::move(id);
    c.to = "/devices/dev1/messages/devicebound";
    c.ack = ack;
    c.body = "hello";
    return c;
  }

  std::uint64_t send(std::string id, ack_mode ack = ack_mode::none) {
    auto r = h.enqueue("dev1", msg(std::move(id), ack), now);
    REQUIRE(r.ok());
    return *r;
  }

  /// A device token for dev1, valid for an hour from `now`.
  std::string token() const {
    const auto se = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()) + 1h;
    return make_sas_token("testhub.localhost/devices/dev1", device_key, "", se.count());
  }

  /// Opens dev1's session (an accepted MQTT CONNECT) and forgets the changes and events.
  session_grant connect(bool clean_session = false, std::size_t window = 1) {
    auto g =
        h.connect_device(session_request{"dev1", token(), clean_session, window, nullptr}, now);
    REQUIRE(g.ok());
    (void)h.take_changes();
    (void)h.take_events();
    return *g;
  }

  /// The deliveries among `events`.
  static std::vector<event::c2d_delivery> deliveries(const std::vector<hub_event>& events) {
    std::vector<event::c2d_delivery> out;
    for (const auto& e : events)
      if (const auto* d = std::get_if<event::c2d_delivery>(&e)) out.push_back(*d);
    return out;
  }

  /// Advances the clock and lets the hub apply what became due.
  void tick(duration d) {
    now += d;
    h.advance(now);
  }

  std::vector<feedback_record> all_feedback() const {
    // Oldest first: batched records, then the ones still waiting for a batch.
    std::vector<feedback_record> out;
    for (const auto& b : h.feedback_batches())
      out.insert(out.end(), b.records.begin(), b.records.end());
    const auto pending = h.pending_feedback();
    out.insert(out.end(), pending.begin(), pending.end());
    return out;
  }
};

}  // namespace emu::core::testing
