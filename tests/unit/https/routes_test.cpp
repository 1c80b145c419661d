// Routing of the HTTPS front: method + raw target -> operation, percent-decoding once.
#include <doctest/doctest.h>

#include "emulator/https/routes.hpp"

using namespace emu::https;

TEST_CASE("registry routes the Node SDK uses (sdk-wire §3)") {
  CHECK(match_route("GET", "/devices/?api-version=2021-04-12").kind == route_kind::list_devices);
  CHECK(match_route("GET", "/devices").kind == route_kind::list_devices);
  const auto get = match_route("GET", "/devices/dev1?api-version=2021-04-12");
  CHECK(get.kind == route_kind::get_device);
  CHECK(get.device_id == "dev1");
  CHECK(match_route("PUT", "/devices/dev1").kind == route_kind::put_device);
  CHECK(match_route("DELETE", "/devices/dev1").kind == route_kind::delete_device);
  const auto purge = match_route("DELETE", "/devices/dev1/commands?api-version=2021-04-12");
  CHECK(purge.kind == route_kind::purge_queue);
  CHECK(purge.device_id == "dev1");
  CHECK(match_route("GET", "/health").kind == route_kind::health);
  CHECK(match_route("GET", "/metrics").kind == route_kind::metrics);
  CHECK(match_route("POST", "/metrics").kind == route_kind::method_not_allowed);
}

TEST_CASE("the device id is percent-decoded exactly once; + stays +") {
  // encodeURIComponent("a%b+c d") = "a%25b%2Bc%20d"
  CHECK(match_route("GET", "/devices/a%25b%2Bc%20d").device_id == "a%b+c d");
  CHECK(match_route("GET", "/devices/a+b").device_id == "a+b");
  CHECK(match_route("GET", "/devices/a%2525").device_id == "a%25");
  // An encoded slash stays inside its segment; no id contains `/`, and `a/b` would be the
  // identity key of module b (core/identity_key.hpp): not found.
  CHECK(match_route("GET", "/devices/a%2Fb").kind == route_kind::not_found);
}

TEST_CASE("malformed, unknown and wrong-method requests") {
  CHECK(match_route("GET", "/devices/a%zz").kind == route_kind::bad_request);
  CHECK(match_route("GET", "/devices/a%2").kind == route_kind::bad_request);
  CHECK(match_route("GET", "/nothing").kind == route_kind::not_found);
  CHECK(match_route("GET", "/dashboard").kind == route_kind::not_found);
  CHECK(match_route("GET", "").kind == route_kind::not_found);
  CHECK(match_route("GET", "/devices/a/b/c").kind == route_kind::not_found);
  CHECK(match_route("GET", "/devices//commands").kind == route_kind::not_found);
  CHECK(match_route("POST", "/devices/dev1").kind == route_kind::method_not_allowed);
  CHECK(match_route("GET", "/devices/dev1/commands").kind == route_kind::method_not_allowed);
  CHECK(match_route("DELETE", "/health").kind == route_kind::method_not_allowed);
}

TEST_CASE("test-control routes") {
  const auto q = match_route("GET", "/admin/devices/my%20dev/messages");
  CHECK(q.kind == route_kind::admin_get_messages);
  CHECK(q.device_id == "my dev");
  CHECK(is_admin(q.kind));
  CHECK(match_route("POST", "/admin/devices/d/messages").kind == route_kind::admin_post_message);
  CHECK(match_route("GET", "/admin/feedback").kind == route_kind::admin_feedback);
  CHECK(match_route("GET", "/admin/telemetry").kind == route_kind::admin_telemetry);
  CHECK(match_route("GET", "/admin/clock").kind == route_kind::admin_clock);
  CHECK(match_route("POST", "/admin/clock/advance").kind == route_kind::admin_clock_advance);
  CHECK(match_route("POST", "/admin/reset").kind == route_kind::admin_reset);
  const auto f = match_route("POST", "/admin/devices/d1/faults");
  CHECK(f.kind == route_kind::admin_post_fault);
  CHECK(f.device_id == "d1");
  CHECK(is_admin(f.kind));
  CHECK(match_route("GET", "/admin/devices/d1/faults").kind == route_kind::method_not_allowed);
  CHECK(match_route("GET", "/admin/faults").kind == route_kind::admin_faults);
  CHECK(is_admin(route_kind::admin_faults));
  CHECK(match_route("POST", "/admin/faults").kind == route_kind::method_not_allowed);
  CHECK(match_route("GET", "/admin/chaos").kind == route_kind::admin_get_chaos);
  CHECK(match_route("PATCH", "/admin/chaos").kind == route_kind::admin_patch_chaos);
  CHECK(match_route("POST", "/admin/tokens/expire").kind == route_kind::admin_expire_tokens);
  CHECK(match_route("GET", "/admin/tokens/expire").kind == route_kind::method_not_allowed);
  CHECK(match_route("GET", "/admin/reset").kind == route_kind::method_not_allowed);
  CHECK(match_route("GET", "/admin/other").kind == route_kind::not_found);
  CHECK_FALSE(is_admin(route_kind::get_device));
  CHECK_FALSE(is_admin(route_kind::health));
}

