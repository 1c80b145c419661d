// Twins and direct methods at the MQTT topic level (issue 13, next-capabilities §2-§3), with a
// raw client on the project's codec and with libmosquitto, against the iothub-emulator
// executable: every well-formed or malformed `$iothub/…` request gets its Azure status and
// the connection stays, and the reconnect storm that closing used to cause is gone.
#include <doctest/doctest.h>

#include <future>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/mqtt/harness.hpp"

using namespace emu::mqtt;
using namespace emu::mqtt::itest;

namespace {

publish twin_publish(const std::string& topic, std::uint16_t id, std::string body = {},
                     bool dup = false) {
  publish p;
  p.topic = topic;
  p.qos = qos_level::at_least_once;
  p.packet_id = id;
  p.dup = dup;
  p.payload = std::move(body);
  return p;
}

/// Subscribes to the twin response and desired-patch topics and the method topic.
void subscribe_twin(raw_client& c, std::uint16_t id = 3) {
  subscribe sub;
  sub.packet_id = id;
  sub.subscriptions = {{"$iothub/twin/res/#", qos_level::at_most_once},
                       {"$iothub/twin/PATCH/properties/desired/#", qos_level::at_most_once},
                       {"$iothub/methods/POST/#", qos_level::at_most_once}};
  c.send(sub);
  CHECK(c.receive_as<suback>().return_codes == std::vector{suback_return_code::granted_qos0,
                                                           suback_return_code::granted_qos0,
                                                           suback_return_code::granted_qos0});
}

/// The next PUBLISH whose topic starts with `prefix` (PUBACKs and others are skipped).
publish next_publish(raw_client& c, const std::string& prefix) {
  for (;;) {
    auto p = c.receive(10s);
    REQUIRE_MESSAGE(p.has_value(), "no PUBLISH on " << prefix);
    if (const auto* pub = std::get_if<publish>(&*p); pub && pub->topic.starts_with(prefix))
      return *pub;
  }
}

std::string nested_json(int levels) {
  std::string s;
  for (int i = 0; i < levels; ++i) s += R"({"l)" + std::to_string(i) + R"(":)";
  s += "1";
  for (int i = 0; i < levels; ++i) s += "}";
  return s;
}

}  // namespace

TEST_CASE("storm regression: a resent $iothub PUBLISH is acknowledged, the connection stays") {
  // Issue 13: the Python SDK's MQTT library resends its unacknowledged twin GET (DUP=1) after
  // every reconnect; the gateway closed the connection each time: 50-70 connections a second
  // and a C2D message delivered hundreds of times. Now: PUBACK, one connection, one delivery.
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  s->send_c2d("dev1", "storm-m1", "full");
  raw_client c(s->port, s->ca);
  REQUIRE(c.connect_as(*s, "dev1", false).return_code == connect_return_code::accepted);
  CHECK(c.subscribe_c2d("dev1").return_codes == std::vector{suback_return_code::granted_qos1});
  for (int attempt = 0; attempt < 5; ++attempt) {
    c.send(twin_publish("$iothub/twin/GET/?$rid=1", 7, {}, attempt > 0));
    bool acked = false;
    while (!acked) {
      auto p = c.receive(10s);
      REQUIRE_MESSAGE(p.has_value(), "no PUBACK for the twin GET (closed=" << c.closed() << ")");
      if (const auto* a = std::get_if<puback>(&*p)) acked = a->packet_id == 7;
      if (const auto* m = std::get_if<publish>(&*p)) c.send(puback{m->packet_id});
    }
  }
  CHECK_FALSE(c.closed());
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
  const auto fb = s->feedback();
  REQUIRE(fb.size() == 1);
  CHECK(fb[0]["statusCode"] == "Success");
  // One connection was ever opened and none was refused or closed by the emulator.
  CHECK(s->log().find("closed: forbidden_topic") == std::string::npos);
}

