// storage/fault_vfs: failures injected under SQLite fail the commit that meets them, SQLite
// rolls it back, and the store carries on from what the file holds (issue 20 item 2).
#include <doctest/doctest.h>

#include <sqlite3.h>

#include <string>
#include <vector>

#include "storage/sqlite_store.hpp"
#include "storage_test_support.hpp"

namespace core = emu::core;
namespace change = emu::core::change;
using emu::storage::io_fault_injection;
using emu::storage::sqlite_store;
using emu::storage::storage_error;
using storage_test::make_device;
using storage_test::temp_dir;

namespace {

std::vector<std::string> device_ids(sqlite_store& store) {
  std::vector<std::string> ids;
  for (const auto& d : store.load().devices) ids.push_back(d.id);
  return ids;
}

void put(sqlite_store& store, const std::string& id) {
  const std::vector<core::state_change> changes{change::put_device{make_device(id)}};
  store.commit(changes);
}

/// Commits device `id` expecting the injected failure; returns SQLite's extended code.
int failing_put(sqlite_store& store, const std::string& id) {
  try {
    put(store, id);
  } catch (const storage_error& e) {
    return e.sqlite_code();
  }
  return SQLITE_OK;
}

}  // namespace

TEST_CASE("a failed WAL fsync or write fails its commit only, and nothing of it is kept") {
  struct fault_case {
    const char* name;
    core::storage_io_faults faults;
    int code;
  };
  for (const fault_case& f : {fault_case{"fsync", {0, 1}, SQLITE_IOERR_FSYNC},
                              fault_case{"write", {1, 0}, SQLITE_IOERR_WRITE}}) {
    CAPTURE(f.name);
    temp_dir dir;
    const std::string path = dir.file("hub.db");
    {
      sqlite_store store(path, {}, io_fault_injection::on);
      put(store, "before");
      store.arm_io_faults(f.faults);
      CHECK(store.pending_io_faults() == f.faults);
      CHECK(failing_put(store, "refused") == f.code);
      CHECK(store.pending_io_faults() == core::storage_io_faults{});
      // The connection reads what the file holds: the refused commit is not there.
      CHECK(device_ids(store) == std::vector<std::string>{"before"});
      put(store, "after");  // the next commit succeeds, from the file's state
      CHECK(device_ids(store) == std::vector<std::string>{"after", "before"});
    }
    // Reopened without the shim: exactly the commits that succeeded.
    sqlite_store again(path);
    CHECK(device_ids(again) == std::vector<std::string>{"after", "before"});
  }
}

TEST_CASE("injected failures count down one per failed commit") {
  temp_dir dir;
  sqlite_store store(dir.file("hub.db"), {}, io_fault_injection::on);
  store.arm_io_faults({0, 2});
  CHECK(failing_put(store, "a") == SQLITE_IOERR_FSYNC);
  CHECK(store.pending_io_faults() == core::storage_io_faults{0, 1});
  CHECK(failing_put(store, "b") == SQLITE_IOERR_FSYNC);
  put(store, "c");
  CHECK(device_ids(store) == std::vector<std::string>{"c"});
}

TEST_CASE("a store without the shim ignores armed failures") {
  temp_dir dir;
  sqlite_store store(dir.file("hub.db"));
  store.arm_io_faults({3, 3});
  CHECK(store.pending_io_faults() == core::storage_io_faults{});
  put(store, "a");
  CHECK(device_ids(store) == std::vector<std::string>{"a"});
}

TEST_CASE("two stores on the shim have their own faults") {
  temp_dir dir;
  sqlite_store one(dir.file("one.db"), {}, io_fault_injection::on);
  sqlite_store two(dir.file("two.db"), {}, io_fault_injection::on);
  one.arm_io_faults({0, 1});
  put(two, "x");
  CHECK(failing_put(one, "y") == SQLITE_IOERR_FSYNC);
  CHECK(device_ids(two) == std::vector<std::string>{"x"});
}