TEST_CASE("identity routes (issue 16): bulk, certificates, and 501 for what is not there") {
  CHECK(match_route("POST", "/devices?api-version=2021-04-12").kind == route_kind::bulk_devices);
  CHECK(match_route("GET", "/certificates").kind == route_kind::list_certificates);
  const auto put = match_route("PUT", "/certificates/my-ca?api-version=2021-04-12");
  CHECK(put.kind == route_kind::put_certificate);
  CHECK(put.certificate == "my-ca");
  CHECK(match_route("GET", "/certificates/my-ca").kind == route_kind::get_certificate);
  CHECK(match_route("DELETE", "/certificates/my-ca").kind == route_kind::delete_certificate);
  CHECK(match_route("POST", "/certificates/my-ca/generateVerificationCode").kind ==
        route_kind::certificate_verification_code);
  CHECK(match_route("POST", "/certificates/my-ca/verify").kind == route_kind::verify_certificate);
  CHECK(match_route("GET", "/certificates/my-ca/verify").kind == route_kind::method_not_allowed);
  for (const auto* target :
       {"/jobs/create", "/jobs", "/configurations/c1", "/devices/d1/applyConfigurationContent"}) {
    CAPTURE(target);
    const auto r = match_route("GET", target);
    CHECK(r.kind == route_kind::not_implemented);
    CHECK_FALSE(r.feature.empty());
  }
}

TEST_CASE("module routes (issue 16): identities, twins and methods by identity key") {
  CHECK(match_route("GET", "/devices/d1/modules?api-version=2021-04-12").kind ==
        route_kind::list_modules);
  CHECK(match_route("GET", "/devices/d1/modules/").kind == route_kind::list_modules);
  const auto put = match_route("PUT", "/devices/d%2B1/modules/m%241?api-version=2021-04-12");
  CHECK(put.kind == route_kind::put_module);
  CHECK(put.device_id == "d+1");
  CHECK(put.module_id == "m$1");
  CHECK(match_route("GET", "/devices/d1/modules/m1").kind == route_kind::get_module);
  CHECK(match_route("DELETE", "/devices/d1/modules/m1").kind == route_kind::delete_module);
  CHECK(match_route("POST", "/devices/d1/modules/m1").kind == route_kind::method_not_allowed);
  const auto twin = match_route("PATCH", "/twins/d1/modules/m1");
  CHECK(twin.kind == route_kind::update_twin);
  CHECK(twin.device_id == "d1/m1");  // the identity key the hub's twin calls take
  CHECK(twin.module_id == "m1");
  CHECK(match_route("GET", "/twins/d1/modules/m1").kind == route_kind::get_twin);
  CHECK(match_route("PUT", "/twins/d1/modules/m1").kind == route_kind::replace_twin);
  const auto call = match_route("POST", "/twins/d1/modules/m1/methods?api-version=2021-04-12");
  CHECK(call.kind == route_kind::invoke_method);
  CHECK(call.device_id == "d1/m1");
  // An encoded `/` inside an id would make the identity key name another identity.
  CHECK(match_route("GET", "/twins/d1%2Fm1").kind == route_kind::not_found);
  CHECK(match_route("GET", "/twins/d1/modules/m%2Fx").kind == route_kind::not_found);
  CHECK(match_route("GET", "/devices/d1/modules/m%2Fx").kind == route_kind::not_found);
  CHECK(match_route("GET", "/devices/d1/modules/m1/x").kind == route_kind::not_found);
  CHECK(match_route("POST", "/devices/d1%2Fm1/messages/events").kind == route_kind::not_found);
  CHECK(match_route("GET", "/devices/d1%2F/messages/devicebound").kind == route_kind::not_found);
  CHECK(match_route("GET", "/devices/d1%2Fm1").kind == route_kind::not_found);
  CHECK(match_route("PATCH", "/admin/devices/d1%2Fm1/twin").kind == route_kind::not_found);
  CHECK(match_route("GET", "/admin/devices/d1%2Fm1/messages").kind == route_kind::not_found);
}

TEST_CASE("the dashboard's routes (issue 18)") {
  CHECK(match_route("GET", "/").kind == route_kind::dashboard_page);
  CHECK(match_route("GET", "/?device=dev1").kind == route_kind::dashboard_page);
  CHECK(match_route("POST", "/").kind == route_kind::method_not_allowed);
  CHECK(match_route("GET", "/dashboard/ca.pem").kind == route_kind::dashboard_ca);
  const auto state = match_route("GET", "/dashboard/state?device=a%2Bb%20c");
  CHECK(state.kind == route_kind::dashboard_state);
  CHECK(state.device_id == "a+b c");
  CHECK(match_route("GET", "/dashboard/state").device_id.empty());
  CHECK(match_route("GET", "/dashboard/state?device=%zz").device_id.empty());
  const auto events = match_route("GET", "/dashboard/events?x=1&device=dev2");
  CHECK(events.kind == route_kind::dashboard_events);
  CHECK(events.device_id == "dev2");
  const auto send = match_route("POST", "/dashboard/devices/d%231/messages");
  CHECK(send.kind == route_kind::dashboard_send_c2d);
  CHECK(send.device_id == "d#1");
  CHECK(match_route("GET", "/dashboard/devices/d/messages").kind == route_kind::method_not_allowed);
  CHECK(match_route("POST", "/dashboard/devices/a%2Fb/messages").kind == route_kind::not_found);
  CHECK(match_route("GET", "/dashboard/other").kind == route_kind::not_found);
  CHECK(is_dashboard(route_kind::dashboard_events));
  CHECK_FALSE(is_dashboard(route_kind::metrics));
  CHECK_FALSE(is_admin(route_kind::dashboard_send_c2d));
}
