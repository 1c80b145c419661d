// Module identities (issue 16): the registry's rules for modules, their sessions and twins,
// authentication with a module's own key or certificate, their telemetry, and what goes with a
// deleted module or device.
#include <doctest/doctest.h>

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include "emulator/core/crypto.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/core/sas_token.hpp"
#include "emulator/core/telemetry_stamps.hpp"
#include "tests/unit/core/memory_store.hpp"
#include "tests/unit/core/test_certificates.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

const std::string module_key_1 = base64_encode(std::string(32, 'm'));
const std::string module_key_2 = base64_encode(std::string(32, 'n'));

/// The fixture's hub (device "dev1") with module "m1" (key module_key_1) on dev1.
struct module_fixture : fixture {
  module_identity m1;

  module_fixture() {
    auto created = h.create_module(spec("dev1", "m1", module_key_1), now);
    REQUIRE(created.ok());
    m1 = *created;
    (void)h.take_changes();
    (void)h.take_events();
  }

  static module_spec spec(std::string device_id, std::string id, std::string key = "") {
    module_spec s;
    s.device_id = std::move(device_id);
    s.id = std::move(id);
    s.primary_key = std::move(key);
    return s;
  }

  std::int64_t expiry() const {
    return std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count() + 3600;
  }

  /// A token for `sr` (below the hub's host) signed with `key`, without a policy name.
  std::string token_for(const std::string& sr, const std::string& key) const {
    return make_sas_token("testhub.localhost" + sr, key, "", expiry());
  }

  /// m1's own token: sr `{host}/devices/dev1/modules/m1`, signed with m1's key.
  std::string module_token() const { return token_for("/devices/dev1/modules/m1", module_key_1); }

  /// Opens the session of `identity` with `token` and forgets the changes and events.
  session_grant connect_as(const std::string& identity, const std::string& token) {
    auto g = h.connect_device(session_request{identity, token, false, 1, nullptr}, now);
    REQUIRE(g.ok());
    (void)h.take_changes();
    (void)h.take_events();
    return *g;
  }
};

template <class T>
std::vector<T> events_of(const std::vector<hub_event>& events) {
  std::vector<T> out;
  for (const auto& e : events)
    if (const auto* x = std::get_if<T>(&e)) out.push_back(*x);
  return out;
}

template <class T>
std::vector<T> changes_of(const std::vector<state_change>& changes) {
  std::vector<T> out;
  for (const auto& c : changes)
    if (const auto* x = std::get_if<T>(&c)) out.push_back(*x);
  return out;
}

/// The code of a result that must have failed.
template <class T>
hub_error code_of(const result<T>& r) {
  REQUIRE_FALSE(r.ok());
  return r.error().code;
}

/// The value of the property `name` (exact), or "<none>"; how many there are in `count`.
std::string property_value(const std::vector<property>& props, const std::string& name,
                           int* count = nullptr) {
  std::string value = "<none>";
  int n = 0;
  for (const auto& p : props) {
    if (p.name == name) {
      value = p.value;
      ++n;
    }
  }
  if (count != nullptr) *count = n;
  return value;
}

constexpr std::int64_t t0 = 1767225600;  // the fixture's `now`
constexpr std::int64_t hour = 3600;
constexpr std::int64_t day = 24 * hour;

method_call call(std::string name) {
  method_call c;
  c.name = std::move(name);
  return c;
}

client_certificate presented(const std::vector<std::string>& chain) {
  auto c = parse_client_certificate(chain);
  REQUIRE(c.ok());
  return *c;
}

}  // namespace

// ---- registry ----------------------------------------------------------------------------------

TEST_CASE("module create: unknown device, invalid module id, duplicate module") {
  module_fixture f;
  CHECK(code_of(f.h.create_module(module_fixture::spec("ghost", "m1"), f.now)) ==
        hub_error::device_not_found);
  for (const std::string& bad :
       std::vector<std::string>{"", "a/b", "a b", std::string(129, 'x'), "caf\xc3\xa9"}) {
    CAPTURE(bad);
    CHECK(code_of(f.h.create_module(module_fixture::spec("dev1", bad), f.now)) ==
          hub_error::argument_invalid);
  }
  const auto dup = f.h.create_module(module_fixture::spec("dev1", "m1"), f.now);
  CHECK(code_of(dup) == hub_error::module_already_exists);
  CHECK(error_name(dup.error().code) == "ModuleAlreadyExistsOnDevice");
  CHECK(error_number(dup.error().code) == 409301);
  // The refusals changed nothing; the existing module is untouched.
  CHECK(f.h.take_changes().empty());
  REQUIRE(f.h.find_module("dev1", "m1") != nullptr);
  CHECK(*f.h.find_module("dev1", "m1") == f.m1);
  // The same module id on another device is another module.
  device_spec other;
  other.id = "dev2";
  REQUIRE(f.h.create_device(other, f.now).ok());
  CHECK(f.h.create_module(module_fixture::spec("dev2", "m1"), f.now).ok());
}

