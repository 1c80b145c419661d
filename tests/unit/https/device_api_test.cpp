// The device HTTPS API (next-capabilities §5, issue 15) as pure functions of a hub: routes,
// lock tokens, message headers and batches, the C2D lock life cycle over GET/DELETE/POST, auth.
#include <doctest/doctest.h>

#include <chrono>
#include <string>

#include "emulator/core/crypto.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/https/device_api.hpp"
#include "emulator/https/device_message.hpp"
#include "emulator/https/lock_token.hpp"
#include "emulator/https/routes.hpp"

using namespace emu;
using namespace emu::https;

namespace {

const std::string device_key = core::base64_encode(std::string(32, 'd'));
const std::string other_key = core::base64_encode(std::string(32, 'e'));
const std::string service_key = core::base64_encode(std::string(32, 's'));
const std::string connect_key = core::base64_encode(std::string(32, 'c'));

core::hub_settings settings() {
  core::hub_settings s;
  s.hub_name = "testhub";
  s.host_name = "testhub.localhost";
  using core::permission;
  s.policies = {
      {"service", service_key, service_key,
       static_cast<core::permission_set>(permission::service_connect)},
      {"device", connect_key, connect_key,
       static_cast<core::permission_set>(permission::device_connect)},
  };
  return s;
}

struct device_api_fixture {
  core::hub hub{settings()};
  core::time_point now = core::time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

  device_api_fixture() {
    REQUIRE(
        hub.create_device({"dev1", core::device_status::enabled, "", device_key, device_key}, now));
    REQUIRE(
        hub.create_device({"dev2", core::device_status::enabled, "", other_key, other_key}, now));
  }
  std::string token(const std::string& device = "dev1", const std::string& key = device_key,
                    const std::string& policy = "") {
    const auto se = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    return core::make_sas_token("testhub.localhost/devices/" + device, key, policy,
                                se.count() + 3600);
  }
  http_response call(const std::string& method, const std::string& target, http_request r = {}) {
    r.method = method;
    r.target = target;
    if (r.authorization.empty()) r.authorization = token();
    const auto rt = match_route(method, target);
    REQUIRE(is_device_api(rt.kind));
    return handle_device_api(hub, now, rt, r);
  }
  std::uint64_t send_c2d(const std::string& body, const std::string& device = "dev1") {
    core::c2d_content c;
    c.body = body;
    c.message_id = "mid-" + body;
    c.correlation_id = "cid-" + body;
    c.ack = core::ack_mode::full;
    c.content_type = "text/plain";
    c.properties = {{"color", "red"}, {"bad name", "x"}, {"ctl", std::string("a\x01" "b")}};
    auto seq = hub.enqueue(device, c, now);
    REQUIRE(seq);
    return *seq;
  }
};

std::string header(const http_response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return {};
}

std::string etag_token(const http_response& r) {
  const auto e = header(r, "ETag");
  REQUIRE(e.size() == 38);
  return e.substr(1, 36);
}

}  // namespace

TEST_CASE("device API routes (next-capabilities §5)") {
  CHECK(match_route("POST", "/devices/dev1/messages/events?api-version=2021-04-12").kind ==
        route_kind::device_send_event);
  CHECK(match_route("GET", "/devices/dev1/messages/devicebound?api-version=x").kind ==
        route_kind::device_receive_c2d);
  CHECK(match_route("GET", "/devices/dev1/messages/deviceBound").kind ==
        route_kind::device_receive_c2d);
  const auto complete =
      match_route("DELETE", "/devices/d%2B1/messages/devicebound/abc?api-version=1");
  CHECK(complete.kind == route_kind::device_complete_c2d);
  CHECK(complete.device_id == "d+1");
  CHECK(complete.lock_token == "abc");
  CHECK(match_route("DELETE", "/devices/d/messages/devicebound/abc?api-version=1&reject").kind ==
        route_kind::device_reject_c2d);
  CHECK(match_route("DELETE", "/devices/d/messages/devicebound/abc?reject=true").kind ==
        route_kind::device_reject_c2d);
  CHECK(match_route("DELETE", "/devices/d/messages/devicebound/abc?rejected").kind ==
        route_kind::device_complete_c2d);
  CHECK(match_route("POST", "/devices/d/messages/devicebound/abc/abandon").kind ==
        route_kind::device_abandon_c2d);
  CHECK(match_route("GET", "/devices/d/messages/events").kind == route_kind::method_not_allowed);
  CHECK(match_route("PUT", "/devices/d/messages/devicebound").kind ==
        route_kind::method_not_allowed);
  CHECK(match_route("POST", "/devices/d/messages/devicebound/abc/other").kind ==
        route_kind::not_found);
  CHECK(match_route("DELETE", "/devices/d/messages/devicebound/").kind == route_kind::not_found);
  CHECK(match_route("GET", "/devices/d/messages/other").kind == route_kind::not_found);
  CHECK(is_device_api(route_kind::device_abandon_c2d));
  CHECK_FALSE(is_device_api(route_kind::get_device));
}

