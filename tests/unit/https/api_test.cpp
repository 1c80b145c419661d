// The registry and test-control handlers as pure functions of a hub (no sockets): status codes
// and bodies of spec §7 / sdk-wire §3, SAS permissions of spec §5.3.
#include <doctest/doctest.h>

#include <chrono>
#include <set>
#include <string>
#include <variant>

#include <nlohmann/json.hpp>

#include "emulator/core/crypto.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/https/device_json.hpp"
#include "emulator/https/error_response.hpp"
#include "emulator/https/registry_api.hpp"
#include "emulator/https/test_control_api.hpp"

using namespace emu;
using namespace emu::https;
using json = nlohmann::json;

namespace {

const std::string owner_key = core::base64_encode(std::string(32, 'o'));
const std::string read_key = core::base64_encode(std::string(32, 'r'));
const std::string service_key = core::base64_encode(std::string(32, 's'));

core::hub_settings settings() {
  core::hub_settings s;
  s.hub_name = "testhub";
  s.host_name = "testhub.localhost";
  using core::permission;
  s.policies = {
      {"iothubowner", owner_key, owner_key,
       permission::registry_read | permission::registry_write | permission::service_connect},
      {"registryRead", read_key, read_key,
       static_cast<core::permission_set>(permission::registry_read)},
      {"service", service_key, service_key,
       static_cast<core::permission_set>(permission::service_connect)},
  };
  return s;
}

struct api {
  core::hub hub{settings()};
  core::time_point now = core::time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

  std::string token(const std::string& policy = "iothubowner", const std::string& key = owner_key) {
    const auto se = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    return core::make_sas_token("testhub.localhost", key, policy, se.count() + 3600);
  }
  http_response call(const std::string& method, const std::string& target, std::string body = {},
                     std::string if_match = {}, std::string auth = "owner") {
    http_request r;
    r.method = method;
    r.target = target;
    r.authorization = auth == "owner" ? token() : auth;
    r.if_match = std::move(if_match);
    r.body = std::move(body);
    const auto rt = match_route(method, target);
    return is_admin(rt.kind) ? handle_test_control(hub, now, rt, r)
                             : handle_registry(hub, now, rt, r);
  }
};

std::string header(const http_response& r, const std::string& name) {
  for (const auto& [n, v] : r.headers)
    if (n == name) return v;
  return {};
}

std::string error_code(const http_response& r) {
  return header(r, "iothub-errorcode");
}

}  // namespace

TEST_CASE("create generates keys and answers the device JSON of spec §7") {
  api a;
  const auto r = a.call("PUT", "/devices/dev1?api-version=2021-04-12",
                        R"({"deviceId":"dev1","authentication":{"type":"sas",)"
                        R"("symmetricKey":{"primaryKey":"","secondaryKey":""}}})");
  REQUIRE(r.status == 200);
  CHECK(r.content_type == "application/json; charset=utf-8");
  const auto d = json::parse(r.body);
  CHECK(d["deviceId"] == "dev1");
  CHECK(d["status"] == "enabled");
  CHECK(d["statusReason"].is_null());
  CHECK(d["connectionState"] == "Disconnected");
  CHECK(d["connectionStateUpdatedTime"] == "0001-01-01T00:00:00Z");
  CHECK(d["lastActivityTime"] == "0001-01-01T00:00:00Z");
  CHECK(d["statusUpdatedTime"] == "2026-01-01T00:00:00.0000000Z");
  CHECK(d["cloudToDeviceMessageCount"] == 0);
  CHECK(d["authentication"]["type"] == "sas");
  CHECK(core::base64_decode(d["authentication"]["symmetricKey"]["primaryKey"].get<std::string>())
            ->size() == 32);
  CHECK(d["authentication"]["x509Thumbprint"]["primaryThumbprint"].is_null());
  CHECK(d["capabilities"]["iotEdge"] == false);
  CHECK(header(r, "ETag") == "\"" + d["etag"].get<std::string>() + "\"");
  CHECK(a.hub.find_device("dev1") != nullptr);
}

