// The session's side of twins and direct methods (next-capabilities §2.1-§2.2, §3.2; issue 13):
// requests become hub actions, answers become `$iothub/...` PUBLISHes, and no `$iothub/...`
// PUBLISH, however malformed, closes the connection.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "session_harness.hpp"

using namespace emu::mqtt;
using namespace emu::mqtt::testing;

namespace {

/// Connected, subscribed to twin responses, desired patches and methods (as every SDK does).
harness twin_ready() {
  harness h;
  (void)h.connected(make_connect("dev1", true));
  (void)h.sub(
      make_subscribe(1, {{"$iothub/twin/res/#", qos_level::at_most_once},
                         {"$iothub/twin/PATCH/properties/desired/#", qos_level::at_least_once},
                         {"$iothub/methods/POST/#", qos_level::at_least_once}}));
  return h;
}

std::vector<publish> published(const actions& out) {
  return sent_of<publish>(out);
}

}  // namespace

TEST_CASE("GET twin: PUBACK at once, a twin_request for the hub, the answer on res/200") {
  auto h = twin_ready();
  const auto out = h.in(make_publish("$iothub/twin/GET/?$rid=17", qos_level::at_least_once, 5, ""));
  CHECK_FALSE(has<action::close>(out));
  REQUIRE(sent_of<puback>(out).size() == 1);
  CHECK(sent_of<puback>(out)[0].packet_id == 5);
  const auto req = only<action::twin_request>(out);
  REQUIRE(req.size() == 1);
  CHECK(req[0].what == action::twin_request::kind::get);
  CHECK(req[0].rid == "17");
  CHECK(req[0].packet_id == 0);

  const auto answer =
      h.s->on_twin_response(twin_answer{"17", 200, R"({"desired":{}})", {}, 0}, h.now);
  REQUIRE(published(answer).size() == 1);
  CHECK(published(answer)[0].topic == "$iothub/twin/res/200/?$rid=17");
  CHECK(published(answer)[0].payload == R"({"desired":{}})");
  CHECK(published(answer)[0].qos == qos_level::at_most_once);
}

TEST_CASE("PATCH reported at QoS 1: the PUBACK waits for the commit, then res/204 with $version") {
  auto h = twin_ready();
  const auto out = h.in(make_publish("$iothub/twin/PATCH/properties/reported/?$rid=3",
                                     qos_level::at_least_once, 8, R"({"fw":"1.2","t":null})"));
  CHECK(sent_of<puback>(out).empty());
  const auto req = only<action::twin_request>(out);
  REQUIRE(req.size() == 1);
  CHECK(req[0].what == action::twin_request::kind::patch_reported);
  CHECK(req[0].packet_id == 8);
  CHECK(req[0].patch == nlohmann::json::parse(R"({"fw":"1.2","t":null})"));

  const auto answer = h.s->on_twin_response(twin_answer{"3", 204, "", 9, 8}, h.now);
  REQUIRE(sent_of<puback>(answer).size() == 1);
  CHECK(sent_of<puback>(answer)[0].packet_id == 8);
  REQUIRE(published(answer).size() == 1);
  CHECK(published(answer)[0].topic == "$iothub/twin/res/204/?$rid=3&$version=9");
  CHECK(published(answer)[0].payload.empty());
}

TEST_CASE("malformed twin requests are answered 400 with an IoT Hub error body, never closed") {
  struct row {
    const char* topic;
    const char* body;
    const char* answer_topic;
  };
  const row rows[] = {
      {"$iothub/twin/GET/", "", "$iothub/twin/res/400/?$rid="},
      {"$iothub/twin/PATCH/properties/reported/", "{}", "$iothub/twin/res/400/?$rid="},
      {"$iothub/twin/PATCH/properties/reported/?$rid=4", "{not json",
       "$iothub/twin/res/400/?$rid=4"},
      {"$iothub/twin/PATCH/properties/reported/?$rid=4", "[1,2]", "$iothub/twin/res/400/?$rid=4"},
      {"$iothub/twin/PATCH/properties/reported/?$rid=4", "", "$iothub/twin/res/400/?$rid=4"},
      {"$iothub/twin/DELETE/?$rid=6", "", "$iothub/twin/res/400/?$rid=6"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.topic);
    CAPTURE(r.body);
    auto h = twin_ready();
    const auto out = h.in(make_publish(r.topic, qos_level::at_least_once, 2, r.body));
    CHECK_FALSE(has<action::close>(out));
    CHECK_FALSE(has<action::twin_request>(out));
    REQUIRE(sent_of<puback>(out).size() == 1);
    CHECK(sent_of<puback>(out)[0].packet_id == 2);
    REQUIRE(published(out).size() == 1);
    CHECK(published(out)[0].topic == r.answer_topic);
    const auto body = nlohmann::json::parse(published(out)[0].payload);
    CHECK(body["errorCode"] == 400004);
    CHECK(body["message"].is_string());
    CHECK(body.contains("trackingId"));
    CHECK(body.contains("timestampUtc"));
  }
}

