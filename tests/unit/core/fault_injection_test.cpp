// Fault injection (issue 17, next-capabilities §7): reading the AzIoTHub_Fault* properties, the
// hub's Invoke* windows in hub time, the fault log, and test control's faults for a session.
#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <variant>
#include <vector>

#include "emulator/core/fault_request.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

std::vector<property> fault_properties(std::string type, std::string delay = "",
                                       std::string duration = "", std::string reason = "") {
  std::vector<property> p{{"AzIoTHub_FaultOperationType", std::move(type)}};
  if (!delay.empty()) p.push_back({"AzIoTHub_FaultOperationDelayInSecs", std::move(delay)});
  if (!duration.empty())
    p.push_back({"AzIoTHub_FaultOperationDurationInSecs", std::move(duration)});
  if (!reason.empty()) p.push_back({"AzIoTHub_FaultOperationCloseReason", std::move(reason)});
  return p;
}

hub_settings with_faults() {
  auto s = test_settings();
  s.fault_injection = true;
  return s;
}

/// The fixture's hub (device dev1) with fault injection on.
struct fault_fixture : fixture {
  fault_fixture() : fixture(with_faults()) {}
  result<recorded_telemetry> send_telemetry(std::vector<property> p, std::string body = " ") {
    return h.record_telemetry("dev1", std::move(p), std::move(body), now);
  }
  std::vector<std::string> log_events() const {
    std::vector<std::string> out;
    for (const auto& f : h.fault_log()) out.push_back(f.type + " " + f.event);
    return out;
  }
};

}  // namespace

TEST_CASE("every fault name of the SDK suites is known, without regard to case") {
  for (const char* name :
       {"KillTcp", "KillAmqpConnection", "KillAmqpSession", "KillAmqpCBSLinkReq",
        "KillAmqpCBSLinkResp", "KillAmqpD2CLink", "KillAmqpC2DLink", "KillAmqpTwinLinkReq",
        "KillAmqpTwinLinkResp", "KillAmqpMethodReqLink", "KillAmqpMethodRespLink", "ShutDownAmqp",
        "ShutDownMqtt", "InvokeThrottling", "InvokeMaxMessageQuota", "InvokeAuthError"}) {
    CAPTURE(name);
    const auto k = parse_fault_kind(name);
    REQUIRE(k.has_value());
    CHECK(to_string(*k) == name);
  }
  // The C SDK's spelling (next-capabilities §7.1).
  CHECK(parse_fault_kind("KillAmqpc2dLink") == fault_kind::kill_amqp_c2d_link);
  CHECK_FALSE(parse_fault_kind("KillEverything").has_value());
  CHECK_FALSE(parse_fault_kind("").has_value());
}

TEST_CASE("which faults cut a connection and which only AMQP can carry out") {
  CHECK(is_connection_fault(fault_kind::kill_tcp));
  CHECK(is_connection_fault(fault_kind::shut_down_mqtt));
  CHECK_FALSE(is_connection_fault(fault_kind::invoke_throttling));
  CHECK_FALSE(is_connection_fault(fault_kind::invoke_auth_error));
  CHECK(is_amqp_only(fault_kind::kill_amqp_session));
  CHECK(is_amqp_only(fault_kind::shut_down_amqp));
  CHECK_FALSE(is_amqp_only(fault_kind::kill_tcp));
  CHECK_FALSE(is_amqp_only(fault_kind::shut_down_mqtt));
}

