// Module identities in storage (issue 16, schema 5): a hub's modules and module twins
// journaled into the reference memory store and into SQLite load back identically and restore
// the same hub; removals cascade to module twins; a version 4 file gains empty module tables.
#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "emulator/core/crypto.hpp"
#include "emulator/core/identity_key.hpp"
#include "emulator/core/sas_token.hpp"
#include "storage/database.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_store.hpp"
#include "storage_test_support.hpp"
#include "tests/unit/core/memory_store.hpp"
#include "tests/unit/core/test_hub.hpp"

namespace core = emu::core;
namespace change = emu::core::change;
using emu::storage::database;
using emu::storage::sqlite_store;
using emu::storage::storage_error;
using storage_test::diff;
using storage_test::make_device;
using storage_test::model;
using storage_test::temp_dir;

namespace {

using changes = std::vector<core::state_change>;

const std::string m1_key = core::base64_encode(std::string(32, 'm'));

core::time_point start() {
  return core::time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
}

std::string module_token(const std::string& device_id, const std::string& module_id,
                         const std::string& key, core::time_point now) {
  const auto se = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()) +
                  std::chrono::hours(1);
  return core::make_sas_token("testhub.localhost/devices/" + device_id + "/modules/" + module_id,
                              key, "", se.count());
}

/// A hub whose every round is committed to a memory store and a SQLite file.
struct journaled_hub {
  temp_dir dir;
  core::hub h{core::testing::test_settings()};
  core::time_point now = start();
  core::testing::memory_store mem;
  std::unique_ptr<sqlite_store> sql = std::make_unique<sqlite_store>(dir.file("hub.db"));

  void commit() {
    const auto cs = h.take_changes();
    mem.commit(cs);
    sql->commit(cs);
    (void)h.take_events();
  }
  void reopen() {
    sql.reset();
    sql = std::make_unique<sqlite_store>(dir.file("hub.db"));
  }
};

/// A module on `device_id`; an empty key is generated.
core::module_spec module(const std::string& device_id, const std::string& id,
                         const std::string& key = "") {
  core::module_spec s;
  s.device_id = device_id;
  s.id = id;
  s.primary_key = key;
  return s;
}

/// `restored` has the modules and twins of `live` for these identities.
void same_identities(const core::hub& restored, const core::hub& live,
                     const std::vector<std::string>& devices) {
  for (const auto& d : devices) {
    CAPTURE(d);
    const auto live_modules = live.modules_of(d);
    REQUIRE(live_modules.ok());
    const auto restored_modules = restored.modules_of(d);
    REQUIRE(restored_modules.ok());
    CHECK(*restored_modules == *live_modules);
    CHECK(*restored.twin(d) == *live.twin(d));
    for (const auto& m : *live_modules) {
      const auto key = core::module_key(d, m.id);
      CAPTURE(key);
      const auto live_twin = live.twin(key);
      REQUIRE(live_twin.ok());
      const auto restored_twin = restored.twin(key);
      REQUIRE(restored_twin.ok());
      CHECK(*restored_twin == *live_twin);
      const auto lv = live.connectable(key);
      const auto rv = restored.connectable(key);
      REQUIRE(lv);
      REQUIRE(rv);
      CHECK(rv->etag == lv->etag);
      CHECK(rv->generation_id == lv->generation_id);
    }
  }
}

std::int64_t count(sqlite_store& store, const std::string& sql) {
  return store.db().query_integer(sql);
}

}  // namespace