TEST_CASE("a device has at most 50 modules: the 51st is too_many_modules") {
  module_fixture f;
  CHECK(max_modules_per_device == 50);
  for (int i = 2; i <= 50; ++i)
    REQUIRE(f.h.create_module(module_fixture::spec("dev1", "m" + std::to_string(i)), f.now).ok());
  REQUIRE(f.h.modules_of("dev1")->size() == 50);
  const auto over = f.h.create_module(module_fixture::spec("dev1", "m51"), f.now);
  CHECK(code_of(over) == hub_error::too_many_modules);
  CHECK(error_number(over.error().code) == 413003);
  CHECK(f.h.find_module("dev1", "m51") == nullptr);
  CHECK(f.h.modules_of("dev1")->size() == 50);
  // Per device: another device still gets modules; after a delete, dev1 gets one again.
  device_spec other;
  other.id = "dev2";
  REQUIRE(f.h.create_device(other, f.now).ok());
  CHECK(f.h.create_module(module_fixture::spec("dev2", "m51"), f.now).ok());
  REQUIRE(f.h.delete_module("dev1", "m7", "*", f.now).ok());
  CHECK(f.h.create_module(module_fixture::spec("dev1", "m51"), f.now).ok());
}

TEST_CASE("a sas module gets generated keys, its own generation id and an etag") {
  module_fixture f;
  auto spec = module_fixture::spec("dev1", "generated");
  spec.managed_by = "IotEdge";
  const auto m = f.h.create_module(spec, f.now);
  REQUIRE(m.ok());
  CHECK(m->device_id == "dev1");
  CHECK(m->id == "generated");
  CHECK(m->managed_by == "IotEdge");
  CHECK(m->authentication == auth_type::sas);
  CHECK(base64_decode(m->primary_key)->size() == 32);
  CHECK(base64_decode(m->secondary_key)->size() == 32);
  CHECK(m->primary_key != m->secondary_key);
  CHECK(m->primary_key != device_key);
  CHECK(m->primary_thumbprint.empty());
  CHECK(m->generation_id.size() == 18);
  CHECK(m->generation_id != f.h.find_device("dev1")->generation_id);
  CHECK(m->generation_id != f.m1.generation_id);
  CHECK_FALSE(m->etag.empty());
  CHECK(m->etag != f.m1.etag);
  // Given keys are kept; the secondary one is generated.
  CHECK(f.m1.primary_key == module_key_1);
  CHECK(base64_decode(f.m1.secondary_key)->size() == 32);
  // The create is journaled, with an empty twin.
  const auto changes = f.h.take_changes();
  const auto puts = changes_of<change::put_module>(changes);
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].value == *m);
  const auto twins = changes_of<change::put_twin>(changes);
  REQUIRE(twins.size() == 1);
  CHECK(twins[0].value.device_id == "dev1/generated");
  // A key that is not base64 of 16..64 bytes, or a sas module with thumbprints.
  auto bad = module_fixture::spec("dev1", "bad", "not base64!");
  CHECK(code_of(f.h.create_module(bad, f.now)) == hub_error::argument_invalid);
  bad.primary_key = base64_encode("short");
  CHECK(code_of(f.h.create_module(bad, f.now)) == hub_error::argument_invalid);
  bad.primary_key.clear();
  bad.primary_thumbprint = std::string(40, 'A');
  CHECK(code_of(f.h.create_module(bad, f.now)) == hub_error::argument_invalid);
}

TEST_CASE("a selfSigned module needs a primary thumbprint and has no keys") {
  module_fixture f;
  auto spec = module_fixture::spec("dev1", "x509");
  spec.authentication = auth_type::self_signed;
  CHECK(code_of(f.h.create_module(spec, f.now)) == hub_error::argument_invalid);
  spec.secondary_thumbprint = std::string(40, 'b');
  CHECK(code_of(f.h.create_module(spec, f.now)) == hub_error::argument_invalid);
  spec.primary_thumbprint = "not hex";
  CHECK(code_of(f.h.create_module(spec, f.now)) == hub_error::argument_invalid);
  spec.primary_thumbprint = std::string(40, 'a');
  spec.primary_key = module_key_2;
  CHECK(code_of(f.h.create_module(spec, f.now)) == hub_error::argument_invalid);
  spec.primary_key.clear();
  const auto m = f.h.create_module(spec, f.now);
  REQUIRE(m.ok());
  CHECK(m->authentication == auth_type::self_signed);
  CHECK(m->primary_thumbprint == std::string(40, 'A'));  // stored upper-case
  CHECK(m->secondary_thumbprint == std::string(40, 'B'));
  CHECK(m->primary_key.empty());
  CHECK(m->secondary_key.empty());
}

