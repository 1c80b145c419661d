// The configuration loader: JSON keys, defaults and range checks reported as
// `key: problem (value)` (emulator/app/config.cpp). Here the resource limits of issue 7.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "emulator/app/config.hpp"

using namespace emu::app;

namespace {

std::vector<std::string> problems(const emulator_config& c) {
  std::vector<std::string> out;
  for (const auto& e : validate(c)) out.push_back(e.to_string());
  return out;
}

bool has(const std::vector<std::string>& list, const std::string& line) {
  return std::find(list.begin(), list.end(), line) != list.end();
}

}  // namespace

TEST_CASE("defaults: a small CONNECT limit, AMQP frames of 64 KiB, both valid") {
  const auto c = default_config();
  CHECK(c.mqtt.max_connect_packet_size == 80 * 1024);
  CHECK(c.mqtt.max_connect_packet_size < c.mqtt.max_packet_size);
  CHECK(c.amqp.max_frame_size == 64 * 1024);
  CHECK(validate(c).empty());
}

TEST_CASE("mqtt.maxConnectPacketSize and amqp.maxFrameSize are read from the file") {
  auto c = default_config();
  const auto errors = apply_config_json(
      R"({"mqtt": {"maxConnectPacketSize": 4096, "maxPacketSize": 1048576},
          "amqp": {"maxFrameSize": 262144}})",
      c);
  CHECK(errors.empty());
  CHECK(c.mqtt.max_connect_packet_size == 4096);
  CHECK(c.mqtt.max_packet_size == 1048576);
  CHECK(c.amqp.max_frame_size == 262144);
  CHECK(validate(c).empty());
}

TEST_CASE("amqp.maxFrameSize no longer follows mqtt.maxPacketSize") {
  auto c = default_config();
  REQUIRE(apply_config_json(R"({"mqtt": {"maxPacketSize": 16777216}})", c).empty());
  CHECK(c.amqp.max_frame_size == 64 * 1024);
}

TEST_CASE("out-of-range and mistyped limits are reported as key: problem (value)") {
  auto c = default_config();
  const auto type_errors = apply_config_json(
      R"({"mqtt": {"maxConnectPacketSize": "big"}, "amqp": {"maxFrameSize": true}})", c);
  std::vector<std::string> lines;
  for (const auto& e : type_errors) lines.push_back(e.to_string());
  CHECK(has(lines, "mqtt.maxConnectPacketSize: must be a number (big)"));
  CHECK(has(lines, "amqp.maxFrameSize: must be a number (true)"));

  c = default_config();
  c.mqtt.max_connect_packet_size = 100;
  c.amqp.max_frame_size = 511;  // below AMQP's MIN-MAX-FRAME-SIZE
  auto p = problems(c);
  CHECK(has(p, "mqtt.maxConnectPacketSize: must be between 1024 and 16777216 (100)"));
  CHECK(has(p, "amqp.maxFrameSize: must be between 512 and 16777216 (511)"));

  c = default_config();
  c.mqtt.max_connect_packet_size = 16 * 1024 * 1024 + 1;
  c.amqp.max_frame_size = 16 * 1024 * 1024 + 1;
  p = problems(c);
  CHECK(has(p, "mqtt.maxConnectPacketSize: must be between 1024 and 16777216 (16777217)"));
  CHECK(has(p, "amqp.maxFrameSize: must be between 512 and 16777216 (16777217)"));

  // The boundaries themselves are fine; a CONNECT limit above the packet limit is allowed
  // (the smaller applies).
  c = default_config();
  c.mqtt.max_connect_packet_size = 16 * 1024 * 1024;
  c.amqp.max_frame_size = 512;
  CHECK(validate(c).empty());
}

TEST_CASE("the example configuration names every new key with its default") {
  auto c = default_config();
  const auto errors = apply_config_file(EMU_SOURCE_DIR "/config/example.json", c);
  for (const auto& e : errors) FAIL_CHECK(e.to_string());
  const auto d = default_config();
  CHECK(c.mqtt.max_connect_packet_size == d.mqtt.max_connect_packet_size);
  CHECK(c.amqp.max_frame_size == d.amqp.max_frame_size);
  CHECK(c.mqtt.max_packet_size == d.mqtt.max_packet_size);
}