TEST_CASE("lock tokens have a GUID's shape and round-trip; anything else is refused") {
  const lock_token t{0x0123456789abcdefULL, 42};
  const std::string text = to_string(t);
  CHECK(text == "01234567-89ab-cdef-0000-00000000002a");
  CHECK(parse_lock_token(text) == t);
  CHECK(parse_lock_token("\"" + text + "\"") == t);  // the C SDK's quoted If-Match
  CHECK(parse_lock_token("01234567-89AB-CDEF-0000-00000000002A") == t);
  CHECK_FALSE(parse_lock_token(""));
  CHECK_FALSE(parse_lock_token("abc"));
  CHECK_FALSE(parse_lock_token("01234567-89ab-cdef-0000-00000000002"));
  CHECK_FALSE(parse_lock_token("01234567089ab-cdef-0000-00000000002a"));
  CHECK_FALSE(parse_lock_token("0123456g-89ab-cdef-0000-00000000002a"));
  CHECK_FALSE(parse_lock_token("\"01234567-89ab-cdef-0000-00000000002a"));
}

TEST_CASE("message headers become the properties the MQTT property bag would give") {
  http_request r;
  r.body = "hello";
  r.message_headers = {{"iothub-to", "/devices/dev1/messages/events"},
                       {"iothub-app-temperature", "21"},
                       {"IoTHub-App-Mixed", "x"},
                       {"dt-subject", "thermostat1"},
                       {"IoTHub-MessageId", "m1"},
                       {"IoTHub-CorrelationId", "c1"},
                       {"IoTHub-UserId", "u1"},
                       {"iothub-contenttype", "application/json"},
                       {"iothub-contentencoding", "utf-8"},
                       {"IoTHub-Expiry", "2030-01-01T00:00:00Z"},
                       {"iothub-interface-id", "dtmi:x;1"},
                       {"IoTHub-Ack", "full"},
                       {"iothub-something-else", "ignored"},
                       {"iothub-app-$.mid", "posing"}};
  const auto m = parse_device_messages(r);
  REQUIRE(m);
  REQUIRE(m->size() == 1);
  CHECK((*m)[0].body == "hello");
  const std::vector<core::property> expected = {{"temperature", "21"},
                                                {"Mixed", "x"},
                                                {"$.sub", "thermostat1"},
                                                {"$.mid", "m1"},
                                                {"$.cid", "c1"},
                                                {"$.uid", "u1"},
                                                {"$.ct", "application/json"},
                                                {"$.ce", "utf-8"},
                                                {"$.exp", "2030-01-01T00:00:00Z"},
                                                {"$.ifid", "dtmi:x;1"}};
  CHECK((*m)[0].properties == expected);
}

TEST_CASE("a batch is a JSON array of base64 bodies with header-named properties") {
  http_request r;
  r.content_type = "application/vnd.microsoft.iothub.json; charset=utf-8";
  r.body = R"([{"body":")" + core::base64_encode("one") +
           R"(","properties":{"iothub-app-k":"v","dt-subject":"s","iothub-messageid":"m"}},)"
           R"({"body":")" +
           core::base64_encode(std::string("\0\xff", 2)) + R"("}])";
  const auto m = parse_device_messages(r);
  REQUIRE(m);
  REQUIRE(m->size() == 2);
  CHECK((*m)[0].body == "one");
  // A JSON object has no order: the properties come in the order of their names.
  CHECK((*m)[0].properties ==
        std::vector<core::property>{{"$.sub", "s"}, {"k", "v"}, {"$.mid", "m"}});
  CHECK((*m)[1].body == std::string("\0\xff", 2));

  for (const std::string bad :
       {"", "{}", "[]", "[1]", R"([{"nobody":"x"}])", R"([{"body":"!!"}])",
        R"([{"body":"eA==","properties":[]}])", R"([{"body":"eA==","properties":{"a":1}}])"}) {
    r.body = bad;
    const auto refused = parse_device_messages(r);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code == core::hub_error::argument_invalid);
  }
}

