// Hub-level authentication (spec §5): which tokens open which endpoints.
#include <doctest/doctest.h>

#include "emulator/core/sas_token.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {
std::int64_t secs(time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
}  // namespace

TEST_CASE("device token: valid, wrong key, tampered, expired, wrong scope, other device") {
  fixture f;
  const auto se = secs(f.now) + 3600;
  const auto good = make_sas_token("testhub.localhost/devices/dev1", device_key, "", se);
  auto g = f.h.authenticate_device(good, "dev1", f.now);
  REQUIRE(g.ok());
  CHECK(g->device_id == "dev1");
  CHECK(g->expiry == time_point{std::chrono::seconds{se}} + 5min);

  CHECK_FALSE(f.h.authenticate_device(
      make_sas_token("testhub.localhost/devices/dev1", owner_key, "", se), "dev1", f.now));
  auto tampered = good;
  tampered[tampered.find("sig=") + 5] ^= 1;
  CHECK_FALSE(f.h.authenticate_device(tampered, "dev1", f.now));
  CHECK(f.h.authenticate_device(good, "dev1", f.now + 1h + 5min - 1ms).ok());  // skew
  const auto expired = f.h.authenticate_device(good, "dev1", f.now + 1h + 5min);
  REQUIRE_FALSE(expired.ok());
  CHECK(expired.error().code == hub_error::unauthorized);
  CHECK(expired.error().message.find("expired") != std::string::npos);

  // Scope: another hub, a sibling path, and another device's token.
  CHECK_FALSE(f.h.authenticate_device(
      make_sas_token("otherhub.localhost/devices/dev1", device_key, "", se), "dev1", f.now));
  CHECK_FALSE(f.h.authenticate_device(
      make_sas_token("testhub.localhost/devices/dev10", device_key, "", se), "dev1", f.now));
  device_spec spec;
  spec.id = "dev2";
  spec.primary_key = base64_encode(std::string(32, '2'));
  REQUIRE(f.h.create_device(spec, f.now).ok());
  const auto dev2_token =
      make_sas_token("testhub.localhost/devices/dev2", spec.primary_key, "", se);
  CHECK(f.h.authenticate_device(dev2_token, "dev2", f.now).ok());
  CHECK_FALSE(f.h.authenticate_device(dev2_token, "dev1", f.now));  // A's token used by B
}

TEST_CASE("device token: host with a port, secondary key, disabled and unknown devices") {
  fixture f;
  const auto se = secs(f.now) + 60;
  CHECK(f.h.authenticate_device(
               make_sas_token("testhub.localhost:18883/devices/dev1", device_key, "", se), "dev1",
               f.now)
            .ok());
  CHECK_FALSE(f.h.authenticate_device(
      make_sas_token("testhub.localhost:x/devices/dev1", device_key, "", se), "dev1", f.now));
  const auto secondary = f.h.find_device("dev1")->secondary_key;
  CHECK(f.h.authenticate_device(make_sas_token("testhub.localhost/devices/dev1", secondary, "", se),
                                "dev1", f.now)
            .ok());
  CHECK_FALSE(f.h.authenticate_device(
      make_sas_token("testhub.localhost/devices/ghost", device_key, "", se), "ghost", f.now));
  device_spec spec;
  spec.id = "dev1";
  spec.status = device_status::disabled;
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  CHECK_FALSE(f.h.authenticate_device(
      make_sas_token("testhub.localhost/devices/dev1", device_key, "", se), "dev1", f.now));
}

TEST_CASE("device endpoint with a hub policy token needs DeviceConnect") {
  fixture f;
  const auto se = secs(f.now) + 60;
  CHECK(f.h.authenticate_device(make_sas_token("testhub.localhost", owner_key, "iothubowner", se),
                                "dev1", f.now)
            .ok());
  CHECK(f.h.authenticate_device(
               make_sas_token("testhub.localhost/devices", owner_key, "iothubowner", se), "dev1",
               f.now)
            .ok());
  CHECK_FALSE(f.h.authenticate_device(
      make_sas_token("testhub.localhost", service_key, "service", se), "dev1", f.now));
}

TEST_CASE("service token: policy, permission, device token refused") {
  fixture f;
  const auto se = secs(f.now) + 60;
  const auto owner = make_sas_token("testhub.localhost", owner_key, "iothubowner", se);
  const auto svc = make_sas_token("testhub.localhost", service_key, "service", se);
  const auto reg = make_sas_token("testhub.localhost", registry_read_key, "registryRead", se);
  CHECK(f.h.authenticate_service(owner, permission::service_connect, f.now).ok());
  CHECK(f.h.authenticate_service(owner, permission::registry_write, f.now).ok());
  CHECK(f.h.authenticate_service(svc, permission::service_connect, f.now).ok());
  CHECK_FALSE(f.h.authenticate_service(svc, permission::registry_read, f.now));
  const auto no_connect = f.h.authenticate_service(reg, permission::service_connect, f.now);
  REQUIRE_FALSE(no_connect.ok());
  CHECK(no_connect.error().message.find("ServiceConnect") != std::string::npos);
  CHECK(f.h.authenticate_service(reg, permission::registry_read, f.now).ok());
  // A device token on the service endpoint.
  CHECK_FALSE(
      f.h.authenticate_service(make_sas_token("testhub.localhost/devices/dev1", device_key, "", se),
                               permission::service_connect, f.now));
  // Unknown policy, wrong key for a known policy, another hub, expired.
  CHECK_FALSE(f.h.authenticate_service(make_sas_token("testhub.localhost", owner_key, "nobody", se),
                                       permission::service_connect, f.now));
  CHECK_FALSE(
      f.h.authenticate_service(make_sas_token("testhub.localhost", owner_key, "service", se),
                               permission::service_connect, f.now));
  CHECK_FALSE(
      f.h.authenticate_service(make_sas_token("evil.localhost", owner_key, "iothubowner", se),
                               permission::service_connect, f.now));
  CHECK_FALSE(f.h.authenticate_service(owner, permission::service_connect, f.now + 60s + 5min));
  CHECK_FALSE(f.h.authenticate_service("garbage", permission::service_connect, f.now));
}

TEST_CASE("error messages never contain the token or a key") {
  fixture f;
  const auto se = secs(f.now) + 60;
  const auto bad = make_sas_token("testhub.localhost", service_key, "iothubowner", se);
  const auto r = f.h.authenticate_service(bad, permission::service_connect, f.now);
  REQUIRE_FALSE(r.ok());
  const auto sig = bad.substr(bad.find("sig=") + 4, 20);
  CHECK(r.error().message.find(sig) == std::string::npos);
  CHECK(r.error().message.find(owner_key) == std::string::npos);
}