TEST_CASE("create twice is 409; update needs If-Match; stale etag is 412; missing is 404") {
  api a;
  const auto created = a.call("PUT", "/devices/d", "{}");
  REQUIRE(created.status == 200);
  const auto etag = json::parse(created.body)["etag"].get<std::string>();

  const auto again = a.call("PUT", "/devices/d", "{}");
  CHECK(again.status == 409);
  CHECK(error_code(again) == "DeviceAlreadyExists");
  CHECK(json::parse(again.body)["Message"].get<std::string>().starts_with(
      "ErrorCode:DeviceAlreadyExists;"));

  const auto updated = a.call("PUT", "/devices/d", R"({"status":"disabled"})", "\"" + etag + "\"");
  REQUIRE(updated.status == 200);
  CHECK(json::parse(updated.body)["status"] == "disabled");
  CHECK(json::parse(updated.body)["etag"] != etag);

  const auto stale = a.call("PUT", "/devices/d", R"({"status":"enabled"})", "\"" + etag + "\"");
  CHECK(stale.status == 412);
  CHECK(error_code(stale) == "PreconditionFailed");

  CHECK(a.call("PUT", "/devices/d", R"({"status":"enabled"})", "\"*\"").status == 200);
  CHECK(a.call("PUT", "/devices/d", R"({"status":"enabled"})", "W/\"*\"").status == 200);

  const auto missing = a.call("PUT", "/devices/other", "{}", "\"*\"");
  CHECK(missing.status == 404);
  CHECK(error_code(missing) == "DeviceNotFound");
}

TEST_CASE("bad bodies are 400 ArgumentInvalid") {
  api a;
  for (const char* body : {"", "[]", "{nope", R"({"deviceId":"other"})", R"({"status":"on"})",
                           R"({"authentication":{"type":"selfSigned"}})",
                           R"({"authentication":{"symmetricKey":{"primaryKey":"not base64!"}}})",
                           R"({"authentication":{"symmetricKey":{"primaryKey":5}}})"}) {
    const auto r = a.call("PUT", "/devices/d", body);
    CHECK_MESSAGE(r.status == 400, body);
    CHECK_MESSAGE(error_code(r) == "ArgumentInvalid", body);
  }
  const auto bad_id = a.call("PUT", "/devices/has%20space", "{}");
  CHECK(bad_id.status == 400);
  CHECK(a.hub.list_devices().empty());
}

TEST_CASE("get, list, delete with etags") {
  api a;
  REQUIRE(a.call("PUT", "/devices/d1", "{}").status == 200);
  REQUIRE(a.call("PUT", "/devices/d2", "{}").status == 200);
  const auto got = a.call("GET", "/devices/d1");
  CHECK(got.status == 200);
  const auto list = json::parse(a.call("GET", "/devices/").body);
  REQUIRE(list.size() == 2);
  CHECK(list[0]["deviceId"] == "d1");

  CHECK(a.call("DELETE", "/devices/d1", "", "\"not-the-etag\"").status == 412);
  const auto deleted = a.call("DELETE", "/devices/d1", "", "\"*\"");
  CHECK(deleted.status == 204);
  CHECK(deleted.body.empty());
  CHECK(a.call("GET", "/devices/d1").status == 404);
  CHECK(a.call("DELETE", "/devices/d1").status == 404);
  const auto etag = json::parse(a.call("GET", "/devices/d2").body)["etag"].get<std::string>();
  CHECK(a.call("DELETE", "/devices/d2", "", "\"" + etag + "\"").status == 204);
}

TEST_CASE("purge answers the count and empties the queue (spec §1.7)") {
  api a;
  REQUIRE(a.call("PUT", "/devices/d", "{}").status == 200);
  for (int i = 0; i < 3; ++i) {
    const auto r = a.call("POST", "/admin/devices/d/messages", R"({"body":"x"})");
    REQUIRE(r.status == 201);
  }
  CHECK(json::parse(a.call("GET", "/devices/d").body)["cloudToDeviceMessageCount"] == 3);
  const auto purged = a.call("DELETE", "/devices/d/commands");
  REQUIRE(purged.status == 200);
  CHECK(json::parse(purged.body) == json{{"deviceId", "d"}, {"totalMessagesPurged", 3}});
  CHECK(a.hub.queued_count("d") == 0);
  CHECK(a.call("DELETE", "/devices/none/commands").status == 404);
}