TEST_CASE("module update: stale etag refused; its etag or '*' works and changes the etag") {
  module_fixture f;
  auto spec = module_fixture::spec("dev1", "m1");
  spec.managed_by = "someone";
  CHECK(code_of(f.h.update_module(spec, "stale", f.now)) == hub_error::precondition_failed);
  CHECK(f.h.find_module("dev1", "m1")->managed_by.empty());
  CHECK(f.h.take_changes().empty());

  const auto by_etag = f.h.update_module(spec, f.m1.etag, f.now);
  REQUIRE(by_etag.ok());
  CHECK(by_etag->etag != f.m1.etag);
  CHECK(by_etag->managed_by == "someone");
  CHECK(by_etag->primary_key == module_key_1);  // empty keys in an update keep the old ones
  CHECK(by_etag->secondary_key == f.m1.secondary_key);
  CHECK(by_etag->generation_id == f.m1.generation_id);
  CHECK(*f.h.find_module("dev1", "m1") == *by_etag);
  const auto puts = changes_of<change::put_module>(f.h.take_changes());
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].value == *by_etag);
  // The old etag is stale now.
  CHECK(code_of(f.h.update_module(spec, f.m1.etag, f.now)) == hub_error::precondition_failed);

  const auto by_star = f.h.update_module(spec, "*", f.now);
  REQUIRE(by_star.ok());
  CHECK(by_star->etag != by_etag->etag);
  const auto by_empty = f.h.update_module(spec, "", f.now);
  REQUIRE(by_empty.ok());
  CHECK(by_empty->etag != by_star->etag);

  CHECK(code_of(f.h.update_module(module_fixture::spec("dev1", "ghost"), "*", f.now)) ==
        hub_error::module_not_found);
  CHECK(code_of(f.h.update_module(module_fixture::spec("ghost", "m1"), "*", f.now)) ==
        hub_error::device_not_found);
}

TEST_CASE("a module's key change ends the module's session, not its device's") {
  module_fixture f;
  const auto device_session = f.connect();
  const auto module_session = f.connect_as("dev1/m1", f.module_token());
  CHECK(module_session.generation_id == f.m1.generation_id);
  CHECK(f.h.presence("dev1/m1").connected);

  // A change that does not touch the credentials keeps the session.
  auto spec = module_fixture::spec("dev1", "m1");
  spec.managed_by = "IotEdge";
  REQUIRE(f.h.update_module(spec, "*", f.now).ok());
  CHECK(events_of<event::session_ended>(f.h.take_events()).empty());

  spec.primary_key = module_key_2;
  REQUIRE(f.h.update_module(spec, "*", f.now).ok());
  const auto ended = events_of<event::session_ended>(f.h.take_events());
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].device_id == "dev1/m1");
  CHECK(ended[0].epoch == module_session.epoch);
  CHECK(ended[0].why == session_end::device_changed);
  CHECK_FALSE(f.h.presence("dev1/m1").connected);
  CHECK(f.h.presence("dev1").connected);
  CHECK(device_session.epoch != module_session.epoch);

  // The old key no longer opens the module; the new one does.
  CHECK_FALSE(f.h.authenticate_device(f.module_token(), "dev1/m1", f.now).ok());
  CHECK(f.h.authenticate_device(f.token_for("/devices/dev1/modules/m1", module_key_2), "dev1/m1",
                                f.now)
            .ok());
}

TEST_CASE("disabling a device ends its modules' sessions; re-keying it does not") {
  module_fixture f;
  (void)f.connect();
  const auto module_session = f.connect_as("dev1/m1", f.module_token());
  (void)f.h.take_events();
  device_spec d;
  d.id = "dev1";
  d.primary_key = module_key_2;  // a new device key: the module's own key still holds
  REQUIRE(f.h.update_device(d, "*", f.now).ok());
  for (const auto& e : events_of<event::session_ended>(f.h.take_events()))
    CHECK(e.device_id != "dev1/m1");
  CHECK(f.h.presence("dev1/m1").connected);

  d.status = device_status::disabled;
  REQUIRE(f.h.update_device(d, "*", f.now).ok());
  const auto ended = events_of<event::session_ended>(f.h.take_events());
  const auto module_ended = std::count_if(ended.begin(), ended.end(), [&](const auto& e) {
    return e.device_id == "dev1/m1" && e.epoch == module_session.epoch;
  });
  CHECK(module_ended == 1);
  CHECK_FALSE(f.h.presence("dev1/m1").connected);
  CHECK_FALSE(f.h.authenticate_device(f.module_token(), "dev1/m1", f.now).ok());
}

