// storage/database: identity checks, pragmas, the schema ladder, locking.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <array>
#include <random>
#include <string>

#include "storage/database.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_store.hpp"
#include "storage_test_support.hpp"

using emu::storage::database;
using emu::storage::database_options;
using emu::storage::migration;
using emu::storage::sqlite_store;
using emu::storage::storage_error;
using storage_test::temp_dir;

namespace {

/// Runs SQL on a file with the plain SQLite API (to craft files the emulator must refuse).
void raw_exec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO(sql << ": " << (err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

std::string raw_text(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK);
  std::string out;
  if (sqlite3_step(s) == SQLITE_ROW) {
    const auto* t = sqlite3_column_text(s, 0);
    out = t ? reinterpret_cast<const char*>(t) : "";
  }
  sqlite3_finalize(s);
  sqlite3_close(db);
  return out;
}

/// The message of the storage_error that `fn` throws ("" if it throws none).
template <class Fn>
std::string error_of(Fn fn) {
  try {
    fn();
  } catch (const storage_error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

constexpr std::array<migration, 1> ladder_v1{{{1, "CREATE TABLE t (a INTEGER);"}}};
constexpr std::array<migration, 2> ladder_v2{{
    {1, "CREATE TABLE t (a INTEGER);"},
    {2, "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'; CREATE TABLE u (c INTEGER);"},
}};
constexpr std::array<migration, 3> ladder_v3_broken{{
    {1, "CREATE TABLE t (a INTEGER);"},
    {2, "ALTER TABLE t ADD COLUMN b TEXT NOT NULL DEFAULT 'x'; CREATE TABLE u (c INTEGER);"},
    {3, "CREATE TABLE v (d INTEGER); THIS IS NOT SQL;"},
}};

}  // namespace

TEST_CASE("a new file gets the current schema (v5), our application_id, WAL and the pragmas") {
  temp_dir dir;
  const std::string path = dir.file("hub.db");
  {
    sqlite_store store(path);
    database& db = store.db();
    CHECK(db.schema_version() == 5);
    CHECK(emu::storage::current_schema_version() == 5);
    CHECK(db.query_integer("PRAGMA user_version") == 5);
    CHECK(db.query_integer("PRAGMA application_id") == 0x494F5448);
    CHECK(db.query_text("PRAGMA journal_mode") == "wal");
    CHECK(db.query_integer("PRAGMA synchronous") == 2);  // FULL
    CHECK(db.query_integer("PRAGMA foreign_keys") == 1);
    CHECK(db.query_text("PRAGMA locking_mode") == "exclusive");
    CHECK(db.query_integer("SELECT count(*) FROM sqlite_master WHERE type = 'table'") == 12);
    CHECK(store.load().empty());
  }
  // Reopening a current file changes nothing and succeeds.
  sqlite_store again(path);
  CHECK(again.db().schema_version() == 5);
}

TEST_CASE(
    "a version 1 file (before twins) is migrated to the current version and keeps its devices") {
  temp_dir dir;
  const std::string path = dir.file("v1.db");
  {
    database db(path, emu::storage::schema_ladder().first(1));
    CHECK(db.schema_version() == 1);
  }
  raw_exec(
      path,
      "INSERT INTO devices VALUES ('old-device', 'enabled', '', 'a2V5', 'a2V5', '1', 'ZQ==', 0)");
  sqlite_store store(path);
  CHECK(store.db().schema_version() == 5);
  const auto snap = store.load();
  REQUIRE(snap.devices.size() == 1);
  CHECK(snap.devices[0].id == "old-device");
  CHECK(snap.twins.empty());  // the hub gives it an empty twin (device_twins::restore)
}

TEST_CASE("a version 2 file's telemetry moves to partition 0 of the v3 log, in its order") {
  temp_dir dir;
  const std::string path = dir.file("v2.db");
  {
    database db(path, emu::storage::schema_ladder().first(2));
    CHECK(db.schema_version() == 2);
  }
  raw_exec(path,
           "INSERT INTO telemetry VALUES (7, 'd1', 1000, x'', x'6161');"
           "INSERT INTO telemetry VALUES (9, 'd2', 2000, x'', x'626262');"
           "INSERT INTO telemetry VALUES (12, 'd1', 3000, x'', x'')");
  sqlite_store store(path);
  CHECK(store.db().schema_version() == 5);
  CHECK(store.db().query_integer("SELECT count(*) FROM sqlite_master WHERE name = 'telemetry'") ==
        0);
  const auto snap = store.load();
  REQUIRE(snap.telemetry.size() == 3);
  CHECK(snap.partitions.empty());  // derived from the events by the hub
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(snap.telemetry[i].partition == 0);
    CHECK(snap.telemetry[i].sequence_number == static_cast<std::int64_t>(i));
    CHECK(snap.telemetry[i].source == "Telemetry");
  }
  CHECK(snap.telemetry[0].body == "aa");
  CHECK(snap.telemetry[1].device_id == "d2");
  CHECK(snap.telemetry[0].offset == 0);
  CHECK(snap.telemetry[1].offset == 2 + 64);
  CHECK(snap.telemetry[2].offset == 2 + 64 + 3 + 64);
  CHECK(snap.telemetry[2].enqueued_time == emu::core::from_unix_ms(3000));
}

TEST_CASE("a version 3 file's devices become SAS devices without edge scopes in v4") {
  temp_dir dir;
  const std::string path = dir.file("v3.db");
  {
    database db(path, emu::storage::schema_ladder().first(3));
    CHECK(db.schema_version() == 3);
  }
  raw_exec(path,
           "INSERT INTO devices VALUES ('old-device', 'disabled', 'why', 'a2V5', 'a2V6', '1', "
           "'ZQ==', 5000)");
  sqlite_store store(path);
  CHECK(store.db().schema_version() == 5);
  const auto snap = store.load();
  REQUIRE(snap.devices.size() == 1);
  const auto& d = snap.devices[0];
  CHECK(d.id == "old-device");
  CHECK(d.status == emu::core::device_status::disabled);
  CHECK(d.primary_key == "a2V5");
  CHECK(d.secondary_key == "a2V6");
  CHECK(d.authentication == emu::core::auth_type::sas);
  CHECK(d.primary_thumbprint.empty());
  CHECK_FALSE(d.iot_edge);
  CHECK(d.device_scope.empty());
  CHECK(d.parent_scopes.empty());
  CHECK(snap.ca_certificates.empty());
}

TEST_CASE("synchronous=NORMAL is an option") {
  temp_dir dir;
  database_options o;
  o.synchronous = emu::storage::sync_mode::normal;
  sqlite_store store(dir.file("hub.db"), o);
  CHECK(store.db().query_integer("PRAGMA synchronous") == 1);
}

TEST_CASE("an in-memory database gets the schema and writes no file") {
  sqlite_store store{std::string(emu::storage::in_memory_path)};
  CHECK(store.db().in_memory());
  CHECK(store.db().query_integer("PRAGMA user_version") == 5);
  CHECK(store.db().query_integer("PRAGMA foreign_keys") == 1);
  CHECK(store.load().empty());
  store.checkpoint();  // no-op
}

TEST_CASE("an existing empty file is migrated to the current version") {
  temp_dir dir;
  const std::string path = dir.file("empty.db");
  storage_test::write_bytes(path, "");
  sqlite_store store(path);
  CHECK(store.db().query_integer("PRAGMA user_version") == 5);
  CHECK(store.db().query_integer("PRAGMA application_id") == emu::storage::application_id);
}

TEST_CASE("a schema version newer than the build is refused, and the file is left alone") {
  temp_dir dir;
  const std::string path = dir.file("hub.db");
  { sqlite_store store(path); }
  raw_exec(path, "PRAGMA user_version = 7");
  const std::string message = error_of([&] { sqlite_store store(path); });
  CHECK(contains(message, path));
  CHECK(contains(message,
                 "database schema version 7 is newer than this iothub-emulator supports (5); "
                 "upgrade the emulator"));
  CHECK(raw_text(path, "PRAGMA user_version") == "7");
}

TEST_CASE("a database of another application (foreign application_id) is refused untouched") {
  temp_dir dir;
  const std::string path = dir.file("other.db");
  raw_exec(path, "PRAGMA application_id = 305419896; CREATE TABLE x (y); INSERT INTO x VALUES (1)");
  const std::string message = error_of([&] { sqlite_store store(path); });
  CHECK(contains(message, path));
  CHECK(contains(message, "another application"));
  CHECK(contains(message, "0x12345678"));
  CHECK(raw_text(path, "PRAGMA journal_mode") == "delete");  // not switched to WAL
  CHECK(raw_text(path, "PRAGMA user_version") == "0");
}

TEST_CASE("a SQLite database with content but no application_id is refused untouched") {
  temp_dir dir;
  const std::string path = dir.file("plain.db");
  raw_exec(path, "CREATE TABLE devices (id TEXT)");
  const std::string message = error_of([&] { sqlite_store store(path); });
  CHECK(contains(message, path));
  CHECK(contains(message, "another application"));
  CHECK(raw_text(path, "PRAGMA journal_mode") == "delete");
  CHECK(raw_text(path, "SELECT count(*) FROM sqlite_master") == "1");
}

TEST_CASE("a file that is not a SQLite database is refused and not modified") {
  temp_dir dir;
  const std::string path = dir.file("garbage.db");
  std::mt19937 rng(42);
  std::string garbage(8192, '\0');
  for (char& c : garbage) c = static_cast<char>(rng() & 0xff);
  SUBCASE("random bytes") {}
  SUBCASE("text") {
    garbage = "this is not a database, just some text in a file\n";
  }
  storage_test::write_bytes(path, garbage);
  const std::string message = error_of([&] { sqlite_store store(path); });
  INFO(message);
  CHECK(contains(message, path));
  CHECK(contains(message, "is not an SQLite database"));
  CHECK(storage_test::read_bytes(path) == garbage);
  CHECK(!std::filesystem::exists(path + "-wal"));
}

TEST_CASE("a missing directory gives a clear error") {
  temp_dir dir;
  const std::string path = dir.file("no/such/dir/hub.db");
  const std::string message = error_of([&] { sqlite_store store(path); });
  CHECK(contains(message, path));
  CHECK(contains(message, "cannot open database"));
}

TEST_CASE("a second opener of a file in use is refused (exclusive lock)") {
  temp_dir dir;
  const std::string path = dir.file("hub.db");
  database_options fast;
  fast.busy_timeout = std::chrono::milliseconds(20);
  sqlite_store first(path);
  const std::string message = error_of([&] { sqlite_store second(path, fast); });
  CHECK(contains(message, path));
  CHECK(contains(message, "locked by another process"));
  // The first connection is unaffected.
  CHECK(first.load().empty());
}

TEST_CASE("quick_check on open accepts a healthy file") {
  temp_dir dir;
  database_options o;
  o.quick_check = true;
  { sqlite_store store(dir.file("hub.db"), o); }
  sqlite_store store(dir.file("hub.db"), o);
  CHECK(store.db().schema_version() == 5);
}

TEST_CASE("the ladder climbs missing steps in one transaction") {
  temp_dir dir;
  const std::string path = dir.file("ladder.db");
  {
    database db(path, ladder_v1);
    CHECK(db.schema_version() == 1);
    db.exec("INSERT INTO t (a) VALUES (5)");
  }
  {
    database db(path, ladder_v2);
    CHECK(db.schema_version() == 2);
    CHECK(db.query_integer("PRAGMA user_version") == 2);
    CHECK(db.query_text("SELECT b FROM t WHERE a = 5") == "x");
    CHECK(db.query_integer("SELECT count(*) FROM u") == 0);
  }
  SUBCASE("a failing step leaves the file at the old version, without partial changes") {
    const std::string message = error_of([&] { database db(path, ladder_v3_broken); });
    CHECK(contains(message, "schema migration to version 3 failed"));
    database db(path, ladder_v2);
    CHECK(db.query_integer("PRAGMA user_version") == 2);
    CHECK(db.query_integer("SELECT count(*) FROM sqlite_master WHERE name = 'v'") == 0);
  }
  SUBCASE("a fresh file climbs every step at once") {
    database db(dir.file("fresh.db"), ladder_v2);
    CHECK(db.query_integer("PRAGMA user_version") == 2);
    CHECK(db.query_integer("PRAGMA application_id") == emu::storage::application_id);
  }
  SUBCASE("an older build refuses the newer file") {
    const std::string message = error_of([&] { database db(path, ladder_v1); });
    CHECK(contains(message,
                   "database schema version 2 is newer than this iothub-emulator "
                   "supports (1); upgrade the emulator"));
  }
}

TEST_CASE("a ladder with gaps is a programming error") {
  constexpr std::array<migration, 2> gap{{{1, "SELECT 1"}, {3, "SELECT 1"}}};
  CHECK_THROWS_AS(database(std::string(emu::storage::in_memory_path), gap), storage_error);
}

TEST_CASE("checkpoint() truncates the WAL") {
  temp_dir dir;
  const std::string path = dir.file("hub.db");
  sqlite_store store(path);
  store.commit(std::vector<emu::core::state_change>{
      emu::core::change::put_device{storage_test::make_device("d1")}});
  CHECK(std::filesystem::file_size(path + "-wal") > 0);
  store.checkpoint();
  CHECK(std::filesystem::file_size(path + "-wal") == 0);
  CHECK(store.load().devices.size() == 1);
}