TEST_CASE("SAS permissions: RegistryRead reads, RegistryWrite writes, ServiceConnect purges") {
  api a;
  REQUIRE(a.call("PUT", "/devices/d", "{}").status == 200);
  const auto reader = a.token("registryRead", read_key);
  const auto service = a.token("service", service_key);
  CHECK(a.call("GET", "/devices/d", "", "", reader).status == 200);
  CHECK(a.call("GET", "/devices", "", "", reader).status == 200);
  const auto denied = a.call("PUT", "/devices/e", "{}", "", reader);
  CHECK(denied.status == 401);
  CHECK(error_code(denied) == "IotHubUnauthorizedAccess");
  CHECK(a.call("DELETE", "/devices/d", "", "", reader).status == 401);
  CHECK(a.call("DELETE", "/devices/d/commands", "", "", reader).status == 401);
  CHECK(a.call("GET", "/devices/d", "", "", service).status == 401);
  CHECK(a.call("DELETE", "/devices/d/commands", "", "", service).status == 200);
  CHECK(a.call("GET", "/devices/d", "", "", "").status == 401);
  CHECK(a.call("GET", "/devices/d", "", "", "SharedAccessSignature garbage").status == 401);
  CHECK(a.call("GET", "/devices/d", "", "", a.token("iothubowner", read_key)).status == 401);
}

TEST_CASE("error bodies: the Node SDK's split on ';' and ':' finds code and text") {
  const auto r = error_response(404, "DeviceNotFound", "Device x; y not found.");
  const auto m = json::parse(r.body)["Message"].get<std::string>();
  CHECK(m == "ErrorCode:DeviceNotFound;Device x, y not found.");
  CHECK(json::parse(r.body)["ExceptionMessage"] == "");
  CHECK(http_status(core::hub_error::device_maximum_queue_depth_exceeded) == 403);
  CHECK(http_status(core::hub_error::message_too_large) == 413);
  CHECK(http_status(core::hub_error::unauthorized) == 401);
}

TEST_CASE("test control: queue view, admission, feedback after expiry, reset") {
  api a;
  REQUIRE(a.call("PUT", "/devices/d", "{}").status == 200);
  const auto sent = a.call("POST", "/admin/devices/d/messages",
                           R"({"messageId":"m1","correlationId":"c1","ack":"full",)"
                           R"("properties":{"k":"v"},"body":"hi","ttlSeconds":30})");
  REQUIRE(sent.status == 201);
  const auto seq = json::parse(sent.body)["seq"];
  const auto queue = json::parse(a.call("GET", "/admin/devices/d/messages").body);
  REQUIRE(queue.size() == 1);
  CHECK(queue[0]["seq"] == seq);
  CHECK(queue[0]["messageId"] == "m1");
  CHECK(queue[0]["correlationId"] == "c1");
  CHECK(queue[0]["state"] == "Enqueued");
  CHECK(queue[0]["ack"] == "full");
  CHECK(queue[0]["properties"] == json{{"k", "v"}});
  CHECK(queue[0]["body"] == "hi");
  CHECK(queue[0]["expiryTimeUtc"] == "2026-01-01T00:00:30.0000000Z");

  // Locked by a delivery: Invisible with a lock expiry.
  REQUIRE(a.hub.lock_next("d", a.now));
  const auto locked = json::parse(a.call("GET", "/admin/devices/d/messages").body);
  CHECK(locked[0]["state"] == "Invisible");
  CHECK(locked[0]["lockExpiryUtc"].is_string());

  a.now += std::chrono::seconds(31);
  a.hub.advance(a.now);
  CHECK(json::parse(a.call("GET", "/admin/devices/d/messages").body).empty());
  const auto fb = json::parse(a.call("GET", "/admin/feedback").body);
  std::vector<json> records(fb["pending"].begin(), fb["pending"].end());
  for (const auto& b : fb["batches"])
    records.insert(records.end(), b["records"].begin(), b["records"].end());
  REQUIRE(records.size() == 1);
  CHECK(records[0]["originalMessageId"] == "m1");
  CHECK(records[0]["statusCode"] == "Expired");
  CHECK(records[0]["description"] == "Expired");

  CHECK(a.call("GET", "/admin/devices/ghost/messages").status == 404);
  const auto ghost = a.call("POST", "/admin/devices/ghost/messages", "{}");
  CHECK(ghost.status == 404);
  CHECK(error_code(ghost) == "DeviceNotFound");
  CHECK(a.call("GET", "/admin/telemetry").body == "[]");

  CHECK(a.call("POST", "/admin/reset", "{}").status == 200);
  CHECK(a.hub.list_devices().empty());
}