TEST_CASE("poison loop: connections dropped before the PUBACK count deliveries, then dead-letter") {
  temp_dir dir;
  auto s = start_server({dir.path / "data", json{{"c2d", {{"maxDeliveryCount", 3}}}}});
  s->send_c2d("dev1", "poison", "full");
  int deliveries = 0;
  for (int connection = 0; connection < 6; ++connection) {
    raw_client c(s->port, s->ca);
    REQUIRE(c.connect_as(*s, "dev1", false).return_code == connect_return_code::accepted);
    if (connection == 0) (void)c.subscribe_c2d("dev1");
    if (auto p = c.receive(connection < 3 ? 10s : 1s); p && std::holds_alternative<publish>(*p))
      ++deliveries;
    // Dropped without PUBACK (the raw client closes its socket).
  }
  CHECK(deliveries == 3);
  CHECK(eventually([&] { return s->queue("dev1").empty(); }));
  CHECK(eventually([&] {
    const auto fb = s->feedback();
    return fb.size() == 1 && fb[0]["statusCode"] == "DeliveryCountExceeded";
  }));
}

TEST_CASE("raw client: GET, PATCH reported, desired pushed, method round trip") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  REQUIRE(c.connect_as(*s, "dev1", true).return_code == connect_return_code::accepted);
  subscribe_twin(c);

  c.send(twin_publish("$iothub/twin/GET/?$rid=10", 1));
  auto r = next_publish(c, "$iothub/twin/res/");
  CHECK(r.topic == "$iothub/twin/res/200/?$rid=10");
  const auto twin = json::parse(r.payload);
  CHECK(twin["desired"]["$version"] == 1);
  CHECK(twin["reported"]["$version"] == 1);

  c.send(twin_publish("$iothub/twin/PATCH/properties/reported/?$rid=11", 2,
                      R"({"fw":"2.0","sensors":{"t":21.5}})"));
  r = next_publish(c, "$iothub/twin/res/");
  CHECK(r.topic == "$iothub/twin/res/204/?$rid=11&$version=2");
  const auto service_twin = s->service("GET", "/twins/dev1", nullptr, 200);
  CHECK(service_twin["properties"]["reported"]["fw"] == "2.0");
  CHECK(service_twin["properties"]["reported"]["sensors"]["t"] == 21.5);

  s->service("PATCH", "/twins/dev1", json{{"properties", {{"desired", {{"rate", 5}}}}}}, 200);
  r = next_publish(c, "$iothub/twin/PATCH/properties/desired/");
  CHECK(r.topic == "$iothub/twin/PATCH/properties/desired/?$version=2");
  CHECK(json::parse(r.payload) == json{{"rate", 5}, {"$version", 2}});

  // A direct method: the service call waits on another thread while the device answers.
  std::promise<json> answer;
  std::thread caller([&] {
    answer.set_value(s->service(
        "POST", "/twins/dev1/methods",
        json{
            {"methodName", "blink"}, {"payload", {{"times", 3}}}, {"responseTimeoutInSeconds", 10}},
        200));
  });
  const auto m = next_publish(c, "$iothub/methods/POST/");
  const auto rid = m.topic.substr(m.topic.find("$rid=") + 5);
  CHECK(m.topic == "$iothub/methods/POST/blink/?$rid=" + rid);
  CHECK(json::parse(m.payload) == json{{"times", 3}});
  publish res;
  res.topic = "$iothub/methods/res/202/?$rid=" + rid;
  res.qos = qos_level::at_most_once;
  res.payload = R"({"done":true})";
  c.send(res);
  auto result = answer.get_future();
  REQUIRE(result.wait_for(15s) == std::future_status::ready);
  caller.join();
  CHECK(result.get() == json{{"status", 202}, {"payload", {{"done", true}}}});
  CHECK_FALSE(c.closed());
}