TEST_CASE("modules and module twins round-trip through memory and SQLite stores into a hub") {
  journaled_hub j;
  core::device_spec d1;
  d1.id = "dev1";
  d1.primary_key = core::testing::device_key;
  REQUIRE(j.h.create_device(d1, j.now).ok());
  core::device_spec d2;
  d2.id = "dev2";
  REQUIRE(j.h.create_device(d2, j.now).ok());
  j.commit();

  // Round 2: two modules on dev1 (one X.509, managed by IoT Edge), one on dev2.
  REQUIRE(j.h.create_module(module("dev1", "m1", m1_key), j.now).ok());
  auto x509 = module("dev1", "m2");
  x509.authentication = core::auth_type::self_signed;
  x509.primary_thumbprint = std::string(40, 'a');
  x509.managed_by = "IotEdge";
  REQUIRE(j.h.create_module(x509, j.now).ok());
  REQUIRE(j.h.create_module(module("dev2", "m1"), j.now).ok());
  j.commit();

  // Round 3: m1 reports from its session, the service patches m2's twin and dev1's.
  j.now += std::chrono::seconds(5);
  const auto g =
      j.h.connect_device(core::session_request{"dev1/m1", module_token("dev1", "m1", m1_key, j.now),
                                               false, 1, nullptr},
                         j.now);
  REQUIRE(g.ok());
  REQUIRE(
      j.h.patch_reported("dev1/m1", g->epoch, nlohmann::json{{"fw", "1.2"}, {"n", 3}}, j.now).ok());
  core::twin_update u;
  u.tags = nlohmann::json{{"site", "lab"}};
  u.desired = nlohmann::json{{"interval", 10}};
  REQUIRE(j.h.update_twin("dev1/m2", u, "", j.now).ok());
  core::twin_update device_only;
  device_only.tags = nlohmann::json{{"kind", "gateway"}};
  REQUIRE(j.h.update_twin("dev1", device_only, "", j.now).ok());
  j.h.record_telemetry("dev1/m1", {{"k", "v"}}, "from m1", j.now);
  j.commit();

  // Round 4: new keys for m1 (its session ends) and another owner.
  auto rekey = module("dev1", "m1", core::base64_encode(std::string(32, 'z')));
  rekey.managed_by = "me";
  REQUIRE(j.h.update_module(rekey, "*", j.now).ok());
  j.commit();

  const auto from_mem = j.mem.load();
  const auto from_sql = j.sql->load();
  CHECK(diff(from_mem, from_sql) == "");
  REQUIRE(from_sql.modules.size() == 3);
  CHECK(from_sql.modules == from_mem.modules);
  CHECK(from_sql.twins == from_mem.twins);
  // Device twins and module twins, in one order (by identity key).
  std::vector<std::string> twin_keys;
  for (const auto& t : from_sql.twins) twin_keys.push_back(t.device_id);
  CHECK(twin_keys == std::vector<std::string>{"dev1", "dev1/m1", "dev1/m2", "dev2", "dev2/m1"});
  REQUIRE(from_sql.telemetry.size() == 1);
  CHECK(from_sql.telemetry[0].device_id == "dev1");
  CHECK(from_sql.telemetry[0].module_id == "m1");
  CHECK(count(*j.sql, "SELECT count(*) FROM modules") == 3);
  CHECK(count(*j.sql, "SELECT count(*) FROM module_twins") == 3);
  CHECK(count(*j.sql, "SELECT count(*) FROM twins") == 2);

  // A hub restored from either store has the live hub's modules and twins.
  for (const auto* snapshot : {&from_mem, &from_sql}) {
    core::hub restored{core::testing::test_settings()};
    restored.restore(*snapshot);
    same_identities(restored, j.h, {"dev1", "dev2"});
    CHECK(restored.twin("dev1/m1")->reported.values == nlohmann::json{{"fw", "1.2"}, {"n", 3}});
    CHECK(restored.twin("dev1/m2")->tags == nlohmann::json{{"site", "lab"}});
    CHECK(restored.find_module("dev1", "m2")->managed_by == "IotEdge");
    CHECK(restored.find_module("dev1", "m2")->primary_thumbprint == std::string(40, 'A'));
    // The module's current key opens it on the restored hub; the old one does not.
    CHECK(restored
              .authenticate_device(
                  module_token("dev1", "m1", core::base64_encode(std::string(32, 'z')), j.now),
                  "dev1/m1", j.now)
              .ok());
    CHECK_FALSE(
        restored.authenticate_device(module_token("dev1", "m1", m1_key, j.now), "dev1/m1", j.now)
            .ok());
  }

  // The file holds the same after closing and reopening.
  j.reopen();
  CHECK(diff(j.sql->load(), from_mem) == "");
}