TEST_CASE("test control: message parsing") {
  const auto now = core::from_unix_ms(1'000'000);
  auto c = parse_admin_message(R"({"bodyBase64":"AP8=","expiryTimeUtc":"1970-01-01T00:20:00Z"})",
                               "dev", now);
  REQUIRE(c);
  CHECK(c->body == std::string("\x00\xff", 2));
  CHECK(c->absolute_expiry == core::from_unix_ms(1'200'000));
  CHECK(c->to == "/devices/dev/messages/devicebound");
  CHECK(c->ack == core::ack_mode::none);
  CHECK(parse_admin_message("", "dev", now));
  for (const char* bad :
       {"[]", R"({"ack":"FULL"})", R"({"body":"a","bodyBase64":"YQ=="})", R"({"bodyBase64":"!"})",
        R"({"properties":{"a":1}})", R"({"properties":{"iothub-ack":"full"}})",
        R"({"expiryTimeUtc":"tomorrow"})", R"({"ttlSeconds":"5"})",
        R"({"ttlSeconds":1,"expiryTimeUtc":"1970-01-01T00:20:00Z"})", R"({"messageId":7})"})
    CHECK_MESSAGE(!parse_admin_message(bad, "dev", now), bad);
}

TEST_CASE("non-UTF-8 bytes never break a JSON answer") {
  core::telemetry_message t;
  t.device_id = "d";
  t.properties = {{"k", "\xff"}};
  t.body = "\xfe";
  const auto r = json_response(json::array({telemetry_json(t)}));
  const auto parsed = json::parse(r.body);
  CHECK(parsed[0]["body"].is_null());
  CHECK(parsed[0]["bodyBase64"] == "/g==");
}

TEST_CASE("test control: faults for a device, the fault log, and what a fault body may say") {
  api a;
  REQUIRE(a.call("PUT", "/devices/d", "{}").status == 200);
  // Offline: nothing to cut (404103); unknown device 404001; bad bodies 400.
  const auto offline = a.call("POST", "/admin/devices/d/faults", R"({"type":"KillTcp"})");
  CHECK(offline.status == 404);
  CHECK(error_code(offline) == "DeviceNotOnline");
  CHECK(error_code(a.call("POST", "/admin/devices/ghost/faults", R"({"type":"KillTcp"})")) ==
        "DeviceNotFound");
  for (const char* bad :
       {"", "[]", "{}", R"({"type":"Explode"})", R"({"type":7})",
        R"({"type":"KillTcp","delayInSecs":"soon"})", R"({"type":"KillTcp","delayInSecs":-1})",
        R"({"type":"InvokeThrottling","durationInSecs":true})",
        R"({"type":"KillTcp","reason":5})"}) {
    const auto r = a.call("POST", "/admin/devices/d/faults", bad);
    CHECK_MESSAGE(r.status == 400, bad);
    CHECK_MESSAGE(error_code(r) == "ArgumentInvalid", bad);
  }
  // A window needs no connection; the log shows it.
  const auto w = a.call("POST", "/admin/devices/d/faults",
                        R"({"type":"InvokeThrottling","delayInSecs":0,"durationInSecs":"30"})");
  CHECK(w.status == 200);
  a.now += std::chrono::seconds(1);
  const auto refused = a.hub.fault_refusal("d", a.now);
  REQUIRE(refused.has_value());
  CHECK(refused->code == core::hub_error::throttled);
  const auto log = json::parse(a.call("GET", "/admin/faults").body);
  REQUIRE(log.size() == 2);
  CHECK(log[0]["deviceId"] == "d");
  CHECK(log[0]["moduleId"].is_null());
  CHECK(log[0]["type"] == "InvokeThrottling");
  CHECK(log[0]["event"] == "requested");
  CHECK(log[0]["detail"] == "test control");
  CHECK(log[1]["event"] == "applied");
  CHECK(log[1]["timeUtc"] == "2026-01-01T00:00:00.0000000Z");
  CHECK(log[1]["id"].get<int>() > log[0]["id"].get<int>());

  const auto parsed =
      parse_admin_fault(R"({"type":"killamqpsession","delayInSecs":2.5,"reason":"x"})");
  REQUIRE(parsed);
  CHECK(parsed->kind == core::fault_kind::kill_amqp_session);
  CHECK(parsed->delay == std::chrono::milliseconds(2500));
  CHECK(parsed->reason == "x");
}

