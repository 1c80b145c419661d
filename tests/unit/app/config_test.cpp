// The configuration loader: JSON keys, defaults and range checks reported as
// `key: problem (value)` (emulator/app/config.cpp). Here the resource limits of issue 7.
#include <doctest/doctest.h>

#include <algorithm>
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
  CHECK(c.mqtt.max_connect_packet_size < c.max_packet_size);
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
  CHECK(c.max_packet_size == 1048576);
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
  CHECK(c.max_packet_size == d.max_packet_size);
}