TEST_CASE("malformed twin requests get their Azure status on res/, and the connection stays") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  raw_client c(s->port, s->ca);
  REQUIRE(c.connect_as(*s, "dev1", true).return_code == connect_return_code::accepted);
  subscribe_twin(c);
  struct row {
    std::string what;
    std::string topic;
    std::string body;
    std::string answer_topic;
  };
  std::string big = R"({"big":")" + std::string(4000, 'x') + R"(")";
  for (int i = 0; i < 8; ++i)
    big += ",\"k" + std::to_string(i) + "\":\"" + std::string(4000, 'y') + "\"";
  big += "}";
  const std::vector<row> rows = {
      {"bad JSON", "$iothub/twin/PATCH/properties/reported/?$rid=20", "{not json",
       "$iothub/twin/res/400/?$rid=20"},
      {"missing $rid", "$iothub/twin/GET/", "", "$iothub/twin/res/400/?$rid="},
      {"too deep", "$iothub/twin/PATCH/properties/reported/?$rid=21", nested_json(12),
       "$iothub/twin/res/400/?$rid=21"},
      {"too large", "$iothub/twin/PATCH/properties/reported/?$rid=22", big,
       "$iothub/twin/res/400/?$rid=22"},
      {"bad key", "$iothub/twin/PATCH/properties/reported/?$rid=23", R"({"a.b":1})",
       "$iothub/twin/res/400/?$rid=23"},
      {"unknown operation", "$iothub/twin/DELETE/?$rid=24", "", "$iothub/twin/res/400/?$rid=24"},
  };
  std::uint16_t id = 30;
  for (const auto& r : rows) {
    CAPTURE(r.what);
    c.send(twin_publish(r.topic, ++id, r.body));
    const auto answer = next_publish(c, "$iothub/twin/res/");
    CHECK(answer.topic == r.answer_topic);
    const auto body = json::parse(answer.payload);
    CHECK(body["errorCode"] == 400004);
    CHECK(body["message"].is_string());
  }
  // Unknown $iothub topics are acknowledged and ignored.
  c.send(twin_publish("$iothub/nothing/here", 90, "x"));
  bool acked = false;
  while (!acked) {
    auto p = c.receive(10s);
    REQUIRE(p.has_value());
    if (const auto* a = std::get_if<puback>(&*p)) acked = a->packet_id == 90;
  }
  CHECK_FALSE(c.closed());
  // Nothing of the refused patches reached the twin.
  const auto t = s->service("GET", "/twins/dev1", nullptr, 200);
  CHECK(t["properties"]["reported"]["$version"] == 1);
}

TEST_CASE("libmosquitto: twin GET and reported PATCH at the topic level") {
  temp_dir dir;
  auto s = start_server({dir.path / "data"});
  mosq_client m(*s, "dev2", s->token("dev2"), true);
  REQUIRE(m.wait_for(mosq_client::event::connected).has_value());
  REQUIRE(mosquitto_subscribe(m.get(), nullptr, "$iothub/twin/res/#", 0) == MOSQ_ERR_SUCCESS);
  const auto granted = m.wait_for(mosq_client::event::subscribed);
  REQUIRE(granted.has_value());
  CHECK(granted->granted == std::vector{0});
  const std::string patch = R"({"location":"lab"})";
  REQUIRE(mosquitto_publish(m.get(), nullptr, "$iothub/twin/PATCH/properties/reported/?$rid=5",
                            static_cast<int>(patch.size()), patch.data(), 1,
                            false) == MOSQ_ERR_SUCCESS);
  auto res = m.wait_for(mosq_client::event::message);
  REQUIRE(res.has_value());
  CHECK(res->topic == "$iothub/twin/res/204/?$rid=5&$version=2");
  REQUIRE(mosquitto_publish(m.get(), nullptr, "$iothub/twin/GET/?$rid=6", 0, nullptr, 1, false) ==
          MOSQ_ERR_SUCCESS);
  res = m.wait_for(mosq_client::event::message);
  REQUIRE(res.has_value());
  CHECK(res->topic == "$iothub/twin/res/200/?$rid=6");
  CHECK(json::parse(res->payload)["reported"] == json{{"location", "lab"}, {"$version", 2}});
}