TEST_CASE(
    "test control: chaos settings are read, merged and checked; tokens/expire tells the fronts") {
  api a;
  const auto empty = json::parse(a.call("GET", "/admin/chaos").body);
  CHECK(empty == json{{"commitDelayMs", 0},
                      {"failNextCommits", 0},
                      {"failNextWrites", 0},
                      {"failNextSyncs", 0},
                      {"rejectNextPutTokens", 0},
                      {"pausedFronts", json::array()}});
  const auto set = a.call("PATCH", "/admin/chaos",
                          R"({"commitDelayMs":250,"failNextCommits":3,"failNextSyncs":2,)"
                          R"("pausedFronts":["amqp"]})");
  REQUIRE(set.status == 200);
  CHECK(json::parse(set.body) == json{{"commitDelayMs", 250},
                                      {"failNextCommits", 3},
                                      {"failNextWrites", 0},
                                      {"failNextSyncs", 2},
                                      {"rejectNextPutTokens", 0},
                                      {"pausedFronts", {"amqp"}}});
  CHECK(a.hub.test_faults().commit_delay == std::chrono::milliseconds(250));
  // Pausing tells the fronts; an unchanged set does not.
  auto events = a.hub.take_events();
  REQUIRE(events.size() == 1);
  const auto* paused = std::get_if<core::event::fronts_paused>(&events[0]);
  REQUIRE(paused != nullptr);
  CHECK(paused->paused == std::set<std::string>{"amqp"});
  REQUIRE(a.call("PATCH", "/admin/chaos", R"({"rejectNextPutTokens":1,"pausedFronts":["amqp"]})")
              .status == 200);
  CHECK(a.hub.take_events().empty());
  CHECK(a.hub.test_faults().failing_commits == 3);  // members not given stay
  CHECK(a.hub.test_faults().rejected_put_tokens == 1);
  CHECK(a.hub.test_faults().io == core::storage_io_faults{0, 2});
  for (const char* bad :
       {"[]", R"({"failNextCommits":-1})", R"({"failNextSyncs":"1"})", R"({"failNextWrites":-2})",
        R"({"commitDelayMs":60001})", R"({"commitDelayMs":1.5})", R"({"pausedFronts":["https"]})",
        R"({"pausedFronts":"mqtt"})", R"({"other":1})"}) {
    const auto r = a.call("PATCH", "/admin/chaos", bad);
    CHECK_MESSAGE(r.status == 400, bad);
  }
  CHECK(a.call("POST", "/admin/tokens/expire").status == 200);
  events = a.hub.take_events();
  REQUIRE(events.size() == 1);
  CHECK(std::holds_alternative<core::event::tokens_expired>(events[0]));
  // A reset clears every chaos setting and resumes the fronts.
  CHECK(a.call("POST", "/admin/reset", "{}").status == 200);
  CHECK(a.hub.test_faults().failing_commits == 0);
  CHECK(a.hub.test_faults().paused_fronts.empty());
}
