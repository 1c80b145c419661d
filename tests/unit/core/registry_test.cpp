// The device registry (spec §7).
#include <doctest/doctest.h>

#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

TEST_CASE("create: generated keys, generation id and etag; duplicate refused") {
  fixture f;
  device_spec spec;
  spec.id = "new-device";
  const auto d = f.h.create_device(spec, f.now);
  REQUIRE(d.ok());
  CHECK(base64_decode(d->primary_key)->size() == 32);
  CHECK(base64_decode(d->secondary_key)->size() == 32);
  CHECK(d->primary_key != d->secondary_key);
  CHECK(d->generation_id.size() == 18);
  CHECK_FALSE(d->etag.empty());
  const auto dup = f.h.create_device(spec, f.now);
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == hub_error::device_already_exists);
}

TEST_CASE("device id rules") {
  CHECK(is_valid_device_id("a"));
  CHECK(is_valid_device_id("dev-1.+%_#*?!(),=@$':;"));
  CHECK(is_valid_device_id(std::string(128, 'x')));
  CHECK_FALSE(is_valid_device_id(""));
  CHECK_FALSE(is_valid_device_id(std::string(129, 'x')));
  CHECK_FALSE(is_valid_device_id("a b"));
  CHECK_FALSE(is_valid_device_id("a/b"));
  CHECK_FALSE(is_valid_device_id("caf\xc3\xa9"));
  fixture f;
  device_spec spec;
  spec.id = "a/b";
  CHECK(f.h.create_device(spec, f.now).error().code == hub_error::argument_invalid);
  spec.id = "ok";
  spec.primary_key = "not base64!";
  CHECK(f.h.create_device(spec, f.now).error().code == hub_error::argument_invalid);
  spec.primary_key = base64_encode("short");
  CHECK(f.h.create_device(spec, f.now).error().code == hub_error::argument_invalid);
}

TEST_CASE("update: etag match, mismatch, wildcard; disabling ends the device's session") {
  fixture f;
  const auto session = f.connect();
  const auto etag = f.h.find_device("dev1")->etag;
  device_spec spec;
  spec.id = "dev1";
  spec.status = device_status::disabled;
  const auto mismatch = f.h.update_device(spec, "bogus", f.now);
  REQUIRE_FALSE(mismatch.ok());
  CHECK(mismatch.error().code == hub_error::precondition_failed);
  const auto updated = f.h.update_device(spec, etag, f.now);
  REQUIRE(updated.ok());
  CHECK(updated->status == device_status::disabled);
  CHECK(updated->etag != etag);
  CHECK(updated->primary_key == device_key);  // empty keys in an update keep the old ones
  const auto events = f.h.take_events();
  REQUIRE(events.size() == 1);
  const auto& ended = std::get<event::session_ended>(events[0]);
  CHECK(ended.device_id == "dev1");
  CHECK(ended.epoch == session.epoch);
  CHECK(ended.why == session_end::device_changed);
  CHECK(f.h.update_device(spec, "*", f.now).ok());
  spec.id = "ghost";
  CHECK(f.h.update_device(spec, "*", f.now).error().code == hub_error::device_not_found);
}

TEST_CASE("delete: etag rules, not found") {
  fixture f;
  CHECK(f.h.delete_device("dev1", "bogus", f.now).error().code == hub_error::precondition_failed);
  CHECK(f.h.delete_device("dev1", f.h.find_device("dev1")->etag, f.now).ok());
  CHECK(f.h.find_device("dev1") == nullptr);
  CHECK(f.h.delete_device("dev1", "*", f.now).error().code == hub_error::device_not_found);
}

TEST_CASE("list is ordered by id") {
  fixture f;
  for (const auto* id : {"c", "a", "b"}) {
    device_spec spec;
    spec.id = id;
    REQUIRE(f.h.create_device(spec, f.now).ok());
  }
  const auto all = f.h.list_devices();
  REQUIRE(all.size() == 4);
  CHECK(all[0].id == "a");
  CHECK(all[3].id == "dev1");
}

TEST_CASE("time formatting") {
  const time_point t{std::chrono::sys_days{std::chrono::year{2026} / 3 / 7} + 1h + 2min + 3s +
                     45ms};
  CHECK(to_iso8601(t) == "2026-03-07T01:02:03.0450000Z");
  CHECK(to_iso8601(time_point{}) == "1970-01-01T00:00:00.0000000Z");
}