TEST_CASE("https.* limits are read from the file and range-checked") {
  auto c = default_config();
  const auto errors = apply_config_json(
      R"({"https": {"maxConnections": 5, "tlsHandshakeTimeoutSeconds": 2,
                    "requestTimeoutSeconds": 3, "keepAliveTimeoutSeconds": 1.5,
                    "writeTimeoutSeconds": 4, "maxHeaderBytes": 4096, "maxHeaderFields": 20,
                    "maxBodyBytes": 262144, "workerThreads": 2}})",
      c);
  CHECK(errors.empty());
  CHECK(c.https.max_connections == 5);
  CHECK(c.https.connection.tls_handshake_timeout == std::chrono::seconds(2));
  CHECK(c.https.request_timeout == std::chrono::seconds(3));
  CHECK(c.https.keep_alive_timeout == std::chrono::milliseconds(1500));
  CHECK(c.https.write_timeout == std::chrono::seconds(4));
  CHECK(c.https.limits.max_head_bytes == 4096);
  CHECK(c.https.limits.max_header_fields == 20);
  CHECK(c.https.limits.max_body_bytes == 262144);
  CHECK(validate(c).empty());  // workerThreads: accepted from older files, no longer used

  c.https.limits.max_head_bytes = 100;
  c.https.request_timeout = std::chrono::milliseconds(10);
  const auto lines = problems(c);
  CHECK(has(lines, "https.maxHeaderBytes: must be between 1024 and 1048576 (100)"));
  CHECK(has(
      lines,
      "https.requestTimeoutSeconds: must be between 0.100000 and 600.000000 seconds (0.010000)"));
  CHECK(lines.size() == 2);
  auto typo = default_config();
  CHECK_FALSE(apply_config_json(R"({"https": {"maxHeadersBytes": 1}})", typo).empty());
}

TEST_CASE("amqp sessions, links, delivery and pre-auth bytes, mqtt output backlog") {
  auto c = default_config();
  CHECK(c.amqp.max_sessions == 16);
  CHECK(c.amqp.max_links == 64);
  const auto errors = apply_config_json(
      R"({"amqp": {"maxSessions": 4, "maxLinks": 8, "maxDeliveryBytes": 131072,
                   "maxBytesBeforeAuth": 16384},
          "mqtt": {"maxOutputBacklogBytes": 262144}})",
      c);
  CHECK(errors.empty());
  CHECK(c.amqp.max_sessions == 4);
  CHECK(c.amqp.max_links == 8);
  CHECK(c.amqp.max_delivery_bytes == 131072);
  CHECK(c.amqp.max_input_before_auth == 16384);
  CHECK(c.mqtt.connection.max_output_backlog == 262144);
  CHECK(validate(c).empty());
  // A delivery bound below the hub's message size would refuse what the hub accepts.
  c.hub.c2d_max_message_size = 256 * 1024;
  CHECK(has(problems(c), "amqp.maxDeliveryBytes: must be between 278528 and 67108864 (131072)"));
  c.amqp.max_sessions = 1;
  CHECK(has(problems(c), "amqp.maxSessions: must be between 2 and 1024 (1)"));
}

TEST_CASE("every front's settings have one default, in the front's own settings struct") {
  // The configuration embeds the fronts' settings: what the file does not set is the front's
  // own default (issue 12: mqtt.maxPacketSize used to be 512 KiB here and ~320 KiB there).
  const auto c = default_config();
  CHECK(c.mqtt.max_packet_size == emu::mqtt::gateway_settings{}.max_packet_size);
  CHECK(c.mqtt.session.inflight_window == emu::mqtt::session_settings{}.inflight_window);
  CHECK(c.amqp.max_connections == emu::amqp::amqp_settings{}.max_connections);
  CHECK(c.https.request_timeout == emu::https::https_settings{}.request_timeout);
}

TEST_CASE("ioThreads sets the one io pool; mqtt.ioThreads is its older spelling") {
  auto c = default_config();
  REQUIRE(apply_config_json(R"({"ioThreads": 3})", c).empty());
  CHECK(c.io_threads == 3);
  REQUIRE(apply_config_json(R"({"mqtt": {"ioThreads": 0}})", c).empty());
  CHECK(has(problems(c), "mqtt.ioThreads: must be between 1 and 64 (0)"));
  REQUIRE(apply_config_json(R"({"ioThreads": 65})", c).empty());
  CHECK(has(problems(c), "ioThreads: must be between 1 and 64 (65)"));
}

TEST_CASE("X.509 devices and CA certificates in the config file (issue 16)") {
  auto c = default_config();
  const auto errors = apply_config_json(R"({
    "devices": [
      {"deviceId": "self", "authentication": "selfSigned", "primaryThumbprint": ")" +
                                            std::string(40, 'a') + R"("},
      {"deviceId": "by-ca", "authentication": "certificateAuthority"}
    ],
    "caCertificates": [{"name": "root", "file": "/tmp/root.pem"}]
  })",
                                        c);
  CHECK(errors.empty());
  REQUIRE(c.devices.size() == 2);
  CHECK(c.devices[0].authentication == emu::core::auth_type::self_signed);
  CHECK(c.devices[0].primary_thumbprint == std::string(40, 'a'));
  CHECK(c.devices[1].authentication == emu::core::auth_type::certificate_authority);
  REQUIRE(c.ca_certificates.size() == 1);
  CHECK(c.ca_certificates[0].name == "root");
  CHECK(c.ca_certificates[0].file == "/tmp/root.pem");
  CHECK(validate(c).empty());

  auto bad = default_config();
  const auto type_errors =
      apply_config_json(R"({"devices": [{"deviceId": "x", "authentication": "x509"}]})", bad);
  REQUIRE(type_errors.size() == 1);
  CHECK(type_errors[0].to_string().starts_with("devices[0].authentication: must be \"sas\""));

  bad = default_config();
  CHECK(apply_config_json(R"({"devices": [
      {"deviceId": "a", "authentication": "selfSigned"},
      {"deviceId": "b", "authentication": "selfSigned", "primaryThumbprint": "xyz"},
      {"deviceId": "c", "authentication": "certificateAuthority", "primaryKey": "AAAAAAAAAAAAAAAAAAAAAA=="},
      {"deviceId": "d", "primaryThumbprint": ")" +
                              std::string(64, 'F') + R"("}],
    "caCertificates": [{"name": "bad name!", "file": "x.pem"}, {"name": "n"}]})",
                          bad)
            .empty());
  const auto p = problems(bad);
  CHECK(has(p, "devices[0].primaryThumbprint: a selfSigned device needs one"));
  CHECK(has(p,
            "devices[1].primaryThumbprint: must be a hex SHA-1 (40 digits) or SHA-256 (64 "
            "digits) (xyz)"));
  CHECK(has(p, "devices[2].primaryKey: an X.509 device has no keys"));
  CHECK(has(p,
            "devices[3].primaryThumbprint: only a selfSigned device has thumbprints (set "
            "\"authentication\")"));
  CHECK(has(p, "caCertificates[0].name: must be 1 to 64 of A-Z a-z 0-9 - _ . (bad name!)"));
  CHECK(has(p, "caCertificates[1].file: must name a PEM file"));
}