TEST_CASE("deleting a module or a device through the hub removes module rows and twins") {
  journaled_hub j;
  core::device_spec d1;
  d1.id = "dev1";
  REQUIRE(j.h.create_device(d1, j.now).ok());
  core::device_spec d2;
  d2.id = "dev2";
  REQUIRE(j.h.create_device(d2, j.now).ok());
  REQUIRE(j.h.create_module(module("dev1", "m1"), j.now).ok());
  REQUIRE(j.h.create_module(module("dev1", "m2"), j.now).ok());
  REQUIRE(j.h.create_module(module("dev2", "m1"), j.now).ok());
  j.commit();
  core::twin_update u;
  u.tags = nlohmann::json{{"a", 1}};
  REQUIRE(j.h.update_twin("dev1/m1", u, "", j.now).ok());
  j.commit();
  CHECK(count(*j.sql, "SELECT count(*) FROM module_twins") == 3);

  REQUIRE(j.h.delete_module("dev1", "m1", "*", j.now).ok());
  j.commit();
  CHECK(count(*j.sql, "SELECT count(*) FROM modules WHERE device_id = 'dev1'") == 1);
  CHECK(count(*j.sql, "SELECT count(*) FROM module_twins WHERE module_id = 'm1'") == 1);
  CHECK(count(*j.sql, "SELECT count(*) FROM module_twins") == 2);
  CHECK(diff(j.sql->load(), j.mem.load()) == "");

  REQUIRE(j.h.delete_device("dev1", "*", j.now).ok());
  j.commit();
  CHECK(count(*j.sql, "SELECT count(*) FROM modules WHERE device_id = 'dev1'") == 0);
  CHECK(count(*j.sql, "SELECT count(*) FROM module_twins WHERE device_id = 'dev1'") == 0);
  CHECK(count(*j.sql, "SELECT count(*) FROM modules") == 1);
  CHECK(count(*j.sql, "SELECT count(*) FROM module_twins") == 1);
  const auto loaded = j.sql->load();
  CHECK(diff(loaded, j.mem.load()) == "");
  REQUIRE(loaded.modules.size() == 1);
  CHECK(loaded.modules[0].device_id == "dev2");

  // Created again in one round with deletes in between: what the store ends with is the last.
  REQUIRE(j.h.create_device(d1, j.now).ok());
  REQUIRE(j.h.create_module(module("dev1", "m1"), j.now).ok());
  REQUIRE(j.h.update_twin("dev1/m1", u, "", j.now).ok());
  REQUIRE(j.h.delete_module("dev1", "m1", "*", j.now).ok());
  REQUIRE(j.h.create_module(module("dev1", "m1"), j.now).ok());
  j.commit();
  CHECK(diff(j.sql->load(), j.mem.load()) == "");
  core::hub restored{core::testing::test_settings()};
  restored.restore(j.sql->load());
  same_identities(restored, j.h, {"dev1", "dev2"});
  CHECK(restored.twin("dev1/m1")->tags.empty());
}

TEST_CASE("sqlite_store: remove_module and remove_device cascade to module twins") {
  for (const bool in_memory : {false, true}) {
    CAPTURE(in_memory);
    temp_dir dir;
    const std::string path =
        in_memory ? std::string(emu::storage::in_memory_path) : dir.file("hub.db");
    auto store = std::make_unique<sqlite_store>(path);
    model expected;
    const auto commit = [&](const changes& cs) {
      store->commit(cs);
      expected.apply(cs);
    };
    const auto check = [&] {
      CHECK(diff(store->load(), expected.snapshot()) == "");
      if (!in_memory) {
        store.reset();
        store = std::make_unique<sqlite_store>(path);
        CHECK(diff(store->load(), expected.snapshot()) == "");
      }
    };
    core::module_identity a1;
    a1.device_id = "dev-a";
    a1.id = "m1";
    a1.managed_by = "IotEdge";
    a1.primary_key = "cHJpbWFyeS1rZXktMDEyMzQ1Njc4OQ==";
    a1.secondary_key = "c2Vjb25kYXJ5LWtleS0wMTIzNDU2Nzg5";
    a1.generation_id = "638000000000000042";
    a1.etag = "NDI=";
    core::module_identity a2 = a1;
    a2.id = "m2";
    a2.managed_by.clear();
    a2.authentication = core::auth_type::certificate_authority;
    a2.primary_key.clear();
    a2.secondary_key.clear();
    core::module_identity b1 = a1;
    b1.device_id = "dev-b";
    b1.authentication = core::auth_type::self_signed;
    b1.primary_key.clear();
    b1.secondary_key.clear();
    b1.primary_thumbprint = std::string(40, 'A');
    b1.secondary_thumbprint = std::string(64, 'B');
    const auto twin_of = [](const std::string& key) {
      core::device_twin t;
      t.device_id = key;
      t.etag = "ZQ==";
      t.tags = {{"of", key}};
      t.reported.values = {{"fw", "1.0"}};
      t.reported.version = 2;
      t.version = 3;
      return t;
    };
    commit({change::put_device{make_device("dev-a")}, change::put_device{make_device("dev-b")},
            change::put_module{a1}, change::put_module{a2}, change::put_module{b1},
            change::put_twin{twin_of("dev-a")}, change::put_twin{twin_of("dev-a/m1")},
            change::put_twin{twin_of("dev-a/m2")}, change::put_twin{twin_of("dev-b/m1")}});
    check();
    CHECK(count(*store, "SELECT count(*) FROM modules") == 3);
    CHECK(count(*store, "SELECT count(*) FROM module_twins") == 3);
    CHECK(count(*store, "SELECT count(*) FROM twins") == 1);
    {
      const auto loaded = store->load();
      REQUIRE(loaded.modules.size() == 3);
      CHECK(loaded.modules[0] == a1);
      CHECK(loaded.modules[1] == a2);
      CHECK(loaded.modules[2] == b1);
    }

    // An upsert replaces the whole module row.
    a1.primary_key = "bmV3LXByaW1hcnkta2V5LTAxMjM0NTY3";
    a1.managed_by = "other";
    a1.etag = "NDM=";
    commit({change::put_module{a1}});
    check();

    commit({change::remove_module{"dev-a", "m1"}});
    check();
    CHECK(count(*store, "SELECT count(*) FROM modules WHERE module_id = 'm1'") == 1);
    CHECK(count(*store,
                "SELECT count(*) FROM module_twins WHERE device_id = 'dev-a' AND module_id = "
                "'m1'") == 0);
    CHECK(count(*store, "SELECT count(*) FROM module_twins") == 2);
    CHECK(count(*store, "SELECT count(*) FROM twins") == 1);  // the device's twin stays

    commit({change::remove_device{"dev-a"}});
    check();
    CHECK(count(*store, "SELECT count(*) FROM modules WHERE device_id = 'dev-a'") == 0);
    CHECK(count(*store, "SELECT count(*) FROM module_twins WHERE device_id = 'dev-a'") == 0);
    CHECK(count(*store, "SELECT count(*) FROM twins") == 0);
    CHECK(count(*store, "SELECT count(*) FROM module_twins") == 1);
    REQUIRE(store->load().modules.size() == 1);

    commit({change::clear_all{}});
    check();
    CHECK(count(*store, "SELECT count(*) FROM modules") == 0);
    CHECK(count(*store, "SELECT count(*) FROM module_twins") == 0);
  }
}

