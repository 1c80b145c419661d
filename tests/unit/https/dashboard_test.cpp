// The dashboard's data (dashboard_api.hpp) as pure functions of a hub: who may read it (SAS
// rules for remote peers), what it shows (bounded), and that keys go to trusted peers only.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <variant>

#include "emulator/core/crypto.hpp"
#include "emulator/core/hub.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/https/dashboard_activity.hpp"
#include "emulator/https/dashboard_api.hpp"

using namespace emu;
using namespace emu::https;

namespace {

const std::string owner_key = core::base64_encode(std::string(32, 'o'));
const std::string service_key = core::base64_encode(std::string(32, 's'));

core::hub_settings settings() {
  core::hub_settings s;
  s.hub_name = "testhub";
  s.host_name = "testhub.localhost";
  using core::permission;
  s.policies = {
      {"iothubowner", owner_key, owner_key,
       permission::registry_read | permission::registry_write | permission::service_connect},
      {"service", service_key, service_key,
       static_cast<core::permission_set>(permission::service_connect)},
  };
  return s;
}

struct fixture {
  core::hub hub{settings()};
  core::time_point now = core::time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

  fixture() {
    core::device_spec d;
    d.id = "dev1";
    REQUIRE(hub.create_device(d, now));
  }
  std::string token(const std::string& policy, const std::string& key) {
    const auto se = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch());
    return core::make_sas_token("testhub.localhost", key, policy, se.count() + 3600);
  }
  hub_answer look(const std::string& device, const std::string& tok, bool trusted) {
    return dashboard_call(device, tok, trusted)(hub, now);
  }
};

}  // namespace

TEST_CASE("a trusted (loopback) look needs no token; a remote one needs RegistryRead") {
  fixture f;
  CHECK(std::holds_alternative<std::shared_ptr<const dashboard_view>>(f.look("", "", true)));
  const auto none = f.look("", "", false);
  REQUIRE(std::holds_alternative<core::error>(none));
  CHECK(std::get<core::error>(none).code == core::hub_error::unauthorized);
  // The service policy has ServiceConnect only: not enough to read the registry.
  CHECK(std::holds_alternative<core::error>(f.look("", f.token("service", service_key), false)));
  CHECK(std::holds_alternative<std::shared_ptr<const dashboard_view>>(
      f.look("", f.token("iothubowner", owner_key), false)));
}

TEST_CASE("the view: devices, the selected device's queue and twin; keys only when trusted") {
  fixture f;
  core::c2d_content m;
  m.body = "hello";
  m.message_id = "m1";
  REQUIRE(f.hub.enqueue("dev1", m, f.now));
  const auto a = f.look("dev1", "", true);
  const auto& v = *std::get<std::shared_ptr<const dashboard_view>>(a);
  REQUIRE(v.devices.size() == 1);
  CHECK(v.devices[0].queued == 1);
  REQUIRE(v.selected);
  CHECK(v.queue.size() == 1);

  dashboard_site site;
  site.host_name = "testhub.localhost";
  site.policy_connection_strings["iothubowner"] = "HostName=x;SharedAccessKey=" + owner_key;
  const auto trusted = dashboard_json(v, &site, {}, true);
  CHECK(trusted["connectionStrings"]["iothubowner"].get<std::string>().find(owner_key) !=
        std::string::npos);
  const std::string dev_key = f.hub.find_device("dev1")->primary_key;
  CHECK(trusted["connectionStrings"]["devices"]["dev1"].get<std::string>().find(dev_key) !=
        std::string::npos);
  CHECK(trusted["selected"]["queue"][0]["messageId"] == "m1");
  CHECK(trusted["devices"][0]["queued"] == 1);

  const auto remote = dashboard_json(v, &site, {}, false);
  CHECK_FALSE(remote.contains("connectionStrings"));
  const auto text = remote.dump();
  CHECK(text.find(owner_key) == std::string::npos);
  CHECK(text.find(dev_key) == std::string::npos);
  // An unknown selected device is no selection.
  const auto b = f.look("ghost", "", true);
  CHECK_FALSE(std::get<std::shared_ptr<const dashboard_view>>(b)->selected);
}

TEST_CASE("the view is bounded however large the hub is") {
  fixture f;
  for (std::size_t i = 0; i < dashboard_limits::devices + 20; ++i) {
    core::device_spec d;
    d.id = "d" + std::to_string(i);
    REQUIRE(f.hub.create_device(d, f.now));
  }
  for (int i = 0; i < 80; ++i)
    REQUIRE(f.hub.record_telemetry("dev1", {}, "t" + std::to_string(i), f.now));
  const auto a = f.look("", "", true);
  const auto& v = *std::get<std::shared_ptr<const dashboard_view>>(a);
  CHECK(v.devices.size() == dashboard_limits::devices);
  CHECK(v.device_count == dashboard_limits::devices + 21);
  REQUIRE(v.telemetry.size() == dashboard_limits::telemetry);
  CHECK(v.telemetry.back()->body == "t79");  // the newest, oldest first
}

TEST_CASE("the C2D send: ServiceConnect for a remote peer, the hub's admission rules for all") {
  fixture f;
  http_request r;
  r.body = R"({"body": "hi", "ttlSeconds": 60})";
  CHECK(std::holds_alternative<http_response>(prepare_dashboard_send("dev1", r, false)));  // 401
  r.authorization = f.token("service", service_key);
  auto p = prepare_dashboard_send("dev1", r, false);
  REQUIRE(std::holds_alternative<hub_call>(p));
  CHECK(std::holds_alternative<enqueued>(std::get<hub_call>(p)(f.hub, f.now)));
  r.authorization = "SharedAccessSignature sr=x&sig=y&se=1&skn=service";
  auto bad = prepare_dashboard_send("dev1", r, false);
  CHECK(std::holds_alternative<core::error>(std::get<hub_call>(bad)(f.hub, f.now)));
  auto ghost = prepare_dashboard_send("ghost", r, true);
  CHECK(std::holds_alternative<core::error>(std::get<hub_call>(ghost)(f.hub, f.now)));
  CHECK(f.hub.queue_of("dev1").size() == 1);
}

TEST_CASE("the activity feed: method calls with their outcome, bounded to its capacity") {
  dashboard_activity a(3);
  const core::time_point t{};
  a.record(core::event::method_request{"dev1", 1, 7, "reboot", "{}"}, t);
  core::event::method_result r;
  r.call_id = 7;
  r.status = 200;
  r.payload = "{\"ok\":true}";
  a.record(r, t);
  auto lines = a.newest();
  REQUIRE(lines.size() == 2);
  CHECK(lines[1].device_id == "dev1");
  CHECK(lines[1].text == "method 'reboot' answered 200: {\"ok\":true}");
  a.record(core::event::tokens_expired{}, t);
  a.record(core::event::hub_reset{}, t);
  lines = a.newest();
  REQUIRE(lines.size() == 3);
  CHECK(lines.front().seq == 2);
  CHECK(lines.back().text == "the hub was reset (test control)");
}
