// How a C++ project tests against the IoT Hub emulator in-process (examples/cpp-fixture).
// Each test starts its own hub in milliseconds: ephemeral ports on 127.0.0.1, an in-memory
// database, a fresh development CA. Point the SDK under test at hub.host_name(), hub.ports()
// and hub.ca_certificate(); inspect and steer the hub with the fixture's calls.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "emulator/testing/emulator_fixture.hpp"

using namespace std::chrono_literals;
using emu::testing::emulator_fixture;

TEST_CASE("a hub starts on ephemeral ports with development credentials") {
  emulator_fixture hub;
  hub.start();
  CHECK(hub.ports().https != 0);
  CHECK(std::filesystem::exists(hub.ca_certificate()));
  CHECK(hub.ca_certificate_pem().starts_with("-----BEGIN CERTIFICATE-----"));
  CHECK(hub.hub_connection_string().starts_with(
      "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey="));
  CHECK(hub.https_url() == "https://localhost:" + std::to_string(hub.ports().https));
  CHECK(hub.device_connection_string("myDevice")
            .starts_with("HostName=localhost;DeviceId=myDevice;"));
}

TEST_CASE("devices are created like on Azure: keys generated") {
  emulator_fixture hub;
  hub.start();
  const auto device = hub.create_device("thermostat-1");
  CHECK(device.primary_key.size() == 44);  // base64 of 32 bytes
  CHECK(device.connection_string ==
        "HostName=localhost;DeviceId=thermostat-1;SharedAccessKey=" + device.primary_key);
  CHECK(hub.device_connection_string("thermostat-1") == device.connection_string);
  CHECK_THROWS_AS(hub.create_device("thermostat-1"), std::runtime_error);  // DeviceAlreadyExists
}

TEST_CASE("an hour-long TTL is tested in milliseconds with clock travel") {
  emulator_fixture hub;
  hub.start();
  hub.create_device("dev1");

  emu::testing::c2d_send message;
  message.message_id = "reboot-1";
  message.body = R"({"command":"reboot"})";
  message.ack = "full";  // feedback for success and for expiry
  hub.send_c2d("dev1", message);

  const auto queue = hub.queue("dev1");
  REQUIRE(queue.size() == 1);
  CHECK(queue[0].state == "Enqueued");
  CHECK(queue[0].expiry_time - queue[0].enqueued_time == 1h);  // the default TTL

  hub.advance_clock(2h);  // returns once the hub has applied the expiry

  CHECK(hub.queue("dev1").empty());
  const auto feedback = hub.feedback();
  auto records = feedback.pending;
  for (const auto& batch : feedback.batches)
    records.insert(records.end(), batch.records.begin(), batch.records.end());
  REQUIRE(records.size() == 1);
  CHECK(records[0].original_message_id == "reboot-1");
  CHECK(records[0].status_code == "Expired");
}

TEST_CASE("admission rules are the hub's: unknown devices and full queues are refused") {
  emu::testing::fixture_options options;
  options.c2d_default_ttl = 10min;
  emulator_fixture hub(options);
  hub.start();
  CHECK_THROWS_AS(hub.send_c2d("ghost", {}), std::runtime_error);  // DeviceNotFound
  hub.create_device("busy");
  for (int i = 0; i < 50; ++i) hub.send_c2d("busy", {});
  CHECK_THROWS_AS(hub.send_c2d("busy", {}), std::runtime_error);  // queue depth 50
  CHECK(hub.queue("busy").front().expiry_time - hub.queue("busy").front().enqueued_time == 10min);
}

TEST_CASE("two hubs side by side share nothing") {
  emulator_fixture a;
  emulator_fixture b;
  a.start();
  b.start();
  CHECK(a.ports().https != b.ports().https);
  CHECK(a.ca_certificate() != b.ca_certificate());
  a.create_device("only-in-a");
  CHECK_NOTHROW(a.device_connection_string("only-in-a"));
  CHECK_THROWS(b.device_connection_string("only-in-a"));
}

TEST_CASE("reset removes all state; stop and start again") {
  emulator_fixture hub;
  hub.start();
  hub.create_device("dev1");
  hub.reset();
  CHECK_THROWS(hub.device_connection_string("dev1"));
  hub.stop();
  CHECK_FALSE(hub.running());
  hub.start();
  CHECK(hub.running());
  CHECK(hub.ports().https != 0);
}

TEST_CASE("failures on demand: fault injection and hub-wide chaos (README \"Testing failures\")") {
  emu::testing::emulator_fixture hub({.fault_injection = true});
  hub.start();
  hub.create_device("dev1");
  // Offline there is no connection to cut; a throttling window needs none.
  CHECK_THROWS_WITH_AS(hub.inject_fault("dev1", "KillTcp"), doctest::Contains("DeviceNotOnline"),
                       std::runtime_error);
  hub.inject_fault("dev1", "InvokeThrottling", std::chrono::seconds(0), std::chrono::seconds(30));
  CHECK(hub.fault_log().back().type == "InvokeThrottling");
  CHECK(hub.fault_log().back().event == "applied");
  hub.set_chaos({.fail_next_commits = 2, .paused_fronts = {"amqp"}});
  emu::testing::c2d_send m;
  m.message_id = "not-stored";
  CHECK_THROWS_WITH_AS(hub.send_c2d("dev1", m), doctest::Contains("could not commit"),
                       std::runtime_error);  // a full disk: the round was rolled back
  hub.set_chaos({});
  hub.send_c2d("dev1", m);
  CHECK(hub.queue("dev1").size() == 1);
  hub.expire_tokens();
  CHECK_FALSE(hub.connected("dev1"));
}