TEST_CASE("delete_module removes the module, its twin and its session") {
  module_fixture f;
  const auto session = f.connect_as("dev1/m1", f.module_token());
  twin_update u;
  u.tags = nlohmann::json{{"role", "edge"}};
  REQUIRE(f.h.update_twin("dev1/m1", u, "", f.now).ok());
  (void)f.h.take_changes();

  CHECK(code_of(f.h.delete_module("dev1", "m1", "stale", f.now)) == hub_error::precondition_failed);
  CHECK(code_of(f.h.delete_module("dev1", "ghost", "*", f.now)) == hub_error::module_not_found);
  CHECK(code_of(f.h.delete_module("ghost", "m1", "*", f.now)) == hub_error::device_not_found);
  REQUIRE(f.h.find_module("dev1", "m1") != nullptr);

  REQUIRE(f.h.delete_module("dev1", "m1", f.m1.etag, f.now).ok());
  CHECK(f.h.find_module("dev1", "m1") == nullptr);
  CHECK(f.h.modules_of("dev1")->empty());
  CHECK(code_of(f.h.twin("dev1/m1")) == hub_error::module_not_found);
  const auto ended = events_of<event::session_ended>(f.h.take_events());
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].device_id == "dev1/m1");
  CHECK(ended[0].epoch == session.epoch);
  CHECK(ended[0].why == session_end::device_changed);
  CHECK_FALSE(f.h.presence("dev1/m1").connected);
  const auto removed = changes_of<change::remove_module>(f.h.take_changes());
  REQUIRE(removed.size() == 1);
  CHECK(removed[0].device_id == "dev1");
  CHECK(removed[0].module_id == "m1");
  // The device is untouched; a second delete finds nothing.
  CHECK(f.h.find_device("dev1") != nullptr);
  CHECK(f.h.twin("dev1").ok());
  CHECK(code_of(f.h.delete_module("dev1", "m1", "*", f.now)) == hub_error::module_not_found);
  CHECK_FALSE(f.h.authenticate_device(f.module_token(), "dev1/m1", f.now).ok());
  // A module created again with the same id is a new identity with an empty twin.
  const auto again = f.h.create_module(module_fixture::spec("dev1", "m1"), f.now);
  REQUIRE(again.ok());
  CHECK(again->generation_id != f.m1.generation_id);
  CHECK(f.h.twin("dev1/m1")->tags.empty());
}

TEST_CASE("delete_device removes its modules, their twins and sessions; a new device has none") {
  module_fixture f;
  REQUIRE(f.h.create_module(module_fixture::spec("dev1", "m2"), f.now).ok());
  device_spec other;
  other.id = "dev2";
  REQUIRE(f.h.create_device(other, f.now).ok());
  REQUIRE(f.h.create_module(module_fixture::spec("dev2", "m1"), f.now).ok());
  const auto session = f.connect_as("dev1/m1", f.module_token());

  REQUIRE(f.h.delete_device("dev1", "*", f.now).ok());
  CHECK(f.h.find_module("dev1", "m1") == nullptr);
  CHECK(f.h.find_module("dev1", "m2") == nullptr);
  CHECK(code_of(f.h.twin("dev1/m1")) == hub_error::device_not_found);
  CHECK(code_of(f.h.twin("dev1/m2")) == hub_error::device_not_found);
  CHECK(code_of(f.h.modules_of("dev1")) == hub_error::device_not_found);
  CHECK_FALSE(f.h.connectable("dev1/m1"));
  const auto ended = events_of<event::session_ended>(f.h.take_events());
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].device_id == "dev1/m1");
  CHECK(ended[0].epoch == session.epoch);
  // One remove_device: the store cascades to the modules and their twins.
  const auto changes = f.h.take_changes();
  CHECK(changes_of<change::remove_device>(changes).size() == 1);
  CHECK(changes_of<change::remove_module>(changes).empty());
  // Another device's module of the same id stays.
  REQUIRE(f.h.find_module("dev2", "m1") != nullptr);
  CHECK(f.h.twin("dev2/m1").ok());

  device_spec again;
  again.id = "dev1";
  REQUIRE(f.h.create_device(again, f.now).ok());
  CHECK(f.h.modules_of("dev1")->empty());
  CHECK(f.h.find_module("dev1", "m1") == nullptr);
  CHECK(code_of(f.h.twin("dev1/m1")) == hub_error::module_not_found);
  CHECK_FALSE(f.h.authenticate_device(f.module_token(), "dev1/m1", f.now).ok());
}

TEST_CASE("hub.twin of a module: its own twin; unknown module or device are told apart") {
  module_fixture f;
  const auto t = f.h.twin("dev1/m1");
  REQUIRE(t.ok());
  CHECK(t->device_id == "dev1/m1");
  CHECK(code_of(f.h.twin("dev1/unknown")) == hub_error::module_not_found);
  CHECK(error_number(f.h.twin("dev1/unknown").error().code) == 404010);
  CHECK(code_of(f.h.twin("x/m1")) == hub_error::device_not_found);
  CHECK(code_of(f.h.twin("x")) == hub_error::device_not_found);

  // A service patch of the module's twin is the module's alone.
  twin_update u;
  u.tags = nlohmann::json{{"role", "edge"}};
  const auto patched = f.h.update_twin("dev1/m1", u, "", f.now);
  REQUIRE(patched.ok());
  CHECK(f.h.twin("dev1/m1")->tags == nlohmann::json{{"role", "edge"}});
  CHECK(f.h.twin("dev1")->tags != nlohmann::json{{"role", "edge"}});
  CHECK(code_of(f.h.update_twin("dev1/unknown", u, "", f.now)) == hub_error::module_not_found);
  CHECK(code_of(f.h.update_twin("x/m1", u, "", f.now)) == hub_error::device_not_found);

  // The module's reported properties come from its own session.
  const auto g = f.connect_as("dev1/m1", f.module_token());
  const auto v = f.h.patch_reported("dev1/m1", g.epoch, nlohmann::json{{"fw", "2.0"}}, f.now);
  REQUIRE(v.ok());
  CHECK(f.h.twin("dev1/m1")->reported.values == nlohmann::json{{"fw", "2.0"}});
  CHECK(f.h.twin("dev1")->reported.values.empty());
}