TEST_CASE("parse_fault_request reads type, delay, duration and reason") {
  SUBCASE("all given, seconds as text (MQTT) or decimal") {
    const auto p = parse_fault_request(fault_properties("KillTcp", "2", "20", " severs "));
    REQUIRE(p.request.has_value());
    CHECK(p.problem.empty());
    CHECK(p.request->kind == fault_kind::kill_tcp);
    CHECK(p.request->delay == std::chrono::seconds(2));
    CHECK(p.request->length == std::chrono::seconds(20));
    CHECK(p.request->reason == " severs ");
    CHECK(parse_fault_request(fault_properties("KillTcp", "1.5")).request->delay ==
          std::chrono::milliseconds(1500));
  }
  SUBCASE(
      "absent, empty, undefined or null values mean not given: no delay, the default duration") {
    for (const char* v : {"", "undefined", "null"}) {
      auto props = fault_properties("InvokeThrottling");
      props.push_back({"AzIoTHub_FaultOperationDelayInSecs", v});
      props.push_back({"AzIoTHub_FaultOperationDurationInSecs", v});
      const auto p = parse_fault_request(props);
      REQUIRE(p.request.has_value());
      CHECK(p.request->delay == duration{0});
      CHECK(p.request->length == default_fault_duration);
    }
  }
  SUBCASE("property names without regard to case") {
    const auto p = parse_fault_request({{"azIoTHub_faultOperationType", "ShutDownMqtt"},
                                        {"AZIOTHUB_FAULTOPERATIONDELAYINSECS", "5"}});
    REQUIRE(p.request.has_value());
    CHECK(p.request->delay == std::chrono::seconds(5));
  }
  SUBCASE("no type: nothing asked, no problem") {
    const auto p = parse_fault_request({{"AzIoTHub_FaultOperationDelayInSecs", "2"}});
    CHECK_FALSE(p.request.has_value());
    CHECK(p.problem.empty());
    CHECK_FALSE(parse_fault_request({}).request.has_value());
  }
  SUBCASE("an unknown type or a bad number is a problem, not a request") {
    auto p = parse_fault_request(fault_properties("KillEverything"));
    CHECK_FALSE(p.request.has_value());
    CHECK(p.problem == "unknown fault type 'KillEverything'");
    for (const char* bad : {"soon", "-1", "1e400", "2s", "nan"}) {
      CAPTURE(bad);
      p = parse_fault_request(fault_properties("KillTcp", bad));
      CHECK_FALSE(p.request.has_value());
      CHECK(p.problem.find("DelayInSecs is not a number of seconds") != std::string::npos);
    }
    p = parse_fault_request(fault_properties("InvokeThrottling", "1", "forever"));
    CHECK(p.problem.find("DurationInSecs is not a number of seconds") != std::string::npos);
  }
  SUBCASE("times beyond an hour are cut to an hour") {
    const auto p = parse_fault_request(fault_properties("InvokeThrottling", "999999", "604800"));
    REQUIRE(p.request.has_value());
    CHECK(p.request->delay == max_fault_time);
    CHECK(p.request->length == max_fault_time);
  }
}

TEST_CASE("with fault injection off the properties are ordinary telemetry") {
  fixture f;  // test_settings(): fault_injection false
  const auto r = f.h.record_telemetry("dev1", fault_properties("KillTcp"), " ", f.now);
  REQUIRE(r.ok());
  CHECK_FALSE(r->fault.has_value());
  CHECK(f.h.fault_log().empty());
  CHECK(f.h.telemetry().size() == 1);
  const auto w =
      f.h.record_telemetry("dev1", fault_properties("InvokeThrottling", "0", "60"), " ", f.now);
  REQUIRE(w.ok());
  CHECK_FALSE(f.h.fault_refusal("dev1", f.now + std::chrono::seconds(1)).has_value());
}

TEST_CASE("a connection fault is stored as telemetry and handed to the front that received it") {
  fault_fixture f;
  const auto r = f.send_telemetry(fault_properties("KillAmqpC2DLink", "2", "", "boom"));
  REQUIRE(r.ok());
  REQUIRE(r->fault.has_value());
  CHECK(r->fault->kind == fault_kind::kill_amqp_c2d_link);
  CHECK(r->fault->delay == std::chrono::seconds(2));
  CHECK(r->fault->reason == "boom");
  CHECK(f.h.telemetry().size() == 1);
  CHECK(f.log_events() == std::vector<std::string>{"KillAmqpC2DLink requested"});
  // The front reports what it did.
  f.h.note_fault("dev1", fault_kind::kill_amqp_c2d_link, "applied", "AMQP: C2D link detached",
                 f.now);
  CHECK(f.log_events().back() == "KillAmqpC2DLink applied");
  CHECK(f.h.fault_log().back().detail == "AMQP: C2D link detached");
}

TEST_CASE("an unknown fault is stored as telemetry and logged as ignored") {
  fault_fixture f;
  const auto r = f.send_telemetry(fault_properties("KillEverything"));
  REQUIRE(r.ok());
  CHECK_FALSE(r->fault.has_value());
  REQUIRE(f.h.fault_log().size() == 1);
  CHECK(f.h.fault_log()[0].event == "ignored");
  CHECK(f.h.fault_log()[0].type == "KillEverything");
  CHECK(f.h.telemetry().size() == 1);
}

