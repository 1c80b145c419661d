// Device twins in the core (next-capabilities §2, DOC "Understand and use device twins"):
// the document rules, merge with $metadata, versions and etags, durability records and the
// desired-patch notification.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/twin_patch.hpp"
#include "test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;
using json = nlohmann::json;

namespace {

json nested(int levels) {
  // {"l1":{"l2":…{"lN":{"property":"value"}}}}
  json doc = {{"property", "value"}};
  for (int i = levels; i >= 1; --i) doc = json{{"l" + std::to_string(i), doc}};
  return doc;
}

std::vector<event::desired_patch> desired_events(const std::vector<hub_event>& events) {
  std::vector<event::desired_patch> out;
  for (const auto& e : events)
    if (const auto* d = std::get_if<event::desired_patch>(&e)) out.push_back(*d);
  return out;
}

std::size_t twin_changes(const std::vector<state_change>& changes) {
  std::size_t n = 0;
  for (const auto& c : changes) n += std::holds_alternative<change::put_twin>(c) ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("check_twin_patch: the documented key, value and depth rules") {
  CHECK(check_twin_patch(json::object(), twin_part::desired));
  CHECK(check_twin_patch(json{{"a", 1}, {"b", nullptr}, {"c", {{"d", true}}}, {"e", {1, 2}}},
                         twin_part::reported));
  // The documented deepest valid document: ten levels of objects, then a property.
  CHECK(check_twin_patch(nested(10), twin_part::desired));
  const auto too_deep = check_twin_patch(nested(11), twin_part::desired);
  REQUIRE_FALSE(too_deep);
  CHECK(too_deep.error().code == hub_error::argument_invalid);
  CHECK(too_deep.error().message.find("deeper than 10") != std::string::npos);

  for (const std::string& key :
       std::vector<std::string>{"a.b", "$x", "a b", std::string("a\x01", 2), "", "\xc2\x85"}) {
    CAPTURE(key);
    const auto r = check_twin_patch(json{{key, 1}}, twin_part::tags);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == hub_error::argument_invalid);
    CHECK(r.error().message.starts_with("Provided json is not a valid 'tags' object: "));
  }
  CHECK(check_twin_patch(json{{std::string(1024, 'k'), 1}}, twin_part::tags));
  CHECK_FALSE(check_twin_patch(json{{std::string(1025, 'k'), 1}}, twin_part::tags));
  CHECK(check_twin_patch(json{{"s", std::string(4096, 'x')}}, twin_part::reported));
  CHECK_FALSE(check_twin_patch(json{{"s", std::string(4097, 'x')}}, twin_part::reported));
  CHECK(check_twin_patch(json{{"i", 4503599627370495LL}, {"j", -4503599627370496LL}},
                         twin_part::desired));
  CHECK_FALSE(check_twin_patch(json{{"i", 4503599627370496LL}}, twin_part::desired));
  CHECK_FALSE(check_twin_patch(json{{"i", -4503599627370497LL}}, twin_part::desired));
  CHECK_FALSE(check_twin_patch(json{{"i", 18446744073709551615ULL}}, twin_part::desired));
  CHECK_FALSE(check_twin_patch(json::array(), twin_part::desired));
  CHECK_FALSE(check_twin_patch(json("text"), twin_part::desired));
  // Keys inside nested objects follow the same rules.
  CHECK_FALSE(check_twin_patch(json{{"a", {{"b.c", 1}}}}, twin_part::desired));
}

TEST_CASE("merge_twin_patch: merge patch semantics, null deletes, metadata follows") {
  json values = {{"a", 1}, {"o", {{"x", 1}, {"y", 2}}}};
  json meta = metadata_for(values, "T0", 2);
  merge_twin_patch(values, meta,
                   json{{"a", nullptr}, {"o", {{"y", nullptr}, {"z", 3}}}, {"n", "v"}}, "T1", 3);
  CHECK(values == json{{"o", {{"x", 1}, {"z", 3}}}, {"n", "v"}});
  CHECK_FALSE(meta.contains("a"));
  CHECK(meta["n"]["$lastUpdated"] == "T1");
  CHECK(meta["n"]["$lastUpdatedVersion"] == 3);
  CHECK(meta["o"]["z"]["$lastUpdated"] == "T1");
  CHECK(meta["o"]["x"]["$lastUpdated"] == "T0");
  CHECK(meta["o"]["$lastUpdated"] == "T1");
  CHECK_FALSE(meta["o"].contains("y"));
  // A non-object replaced by an object and back.
  merge_twin_patch(values, meta, json{{"n", {{"deep", 1}}}}, "T2", 4);
  CHECK(values["n"] == json{{"deep", 1}});
  merge_twin_patch(values, meta, json{{"n", 5}}, "T3", 5);
  CHECK(values["n"] == 5);
  CHECK_FALSE(meta["n"].contains("deep"));
}

TEST_CASE("top_level_diff names changed members and nulls removed ones") {
  CHECK(top_level_diff(json{{"a", 1}, {"b", 2}}, json{{"b", 3}, {"c", 4}}) ==
        json{{"a", nullptr}, {"b", 3}, {"c", 4}});
  CHECK(top_level_diff(json{{"a", 1}}, json{{"a", 1}}) == json::object());
}

TEST_CASE("a new device has an empty twin; deleting the device deletes it") {
  fixture f;
  const auto t = f.h.twin("dev1");
  REQUIRE(t.ok());
  CHECK(t->tags == json::object());
  CHECK(t->desired.values == json::object());
  CHECK(t->desired.version == 1);
  CHECK(t->reported.version == 1);
  CHECK_FALSE(t->etag.empty());
  CHECK(twin_for_device(*t) ==
        json{{"desired", {{"$version", 1}}}, {"reported", {{"$version", 1}}}});

  REQUIRE(f.h.delete_device("dev1", "*", f.now).ok());
  const auto gone = f.h.twin("dev1");
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == hub_error::device_not_found);
  CHECK(f.h.twin("nobody").error().code == hub_error::device_not_found);
}