TEST_CASE("identity_exists and modules_of") {
  module_fixture f;
  REQUIRE(f.h.create_module(module_fixture::spec("dev1", "a"), f.now).ok());
  CHECK(f.h.identity_exists("dev1").ok());
  CHECK(f.h.identity_exists("dev1/m1").ok());
  CHECK(f.h.identity_exists("dev1/a").ok());
  CHECK(code_of(f.h.identity_exists("dev1/ghost")) == hub_error::module_not_found);
  CHECK(code_of(f.h.identity_exists("ghost/m1")) == hub_error::device_not_found);
  CHECK(code_of(f.h.identity_exists("ghost")) == hub_error::device_not_found);

  const auto modules = f.h.modules_of("dev1");
  REQUIRE(modules.ok());
  REQUIRE(modules->size() == 2);
  CHECK((*modules)[0].id == "a");  // ordered by id
  CHECK((*modules)[1].id == "m1");
  CHECK(code_of(f.h.modules_of("ghost")) == hub_error::device_not_found);
  // A device whose id starts like another's has none of its modules.
  device_spec prefixed;
  prefixed.id = "dev";
  REQUIRE(f.h.create_device(prefixed, f.now).ok());
  CHECK(f.h.modules_of("dev")->empty());
}

TEST_CASE("connectable: a module follows its device; a disabled device's module is not") {
  module_fixture f;
  const auto v1 = f.h.connectable("dev1/m1");
  REQUIRE(v1);
  CHECK(v1->generation_id == f.m1.generation_id);
  CHECK_FALSE(f.h.connectable("dev1/ghost"));
  CHECK_FALSE(f.h.connectable("ghost/m1"));

  // A module update changes its version.
  REQUIRE(f.h.update_module(module_fixture::spec("dev1", "m1"), "*", f.now).ok());
  const auto v2 = f.h.connectable("dev1/m1");
  REQUIRE(v2);
  CHECK(v2->etag != v1->etag);
  CHECK(v2->generation_id == f.m1.generation_id);

  // So does its device's, and a disabled device's modules are not connectable.
  device_spec spec;
  spec.id = "dev1";
  spec.status = device_status::disabled;
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  CHECK_FALSE(f.h.connectable("dev1"));
  CHECK_FALSE(f.h.connectable("dev1/m1"));
  spec.status = device_status::enabled;
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  const auto v3 = f.h.connectable("dev1/m1");
  REQUIRE(v3);
  CHECK(v3->etag != v2->etag);
}

// ---- authentication -----------------------------------------------------------------------------

TEST_CASE("a module token signed with the module key opens the module, and only the module") {
  module_fixture f;
  const auto token = f.module_token();
  const auto g = f.h.authenticate_device(token, "dev1/m1", f.now);
  REQUIRE(g.ok());
  CHECK(g->device_id == "dev1/m1");
  CHECK(g->policy.empty());
  CHECK(g->expiry == time_point{std::chrono::seconds{f.expiry()}} + 5min);

  // The same token for the device.
  CHECK(code_of(f.h.authenticate_device(token, "dev1", f.now)) == hub_error::unauthorized);
  // The device's own token for the module.
  CHECK(code_of(f.h.authenticate_device(f.token(), "dev1/m1", f.now)) == hub_error::unauthorized);
  // The module's sr signed with the device's key.
  CHECK(code_of(f.h.authenticate_device(f.token_for("/devices/dev1/modules/m1", device_key),
                                        "dev1/m1", f.now)) == hub_error::unauthorized);
  // A sibling module's token.
  REQUIRE(f.h.create_module(module_fixture::spec("dev1", "m2", module_key_2), f.now).ok());
  const auto m2_token = f.token_for("/devices/dev1/modules/m2", module_key_2);
  CHECK(f.h.authenticate_device(m2_token, "dev1/m2", f.now).ok());
  CHECK(code_of(f.h.authenticate_device(m2_token, "dev1/m1", f.now)) == hub_error::unauthorized);
  // m1's key with m2's sr, and a sibling path that only starts like m1.
  CHECK(code_of(f.h.authenticate_device(f.token_for("/devices/dev1/modules/m2", module_key_1),
                                        "dev1/m1", f.now)) == hub_error::unauthorized);
  CHECK(code_of(f.h.authenticate_device(f.token_for("/devices/dev1/modules/m10", module_key_1),
                                        "dev1/m1", f.now)) == hub_error::unauthorized);
  // The module's secondary key works too.
  CHECK(f.h.authenticate_device(f.token_for("/devices/dev1/modules/m1", f.m1.secondary_key),
                                "dev1/m1", f.now)
            .ok());
}