TEST_CASE("unknown $iothub topics are acknowledged and ignored; the connection stays") {
  for (const std::string topic : {"$iothub/unknown", "$iothub/methods/res/abc/?$rid=1",
                                  "$iothub/methods/res/200", "$iothub/"}) {
    CAPTURE(topic);
    auto h = twin_ready();
    const auto out = h.in(make_publish(topic, qos_level::at_least_once, 3, "x"));
    CHECK_FALSE(has<action::close>(out));
    CHECK(sent_of<puback>(out).size() == 1);
    CHECK(published(out).empty());
    CHECK_FALSE(has<action::method_response>(out));
  }
}

TEST_CASE("a resent DUP=1 twin request after a reconnect is answered like the first") {
  // The storm of issue 13: the SDK's MQTT library resends its unacknowledged PUBLISH after
  // CONNACK. Each copy must get a PUBACK and an answer, not a close.
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto h = twin_ready();
    auto p = make_publish("$iothub/twin/GET/?$rid=1", qos_level::at_least_once, 1, "");
    p.dup = attempt > 0;
    const auto out = h.in(std::move(p));
    CHECK_FALSE(has<action::close>(out));
    CHECK(sent_of<puback>(out).size() == 1);
    CHECK(only<action::twin_request>(out).size() == 1);
  }
}

TEST_CASE("without the res subscription, requests are still served but answers are not sent") {
  harness h;
  (void)h.connected(make_connect("dev1", true));
  const auto out = h.in(make_publish("$iothub/twin/GET/?$rid=1", qos_level::at_least_once, 4, ""));
  CHECK(sent_of<puback>(out).size() == 1);
  REQUIRE(only<action::twin_request>(out).size() == 1);
  const auto answer = h.s->on_twin_response(twin_answer{"1", 200, "{}", {}, 0}, h.now);
  CHECK(published(answer).empty());
  const auto bad = h.in(make_publish("$iothub/twin/GET/", qos_level::at_least_once, 5, ""));
  CHECK(published(bad).empty());
  CHECK_FALSE(has<action::close>(bad));
}

TEST_CASE("desired patches and method calls are pushed at QoS 0 only when subscribed") {
  {
    auto h = twin_ready();
    const auto d = h.s->on_desired_patch(7, R"({"x":1,"$version":7})", h.now);
    REQUIRE(published(d).size() == 1);
    CHECK(published(d)[0].topic == "$iothub/twin/PATCH/properties/desired/?$version=7");
    CHECK(published(d)[0].qos == qos_level::at_most_once);
    const auto m = h.s->on_method_request("reboot", "r1", R"({"delay":1})", h.now);
    REQUIRE(published(m).size() == 1);
    CHECK(published(m)[0].topic == "$iothub/methods/POST/reboot/?$rid=r1");
    CHECK(published(m)[0].payload == R"({"delay":1})");
  }
  {
    harness h;
    (void)h.connected(make_connect("dev1", true));
    CHECK(h.s->on_desired_patch(7, "{}", h.now).empty());
    CHECK(h.s->on_method_request("reboot", "r1", "{}", h.now).empty());
  }
}

TEST_CASE("a method response becomes a method_response action with its status and payload") {
  auto h = twin_ready();
  const auto out = h.in(make_publish("$iothub/methods/res/201/?$rid=r9", qos_level::at_most_once, 0,
                                     R"({"ok":true})"));
  CHECK(sent_of<puback>(out).empty());  // QoS 0
  const auto r = only<action::method_response>(out);
  REQUIRE(r.size() == 1);
  CHECK(r[0].rid == "r9");
  CHECK(r[0].status == 201);
  CHECK(r[0].payload == R"({"ok":true})");
}