TEST_CASE("faultInjection is off by default and a boolean in the file (issue 17)") {
  CHECK_FALSE(default_config().hub.fault_injection);
  auto c = default_config();
  CHECK(apply_config_json(R"({"faultInjection": true})", c).empty());
  CHECK(c.hub.fault_injection);
  auto d = default_config();
  const auto errors = apply_config_json(R"({"faultInjection": "yes"})", d);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string().rfind("faultInjection:", 0) == 0);
  CHECK_FALSE(d.hub.fault_injection);
}

TEST_CASE("metrics is on by default and a boolean in the file (issue 18)") {
  CHECK(default_config().https.metrics);
  auto c = default_config();
  CHECK(apply_config_json(R"({"metrics": false})", c).empty());
  CHECK_FALSE(c.https.metrics);
  auto d = default_config();
  const auto errors = apply_config_json(R"({"metrics": 0})", d);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string().rfind("metrics:", 0) == 0);
}

TEST_CASE("the dashboard is for loopback peers by default; remote or off in the file (issue 18)") {
  CHECK(default_config().https.dashboard == emu::https::dashboard_access::loopback);
  auto c = default_config();
  CHECK(apply_config_json(R"({"dashboard": "remote"})", c).empty());
  CHECK(c.https.dashboard == emu::https::dashboard_access::remote);
  CHECK(apply_config_json(R"({"dashboard": "off"})", c).empty());
  CHECK(c.https.dashboard == emu::https::dashboard_access::off);
  auto d = default_config();
  const auto errors = apply_config_json(R"({"dashboard": true})", d);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].to_string().rfind("dashboard:", 0) == 0);
  CHECK(d.https.dashboard == emu::https::dashboard_access::loopback);
}

TEST_CASE(
    "throttling: off by default; a tier with units in the file; bad tiers reported (issue 17)") {
  CHECK_FALSE(default_config().hub.throttling.has_value());
  auto c = default_config();
  CHECK(apply_config_json(R"({"throttling": {"tier": "S2", "units": 3}})", c).empty());
  REQUIRE(c.hub.throttling.has_value());
  CHECK(c.hub.throttling->name == "S2");
  CHECK(c.hub.throttling->units == 3);
  CHECK(apply_config_json(R"({"throttling": null})", c).empty());
  CHECK_FALSE(c.hub.throttling.has_value());
  for (const char* bad : {R"({"throttling": "S1"})", R"({"throttling": {"tier": "S9"}})",
                          R"({"throttling": {"tier": "F1", "units": 2}})",
                          R"({"throttling": {"tier": "S1", "units": "2"}})",
                          R"({"throttling": {"tier": "S1", "other": 1}})"}) {
    auto d = default_config();
    const auto errors = apply_config_json(bad, d);
    CHECK_MESSAGE(errors.size() == 1, bad);
    if (!errors.empty()) CHECK(errors[0].to_string().rfind("throttling:", 0) == 0);
    CHECK_FALSE(d.hub.throttling.has_value());
  }
}

TEST_CASE("deviceConnectRate is read from the file and range-checked") {
  auto c = default_config();
  CHECK(c.hub.device_connects == emu::core::device_connect_rate{10, 100});
  CHECK(apply_config_json(R"({"deviceConnectRate": {"perSecond": 0.5, "burst": 3}})", c).empty());
  CHECK(c.hub.device_connects == emu::core::device_connect_rate{0.5, 3});
  CHECK(validate(c).empty());
  c.hub.device_connects = {0, 3};
  auto errors = validate(c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "deviceConnectRate.perSecond");
  c.hub.device_connects = {1, 0};
  errors = validate(c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "deviceConnectRate.burst");
  c = default_config();
  errors = apply_config_json(R"({"deviceConnectRate": {"perSecond": "fast"}})", c);
  REQUIRE(errors.size() == 1);
  CHECK(errors[0].key == "deviceConnectRate.perSecond");
}