// A module's token must name the module (`sr` down to `/devices/{d}/modules/{m}`): a segment
// prefix such as `{host}/devices/{d}` covers the module's resource, but signed with the module's
// key it is not a module token.
TEST_CASE("a module-key token whose sr is only the device's does not open the module") {
  module_fixture f;
  const auto device_scoped = f.token_for("/devices/dev1", module_key_1);
  CHECK(code_of(f.h.authenticate_device(device_scoped, "dev1", f.now)) == hub_error::unauthorized);
  CHECK(code_of(f.h.authenticate_device(device_scoped, "dev1/m1", f.now)) ==
        hub_error::unauthorized);
}

TEST_CASE("a hub policy token with DeviceConnect opens a module") {
  module_fixture f;
  const auto se = f.expiry();
  const auto whole_hub = make_sas_token("testhub.localhost", owner_key, "iothubowner", se);
  const auto g = f.h.authenticate_device(whole_hub, "dev1/m1", f.now);
  REQUIRE(g.ok());
  CHECK(g->device_id == "dev1/m1");
  CHECK(g->policy == "iothubowner");
  CHECK(f.h.authenticate_device(make_sas_token("testhub.localhost/devices/dev1/modules/m1",
                                               owner_key, "iothubowner", se),
                                "dev1/m1", f.now)
            .ok());
  // Scoped to another module; a policy without DeviceConnect.
  CHECK_FALSE(f.h.authenticate_device(make_sas_token("testhub.localhost/devices/dev1/modules/m2",
                                                     owner_key, "iothubowner", se),
                                      "dev1/m1", f.now)
                  .ok());
  CHECK(code_of(f.h.authenticate_device(
            make_sas_token("testhub.localhost", service_key, "service", se), "dev1/m1", f.now)) ==
        hub_error::unauthorized);
  // A session opened so is hub-scoped and carries the module's generation id.
  const auto s = f.connect_as("dev1/m1", whole_hub);
  CHECK(s.hub_scope);
  CHECK(s.generation_id == f.m1.generation_id);
}

TEST_CASE("a disabled device's modules and unknown modules are refused") {
  module_fixture f;
  const auto owner = make_sas_token("testhub.localhost", owner_key, "iothubowner", f.expiry());
  CHECK(code_of(f.h.authenticate_device(f.token_for("/devices/dev1/modules/ghost", module_key_1),
                                        "dev1/ghost", f.now)) == hub_error::unauthorized);
  CHECK(code_of(f.h.authenticate_device(owner, "dev1/ghost", f.now)) == hub_error::unauthorized);
  CHECK(code_of(f.h.authenticate_device(owner, "ghost/m1", f.now)) == hub_error::unauthorized);
  const auto refused = f.h.connect_device(
      session_request{"dev1/ghost", f.token_for("/devices/dev1/modules/ghost", module_key_1), false,
                      1, nullptr},
      f.now);
  CHECK(code_of(refused) == hub_error::unauthorized);

  device_spec spec;
  spec.id = "dev1";
  spec.status = device_status::disabled;
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  CHECK(code_of(f.h.authenticate_device(f.module_token(), "dev1/m1", f.now)) ==
        hub_error::unauthorized);
  CHECK(code_of(f.h.authenticate_device(owner, "dev1/m1", f.now)) == hub_error::unauthorized);
  CHECK(code_of(f.h.connect_device(session_request{"dev1/m1", f.module_token(), false, 1, nullptr},
                                   f.now)) == hub_error::unauthorized);
  spec.status = device_status::enabled;
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  CHECK(f.h.authenticate_device(f.module_token(), "dev1/m1", f.now).ok());
}