TEST_CASE("256 KB per message and per batch; 413 MessageTooLarge beyond") {
  http_request r;
  r.body = std::string(256 * 1024, 'x');
  CHECK(parse_device_messages(r));
  r.message_headers = {{"iothub-app-a", "b"}};
  const auto over = parse_device_messages(r);
  REQUIRE_FALSE(over);
  CHECK(over.error().code == core::hub_error::message_too_large);

  r.content_type = "application/vnd.microsoft.iothub.json";
  const std::string half = core::base64_encode(std::string(130 * 1024, 'y'));
  r.body = R"([{"body":")" + half + R"("},{"body":")" + half + R"("}])";
  const auto batch = parse_device_messages(r);
  REQUIRE_FALSE(batch);
  CHECK(batch.error().code == core::hub_error::message_too_large);
}

TEST_CASE("telemetry over HTTPS is appended with the hub's stamps; spoofed stamps are dropped") {
  device_api_fixture f;
  http_request r;
  r.body = "{\"t\":1}";
  r.message_headers = {{"iothub-app-iothub-connection-device-id", "dev2"},
                       {"iothub-app-temperature", "21"}};
  const auto ok = f.call("POST", "/devices/dev1/messages/events?api-version=2021-04-12", r);
  CHECK(ok.status == 204);
  const auto events = f.hub.telemetry();
  REQUIRE(events.size() == 1);
  CHECK(events[0].device_id == "dev1");
  CHECK(events[0].body == "{\"t\":1}");
  int device_id_stamps = 0;
  for (const auto& p : events[0].properties) {
    if (p.name == "iothub-connection-device-id") {
      ++device_id_stamps;
      CHECK(p.value == "dev1");
    }
    if (p.name == "iothub-connection-auth-method")
      CHECK(p.value == R"({"scope":"device","type":"sas","issuer":"iothub"})");
  }
  CHECK(device_id_stamps == 1);

  SUBCASE("a batch appends every message in order") {
    http_request b;
    b.content_type = "application/vnd.microsoft.iothub.json";
    b.body = R"([{"body":"YQ=="},{"body":"Yg=="},{"body":"Yw=="}])";
    CHECK(f.call("POST", "/devices/dev1/messages/events", b).status == 204);
    const auto all = f.hub.telemetry();
    REQUIRE(all.size() == 4);
    CHECK(all[1].body == "a");
    CHECK(all[2].body == "b");
    CHECK(all[3].body == "c");
  }
  SUBCASE("a hub policy with DeviceConnect may send for the device (hub scope)") {
    http_request h;
    h.authorization = f.token("dev1", connect_key, "device");
    CHECK(f.call("POST", "/devices/dev1/messages/events", h).status == 204);
    const auto all = f.hub.telemetry();
    REQUIRE(all.size() == 2);
    bool hub_scope = false;
    for (const auto& p : all[1].properties)
      hub_scope = hub_scope || p.value == R"({"scope":"hub","type":"sas","issuer":"iothub"})";
    CHECK(hub_scope);
  }
}

TEST_CASE("device API auth: no header, another device's token, a service token, bad input") {
  device_api_fixture f;
  http_request none;
  none.authorization = "";
  auto r =
      handle_device_api(f.hub, f.now, match_route("POST", "/devices/dev1/messages/events"), none);
  CHECK(r.status == 401);

  http_request foreign;
  foreign.authorization = f.token("dev2", other_key);
  CHECK(f.call("POST", "/devices/dev1/messages/events", foreign).status == 401);
  CHECK(f.call("GET", "/devices/dev1/messages/devicebound", foreign).status == 401);

  http_request service;
  service.authorization = f.token("dev1", service_key, "service");
  CHECK(f.call("GET", "/devices/dev1/messages/devicebound", service).status == 401);

  http_request wrong_key;
  wrong_key.authorization = f.token("dev1", other_key);
  CHECK(f.call("POST", "/devices/dev1/messages/events", wrong_key).status == 401);

  // Unknown device: refused like a wrong key (no hint which ids exist).
  http_request ghost;
  ghost.authorization = f.token("ghost", device_key);
  CHECK(f.call("GET", "/devices/ghost/messages/devicebound", ghost).status == 401);

  // An unauthenticated bad batch is 401, not 400: the token is checked first.
  http_request bad_batch;
  bad_batch.authorization = f.token("dev2", other_key);
  bad_batch.content_type = "application/vnd.microsoft.iothub.json";
  bad_batch.body = "not json";
  CHECK(f.call("POST", "/devices/dev1/messages/events", bad_batch).status == 401);
  bad_batch.authorization = f.token();
  CHECK(f.call("POST", "/devices/dev1/messages/events", bad_batch).status == 400);
  CHECK(f.hub.telemetry().empty());
}