TEST_CASE("service update: desired $version +1 per write, etag changes, the device is notified") {
  fixture f;
  const auto before = *f.h.twin("dev1");
  twin_update u;
  u.desired = json{{"telemetryInterval", 5}, {"mode", {{"led", "on"}}}};
  u.tags = json{{"location", {{"building", 43}}}};
  const auto r = f.h.update_twin("dev1", u, "", f.now);
  REQUIRE(r.ok());
  CHECK(r->desired.version == before.desired.version + 1);
  CHECK(r->version == before.version + 1);
  CHECK(r->etag != before.etag);
  CHECK(r->tags == json{{"location", {{"building", 43}}}});
  CHECK(r->desired.metadata["telemetryInterval"]["$lastUpdatedVersion"] == 2);
  CHECK(section_for_service(r->desired)["$version"] == 2);
  CHECK(section_for_service(r->desired).contains("$metadata"));
  CHECK_FALSE(section_for_device(r->desired).contains("$metadata"));

  CHECK(twin_changes(f.h.take_changes()) == 1);
  const auto events = desired_events(f.h.take_events());
  REQUIRE(events.size() == 1);
  CHECK(events[0].device_id == "dev1");
  CHECK(events[0].version == 2);
  CHECK(events[0].patch ==
        json{{"telemetryInterval", 5}, {"mode", {{"led", "on"}}}, {"$version", 2}});

  // A tags-only update does not touch desired and tells the device nothing.
  twin_update tags_only;
  tags_only.tags = json{{"location", nullptr}};
  const auto r2 = f.h.update_twin("dev1", tags_only, "", f.now);
  REQUIRE(r2.ok());
  CHECK(r2->tags == json::object());
  CHECK(r2->desired.version == 2);
  CHECK(desired_events(f.h.take_events()).empty());

  // desired: null removes every member, the device receives explicit nulls.
  twin_update clear;
  clear.desired = json(nullptr);
  const auto r3 = f.h.update_twin("dev1", clear, "", f.now);
  REQUIRE(r3.ok());
  CHECK(r3->desired.values == json::object());
  const auto cleared = desired_events(f.h.take_events());
  REQUIRE(cleared.size() == 1);
  CHECK(cleared[0].patch ==
        json{{"telemetryInterval", nullptr}, {"mode", nullptr}, {"$version", 3}});
}