TEST_CASE(
    "X.509 modules: selfSigned by thumbprint, certificateAuthority by CN = {deviceId}/{moduleId}") {
  module_fixture f;
  const auto leaf = self_signed_certificate("m-x509", t0 - hour, t0 + day);
  auto spec = module_fixture::spec("dev1", "m-x509");
  spec.authentication = auth_type::self_signed;
  spec.primary_thumbprint = sha1_of(leaf);
  REQUIRE(f.h.create_module(spec, f.now).ok());
  const auto g = f.h.authenticate_device_certificate(presented({leaf.der}), "dev1/m-x509", f.now);
  REQUIRE(g.ok());
  CHECK(g->device_id == "dev1/m-x509");
  CHECK(g->expiry == time_point{std::chrono::seconds{t0 + day}});
  // Another certificate; the module's certificate for its device; a SAS module.
  const auto other = self_signed_certificate("m-x509", t0 - hour, t0 + day);
  CHECK(code_of(f.h.authenticate_device_certificate(presented({other.der}), "dev1/m-x509",
                                                    f.now)) == hub_error::unauthorized);
  CHECK(code_of(f.h.authenticate_device_certificate(presented({leaf.der}), "dev1", f.now)) ==
        hub_error::unauthorized);
  CHECK(code_of(f.h.authenticate_device_certificate(presented({leaf.der}), "dev1/m1", f.now)) ==
        hub_error::unauthorized);
  // An X.509 module has no key: an HMAC with an empty key does not open it.
  CHECK(code_of(f.h.authenticate_device(f.token_for("/devices/dev1/modules/m-x509", ""),
                                        "dev1/m-x509", f.now)) == hub_error::unauthorized);

  const auto root = self_signed_certificate("Root CA", t0 - day, t0 + 365 * day, true);
  REQUIRE(f.h.put_ca_certificate("root", root.pem, true, "", f.now).ok());
  auto ca_spec = module_fixture::spec("dev1", "m-ca");
  ca_spec.authentication = auth_type::certificate_authority;
  REQUIRE(f.h.create_module(ca_spec, f.now).ok());
  const auto by_key = issued_certificate(root, "dev1/m-ca", t0 - hour, t0 + 7 * day);
  const auto ok =
      f.h.authenticate_device_certificate(presented({by_key.der, root.der}), "dev1/m-ca", f.now);
  REQUIRE(ok.ok());
  CHECK(ok->device_id == "dev1/m-ca");
  // The module id alone would name every module `m-ca` on every device (and a device `m-ca`).
  auto other_device = device_spec{};
  other_device.id = "dev2";
  REQUIRE(f.h.create_device(other_device, f.now).ok());
  auto twin_spec = module_fixture::spec("dev2", "m-ca");
  twin_spec.authentication = auth_type::certificate_authority;
  REQUIRE(f.h.create_module(twin_spec, f.now).ok());
  CHECK(code_of(f.h.authenticate_device_certificate(presented({by_key.der, root.der}), "dev2/m-ca",
                                                    f.now)) == hub_error::unauthorized);
  for (const std::string& cn : std::vector<std::string>{"dev1", "m-ca", "dev2/m-ca", "DEV1/M-CA"}) {
    CAPTURE(cn);
    const auto leaf_cn = issued_certificate(root, cn, t0 - hour, t0 + 7 * day);
    const auto r =
        f.h.authenticate_device_certificate(presented({leaf_cn.der, root.der}), "dev1/m-ca", f.now);
    CHECK(code_of(r) == hub_error::unauthorized);
    if (!r.ok()) CHECK(r.error().message.find("module id") != std::string::npos);
  }
}

TEST_CASE("a module session: its own epoch, presence and direct methods") {
  module_fixture f;
  const auto d = f.connect();
  const auto m = f.connect_as("dev1/m1", f.module_token());
  CHECK(f.h.presence("dev1").connected);
  CHECK(f.h.presence("dev1/m1").connected);
  // The module's session does not take over the device's.
  CHECK(events_of<event::session_ended>(f.h.take_events()).empty());

  CHECK(code_of(f.h.invoke_method("dev1/ghost", call("m"), f.now)) == hub_error::module_not_found);
  CHECK(code_of(f.h.invoke_method("ghost/m1", call("m"), f.now)) == hub_error::device_not_found);
  CHECK(code_of(f.h.invoke_method("dev1/m1", call("m"), f.now)) == hub_error::device_not_online);
  REQUIRE(f.h.set_iothub_topics("dev1/m1", m.epoch, iothub_topic::methods, f.now).ok());
  CHECK(f.h.methods_reachable("dev1/m1"));
  CHECK_FALSE(f.h.methods_reachable("dev1"));
  const auto id = f.h.invoke_method("dev1/m1", call("reboot"), f.now);
  REQUIRE(id.ok());
  const auto requests = events_of<event::method_request>(f.h.take_events());
  REQUIRE(requests.size() == 1);
  CHECK(requests[0].device_id == "dev1/m1");
  CHECK(requests[0].epoch == m.epoch);
  // The device cannot answer its module's call; the module can.
  CHECK_FALSE(f.h.answer_method("dev1", d.epoch, std::to_string(*id), 200, "{}"));
  CHECK(f.h.answer_method("dev1/m1", m.epoch, std::to_string(*id), 200, "{}"));

  // Deleting the module ends a call waiting for it with module_not_found.
  const auto pending = f.h.invoke_method("dev1/m1", call("slow"), f.now);
  REQUIRE(pending.ok());
  (void)f.h.take_events();
  REQUIRE(f.h.delete_module("dev1", "m1", "*", f.now).ok());
  const auto results = events_of<event::method_result>(f.h.take_events());
  REQUIRE(results.size() == 1);
  CHECK(results[0].call_id == *pending);
  REQUIRE(results[0].failure);
  CHECK(results[0].failure->code == hub_error::module_not_found);
  CHECK(f.h.presence("dev1").connected);
}

// ---- journal ------------------------------------------------------------------------------------