TEST_CASE(
    "sqlite_store: a module without its device, or a module twin without its module, "
    "is refused at commit") {
  temp_dir dir;
  sqlite_store store(dir.file("hub.db"));
  store.commit(changes{change::put_device{make_device("dev-a")}});
  core::module_identity orphan;
  orphan.device_id = "ghost";
  orphan.id = "m1";
  CHECK_THROWS_AS(store.commit(changes{change::put_module{orphan}}), storage_error);
  core::device_twin t;
  t.device_id = "dev-a/ghost";
  CHECK_THROWS_AS(store.commit(changes{change::put_twin{t}}), storage_error);
  const auto loaded = store.load();
  CHECK(loaded.modules.empty());
  CHECK(loaded.twins.empty());
  CHECK(loaded.devices.size() == 1);
}

TEST_CASE("a version 4 file is migrated to 5: its devices kept, no modules") {
  temp_dir dir;
  const std::string path = dir.file("v4.db");
  {
    database db(path, emu::storage::schema_ladder().first(4));
    CHECK(db.schema_version() == 4);
    db.exec(
        "INSERT INTO devices (id, status, status_reason, primary_key, secondary_key, "
        "generation_id, etag, status_updated_ms) "
        "VALUES ('old-sas', 'enabled', '', 'a2V5', 'a2V6', '638000000000000001', 'ZQ==', 1000);"
        "INSERT INTO devices (id, status, status_reason, primary_key, secondary_key, "
        "generation_id, etag, status_updated_ms, auth_type, primary_thumbprint) "
        "VALUES ('old-x509', 'disabled', 'why', '', '', '638000000000000002', 'Zg==', 2000, "
        "'selfSigned', '" +
        std::string(40, 'A') + "')");
    CHECK(db.query_integer("SELECT count(*) FROM sqlite_master WHERE name = 'modules'") == 0);
  }
  {
    sqlite_store store(path);
    CHECK(store.db().schema_version() == 5);
    CHECK(store.db().query_integer("PRAGMA user_version") == 5);
    CHECK(store.db().query_integer(
              "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN ('modules', "
              "'module_twins')") == 2);
    const auto snap = store.load();
    REQUIRE(snap.devices.size() == 2);
    CHECK(snap.devices[0].id == "old-sas");
    CHECK(snap.devices[0].authentication == core::auth_type::sas);
    CHECK(snap.devices[0].primary_key == "a2V5");
    CHECK(snap.devices[1].id == "old-x509");
    CHECK(snap.devices[1].authentication == core::auth_type::self_signed);
    CHECK(snap.devices[1].primary_thumbprint == std::string(40, 'A'));
    CHECK(snap.devices[1].status == core::device_status::disabled);
    CHECK(snap.modules.empty());
    CHECK(snap.twins.empty());

    // A hub restored from it has the devices with no modules, and takes new ones.
    core::hub h{core::testing::test_settings()};
    h.restore(snap);
    CHECK(h.modules_of("old-sas")->empty());
    CHECK(h.modules_of("old-x509")->empty());
    REQUIRE(h.create_module(module("old-sas", "m1"), start()).ok());
    store.commit(h.take_changes());
  }
  sqlite_store again(path);
  CHECK(again.db().schema_version() == 5);
  const auto snap = again.load();
  REQUIRE(snap.modules.size() == 1);
  CHECK(snap.modules[0].device_id == "old-sas");
  REQUIRE(snap.twins.size() == 1);
  CHECK(snap.twins[0].device_id == "old-sas/m1");
}