TEST_CASE("receive locks the oldest message; complete, reject and abandon settle it") {
  device_api_fixture f;
  CHECK(f.call("GET", "/devices/dev1/messages/devicebound").status == 204);
  f.send_c2d("one");
  f.send_c2d("two");
  auto got = f.call("GET", "/devices/dev1/messages/devicebound?api-version=2021-04-12");
  REQUIRE(got.status == 200);
  CHECK(got.body == "one");
  CHECK(header(got, "iothub-messageid") == "mid-one");
  CHECK(header(got, "iothub-correlationid") == "cid-one");
  CHECK(header(got, "iothub-app-color") == "red");
  CHECK(header(got, "iothub-app-bad name").empty());  // not a header name: left out
  CHECK(header(got, "iothub-app-ctl") == "a b");
  CHECK(header(got, "iothub-ack") == "full");
  CHECK(header(got, "iothub-deliverycount") == "0");
  CHECK(header(got, "ContentType") == "text/plain");
  CHECK(header(got, "iothub-to") == "/devices/dev1/messages/deviceBound");
  CHECK_FALSE(header(got, "iothub-enqueuedtime").empty());
  const std::string lock = etag_token(got);

  SUBCASE("complete: 204, feedback Success, the next message comes") {
    http_request r;
    r.if_match = lock;  // Node: bare
    CHECK(f.call("DELETE", "/devices/dev1/messages/devicebound/" + lock + "?api-version=1", r)
              .status == 204);
    const auto pending = f.hub.pending_feedback();
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].status == core::feedback_status::success);
    const auto next = f.call("GET", "/devices/dev1/messages/devicebound");
    REQUIRE(next.status == 200);
    CHECK(next.body == "two");
    SUBCASE("the same token again is lock lost (412)") {
      const auto again = f.call("DELETE", "/devices/dev1/messages/devicebound/" + lock);
      CHECK(again.status == 412);
      CHECK(header(again, "iothub-errorcode") == "DeviceMessageLockLost");
    }
  }
  SUBCASE("reject: 204, dead-lettered with feedback Rejected") {
    http_request r;
    r.if_match = "\"" + lock + "\"";  // C: quoted
    CHECK(f.call("DELETE", "/devices/dev1/messages/devicebound/" + lock + "?reject", r).status ==
          204);
    const auto pending = f.hub.pending_feedback();
    REQUIRE(pending.size() == 1);
    CHECK(pending[0].status == core::feedback_status::rejected);
    CHECK(f.hub.queue_of("dev1").size() == 1);
  }
  SUBCASE("abandon: 204, back in the queue with one delivery counted") {
    CHECK(f.call("POST", "/devices/dev1/messages/devicebound/" + lock + "/abandon").status == 204);
    const auto again = f.call("GET", "/devices/dev1/messages/devicebound");
    REQUIRE(again.status == 200);
    CHECK(again.body == "one");
    CHECK(header(again, "iothub-deliverycount") == "1");
    CHECK(etag_token(again) != lock);
    CHECK(f.call("DELETE", "/devices/dev1/messages/devicebound/" + lock).status == 412);
  }
  SUBCASE("the lock times out: the token is lost, the message comes again") {
    f.now += f.hub.settings().c2d_lock_timeout + std::chrono::seconds(1);
    f.hub.advance(f.now);
    CHECK(f.call("DELETE", "/devices/dev1/messages/devicebound/" + lock).status == 412);
    const auto again = f.call("GET", "/devices/dev1/messages/devicebound");
    REQUIRE(again.status == 200);
    CHECK(again.body == "one");
  }
  SUBCASE("bad tokens: malformed 400, If-Match of another token 412, another device's 412") {
    CHECK(f.call("DELETE", "/devices/dev1/messages/devicebound/not-a-token").status == 400);
    http_request mismatch;
    mismatch.if_match = to_string(lock_token{1, 2});
    const auto pre = f.call("DELETE", "/devices/dev1/messages/devicebound/" + lock, mismatch);
    CHECK(pre.status == 412);
    CHECK(header(pre, "iothub-errorcode") == "PreconditionFailed");
    http_request dev2;
    dev2.authorization = f.token("dev2", other_key);
    CHECK(f.call("DELETE", "/devices/dev2/messages/devicebound/" + lock, dev2).status == 412);
    // Still locked for dev1: its own token completes it.
    CHECK(f.call("DELETE", "/devices/dev1/messages/devicebound/" + lock).status == 204);
  }
}