TEST_CASE("fold_changes keeps a module removal, drops writes it supersedes, same end state") {
  module_identity first;
  first.device_id = "dev1";
  first.id = "m";
  first.etag = "e1";
  module_identity second = first;
  second.etag = "e2";
  device_twin old_twin;
  old_twin.device_id = "dev1/m";
  old_twin.tags = {{"old", true}};
  device_twin new_twin;
  new_twin.device_id = "dev1/m";
  device dev;
  dev.id = "dev1";
  // Created, patched, deleted and created again in one round, then a removal at the end.
  const std::vector<state_change> round{
      change::put_device{dev},    change::put_module{first},
      change::put_twin{old_twin}, change::remove_module{"dev1", "m"},
      change::put_module{second}, change::put_twin{new_twin}};
  const auto folded = fold_changes(round);
  CHECK(changes_of<change::remove_module>(folded).size() == 1);
  const auto puts = changes_of<change::put_module>(folded);
  REQUIRE(puts.size() == 1);
  CHECK(puts[0].value == second);
  const auto twins = changes_of<change::put_twin>(folded);
  REQUIRE(twins.size() == 1);
  CHECK(twins[0].value == new_twin);
  memory_store one, both;
  one.commit(round);
  both.commit(folded);
  CHECK(one.load().modules == both.load().modules);
  CHECK(one.load().twins == both.load().twins);
  REQUIRE(both.load().modules.size() == 1);
  CHECK(both.load().modules[0].etag == "e2");

  // A removal after the puts: the puts go, the removal stays (it cascades to the twin).
  std::vector<state_change> removed = round;
  removed.push_back(change::remove_module{"dev1", "m"});
  const auto folded_removed = fold_changes(removed);
  CHECK(changes_of<change::put_module>(folded_removed).empty());
  CHECK(changes_of<change::remove_module>(folded_removed).size() == 2);
  memory_store a, b;
  a.commit(removed);
  b.commit(folded_removed);
  CHECK(a.load().modules.empty());
  CHECK(b.load().modules.empty());
  CHECK(a.load().twins == b.load().twins);
  CHECK(b.load().twins.empty());
}

// ---- telemetry ----------------------------------------------------------------------------------

TEST_CASE("record_telemetry of a module stores its device id and module id") {
  module_fixture f;
  f.h.record_telemetry("dev1/m1", {{"k", "v"}}, "from module", f.now);
  f.h.record_telemetry("dev1", {{"k", "v"}}, "from device", f.now);
  auto events = f.h.telemetry();
  REQUIRE(events.size() == 2);
  std::sort(events.begin(), events.end(),
            [](const auto& a, const auto& b) { return a.body < b.body; });
  CHECK(events[0].body == "from device");
  CHECK(events[0].device_id == "dev1");
  CHECK(events[0].module_id.empty());
  CHECK(events[1].body == "from module");
  CHECK(events[1].device_id == "dev1");
  CHECK(events[1].module_id == "m1");
  // The stored event says the same.
  const auto puts = changes_of<change::put_telemetry>(f.h.take_changes());
  REQUIRE(puts.size() == 2);
  const auto& stored = puts[0].value->body == "from module" ? *puts[0].value : *puts[1].value;
  CHECK(stored.device_id == "dev1");
  CHECK(stored.module_id == "m1");
}

TEST_CASE("stamp_telemetry: a module's telemetry gets iothub-connection-module-id, not spoofed") {
  std::vector<property> props{{"iothub-connection-module-id", "evil"},
                              {"IoTHub-Connection-Module-Id", "evil2"},
                              {"iothub-connection-device-id", "other"},
                              {"temperature", "21"}};
  stamp_telemetry(props, "dev1/m1", "638000000000000007", false);
  int n = 0;
  CHECK(property_value(props, "iothub-connection-module-id", &n) == "m1");
  CHECK(n == 1);
  CHECK(property_value(props, "IoTHub-Connection-Module-Id") == "<none>");
  CHECK(property_value(props, "iothub-connection-device-id", &n) == "dev1");
  CHECK(n == 1);
  CHECK(property_value(props, "iothub-connection-auth-generation-id") == "638000000000000007");
  CHECK(property_value(props, "temperature") == "21");

  // A device's telemetry has no module stamp, and a spoofed one is dropped.
  std::vector<property> device_props{{"iothub-connection-module-id", "evil"}, {"a", "b"}};
  stamp_telemetry(device_props, "dev1", "638000000000000001", true);
  CHECK(property_value(device_props, "iothub-connection-module-id") == "<none>");
  CHECK(property_value(device_props, "iothub-connection-device-id") == "dev1");
  CHECK(property_value(device_props, "a") == "b");
}

TEST_CASE("identity keys: {deviceId} or {deviceId}/{moduleId}, nothing else names an identity") {
  CHECK(is_identity_key("dev1"));
  CHECK(is_identity_key("dev1/m1"));
  for (const char* bad : {"", "dev1/", "/m1", "dev1/m1/x", "/"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_identity_key(bad));
  }
  module_fixture f;
  // `dev1/` is not device dev1: its token does not open it, and it is no identity of the hub.
  CHECK(code_of(f.h.authenticate_device(f.token(), "dev1/", f.now)) == hub_error::unauthorized);
  CHECK_FALSE(f.h.connectable("dev1/"));
  CHECK_FALSE(f.h.identity_exists("dev1/").ok());
  CHECK_FALSE(f.h.identity_exists("dev1/m1/x").ok());
}

TEST_CASE("a module gets no durable C2D subscription (its key names no device row)") {
  module_fixture f;
  const auto s = f.connect_as("dev1/m1", f.module_token());
  CHECK(code_of(f.h.subscribe_c2d("dev1/m1", s.epoch, 1, f.now)) == hub_error::argument_invalid);
  f.h.set_subscription("dev1/m1", 1);
  CHECK_FALSE(f.h.subscription("dev1/m1"));
}