TEST_CASE(
    "Invoke* faults refuse the identity's telemetry and twin requests for their duration, in hub "
    "time") {
  struct expectation {
    const char* type;
    hub_error code;
    int number;
  };
  for (const auto& e : {expectation{"InvokeThrottling", hub_error::throttled, 429001},
                        expectation{"InvokeMaxMessageQuota", hub_error::quota_exceeded, 403002},
                        expectation{"InvokeAuthError", hub_error::unauthorized, 401002}}) {
    CAPTURE(e.type);
    fault_fixture f;
    const auto grant = f.connect();
    // Delay 1 s, duration 10 s.
    const auto asked = f.send_telemetry(fault_properties(e.type, "1", "10"));
    REQUIRE(asked.ok());
    CHECK_FALSE(asked->fault.has_value());  // nothing for a front to do
    CHECK(f.log_events() == std::vector<std::string>{std::string(e.type) + " requested",
                                                     std::string(e.type) + " applied"});
    // Before the delay: served.
    f.now += std::chrono::milliseconds(500);
    CHECK(f.send_telemetry({}, "before").ok());
    // In the window: refused, and nothing stored.
    f.now += std::chrono::seconds(1);
    const auto before = f.h.telemetry().size();
    const auto refused = f.send_telemetry({}, "in");
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().code == e.code);
    CHECK(error_number(refused.error().code) == e.number);
    CHECK(f.h.telemetry().size() == before);
    const auto twin = f.h.read_own_twin("dev1", f.now);
    REQUIRE_FALSE(twin.ok());
    CHECK(twin.error().code == e.code);
    const auto patch = f.h.patch_reported("dev1", grant.epoch, nlohmann::json{{"a", 1}}, f.now);
    REQUIRE_FALSE(patch.ok());
    CHECK(patch.error().code == e.code);
    // The service side is not the device: its twin read is served.
    CHECK(f.h.twin("dev1").ok());
    // Another identity is not affected.
    CHECK_FALSE(f.h.fault_refusal("dev2", f.now).has_value());
    // The window's end is a hub deadline; advance() logs it.
    REQUIRE(f.h.next_deadline().has_value());
    f.now = *f.h.next_deadline();
    f.h.advance(f.now);
    CHECK(f.log_events().back() == std::string(e.type) + " ended");
    CHECK(f.send_telemetry({}, "after").ok());
    CHECK(f.h.read_own_twin("dev1", f.now).ok());
  }
}

TEST_CASE("a window starts after the message that asked for it: the rest of its batch is stored") {
  fault_fixture f;
  REQUIRE(f.send_telemetry(fault_properties("InvokeThrottling", "0", "5")).ok());
  CHECK(f.send_telemetry({}, "same round").ok());
  f.now += std::chrono::milliseconds(1);
  CHECK_FALSE(f.send_telemetry({}, "next round").ok());
}

TEST_CASE("a newer Invoke* request replaces the identity's window") {
  fault_fixture f;
  REQUIRE(f.send_telemetry(fault_properties("InvokeThrottling", "0", "60")).ok());
  f.now += std::chrono::seconds(1);
  REQUIRE_FALSE(f.send_telemetry({}).ok());  // throttled: the next request cannot come by telemetry
  REQUIRE(f.h.inject_fault(
                 "dev1",
                 fault_request{fault_kind::invoke_auth_error, {}, std::chrono::seconds(5), ""},
                 f.now)
              .ok());
  f.now += std::chrono::milliseconds(1);
  const auto r = f.send_telemetry({});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::unauthorized);
  f.now += std::chrono::seconds(6);
  CHECK(f.send_telemetry({}).ok());
}

TEST_CASE(
    "test control's connection fault goes to the session's front as an event; offline is 404103") {
  fault_fixture f;
  const fault_request kill{fault_kind::kill_tcp, std::chrono::seconds(1), {}, "test"};
  auto offline = f.h.inject_fault("dev1", kill, f.now);
  REQUIRE_FALSE(offline.ok());
  CHECK(offline.error().code == hub_error::device_not_online);
  auto unknown = f.h.inject_fault("nobody", kill, f.now);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().code == hub_error::device_not_found);

  const auto grant = f.connect();
  REQUIRE(f.h.inject_fault("dev1", kill, f.now).ok());
  const auto events = f.h.take_events();
  REQUIRE(events.size() == 1);
  const auto* e = std::get_if<event::fault_requested>(&events[0]);
  REQUIRE(e != nullptr);
  CHECK(e->device_id == "dev1");
  CHECK(e->epoch == grant.epoch);
  CHECK(e->request.kind == fault_kind::kill_tcp);
  CHECK(e->request.delay == std::chrono::seconds(1));
  CHECK(f.log_events() == std::vector<std::string>{"KillTcp requested"});
}

TEST_CASE("the fault log keeps the newest records; a reset clears it and every window") {
  fault_fixture f;
  for (std::size_t i = 0; i < device_faults::max_records + 5; ++i)
    REQUIRE(f.send_telemetry(fault_properties("KillEverything")).ok());
  CHECK(f.h.fault_log().size() == device_faults::max_records);
  CHECK(f.h.fault_log().front().id == 6);
  REQUIRE(f.send_telemetry(fault_properties("InvokeThrottling", "0", "60")).ok());
  f.h.reset(f.now);
  CHECK(f.h.fault_log().empty());
  CHECK_FALSE(f.h.fault_refusal("dev1", f.now + std::chrono::seconds(1)).has_value());
}