TEST_CASE("If-Match: the current etag or * passes, another etag is precondition_failed") {
  fixture f;
  const auto etag = f.h.twin("dev1")->etag;
  twin_update u;
  u.tags = json{{"a", 1}};
  const auto stale = f.h.update_twin("dev1", u, "AAAAAAAAAAE=", f.now);
  REQUIRE_FALSE(stale.ok());
  CHECK(stale.error().code == hub_error::precondition_failed);
  CHECK(f.h.twin("dev1")->tags == json::object());
  CHECK(f.h.update_twin("dev1", u, etag, f.now).ok());
  CHECK(f.h.update_twin("dev1", u, "*", f.now).ok());
  CHECK(f.h.replace_twin("dev1", twin_replacement{}, etag, f.now).error().code ==
        hub_error::precondition_failed);
}

TEST_CASE("replace: new tags and desired; the device gets the top-level difference") {
  fixture f;
  twin_update u;
  u.desired = json{{"a", 1}, {"b", 2}};
  REQUIRE(f.h.update_twin("dev1", u, "", f.now).ok());
  (void)f.h.take_events();
  twin_replacement r;
  r.tags = json{{"t", "x"}};
  r.desired = json{{"b", 3}, {"c", nullptr}};
  const auto t = f.h.replace_twin("dev1", r, "*", f.now);
  REQUIRE(t.ok());
  CHECK(t->tags == json{{"t", "x"}});
  CHECK(t->desired.values == json{{"b", 3}});
  CHECK(t->desired.version == 3);
  const auto events = desired_events(f.h.take_events());
  REQUIRE(events.size() == 1);
  CHECK(events[0].patch == json{{"a", nullptr}, {"b", 3}, {"$version", 3}});
}

TEST_CASE("reported patches: $version +1, only from the current session, sizes enforced") {
  fixture f;
  const auto g = f.connect();
  const auto v = f.h.patch_reported("dev1", g.epoch, json{{"fw", "1.0"}}, f.now);
  REQUIRE(v.ok());
  CHECK(*v == 2);
  CHECK(f.h.twin("dev1")->reported.values == json{{"fw", "1.0"}});
  CHECK(twin_changes(f.h.take_changes()) == 1);
  CHECK(desired_events(f.h.take_events()).empty());

  const auto stale = f.h.patch_reported("dev1", g.epoch + 100, json{{"fw", "2.0"}}, f.now);
  REQUIRE_FALSE(stale.ok());
  CHECK(f.h.twin("dev1")->reported.values == json{{"fw", "1.0"}});

  // 32 KB of reported values: 8 strings of 4000 bytes fit, one more of 4 KB does not, and the
  // failed patch leaves the twin unchanged.
  json big = json::object();
  for (int i = 0; i < 8; ++i) big["k" + std::to_string(i)] = std::string(4000, 'x');
  REQUIRE(f.h.patch_reported("dev1", g.epoch, big, f.now).ok());
  const auto version = f.h.twin("dev1")->reported.version;
  const auto over =
      f.h.patch_reported("dev1", g.epoch, json{{"k8", std::string(4096, 'y')}}, f.now);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == hub_error::argument_invalid);
  CHECK(f.h.twin("dev1")->reported.version == version);
  CHECK_FALSE(f.h.twin("dev1")->reported.values.contains("k8"));

  // Tags: 8 KB.
  twin_update tags;
  tags.tags = json{{"a", std::string(4000, 'a')}, {"b", std::string(4000, 'b')}};
  CHECK(f.h.update_twin("dev1", tags, "", f.now).ok());
  tags.tags = json{{"c", std::string(400, 'c')}};
  CHECK(f.h.update_twin("dev1", tags, "", f.now).error().code == hub_error::argument_invalid);
}

TEST_CASE("stored form round-trips") {
  fixture f;
  twin_update u;
  u.desired = json{{"a", {{"b", 1.5}}}};
  u.tags = json{{"t", true}};
  const auto t = *f.h.update_twin("dev1", u, "", f.now);
  const auto back = from_stored("dev1", to_stored(t));
  REQUIRE(back);
  CHECK(*back == t);
  CHECK_FALSE(from_stored("dev1", "not json"));
  CHECK_FALSE(from_stored("dev1", "[]"));
}
