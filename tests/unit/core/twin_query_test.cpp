// The twin query language subset (next-capabilities §2.5): parsing, Azure's comparison rules,
// precedence, COUNT(), and bounded refusal of hostile text.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/twin_query.hpp"

using emu::core::hub_error;
using emu::core::twin_query;
using json = nlohmann::json;

namespace {

const json dev1 = json::parse(R"({
  "deviceId": "dev1", "status": "enabled", "connectionState": "Connected",
  "tags": {"location": {"region": "US", "plant": 43}, "on": true, "nothing": null},
  "properties": {"desired": {"rate": 5, "$version": 4},
                 "reported": {"fw": "1.2", "temp": 21.5, "$version": 7}}})");
const json dev2 = json::parse(R"({
  "deviceId": "dev2", "status": "disabled", "connectionState": "Disconnected",
  "tags": {"location": {"region": "EU"}},
  "properties": {"desired": {"$version": 1}, "reported": {"$version": 1}}})");

bool matches(const std::string& where, const json& doc) {
  const auto q = twin_query::parse("SELECT * FROM devices WHERE " + where);
  REQUIRE_MESSAGE(q.ok(), where << ": " << q.error().message);
  return q->matches(doc);
}

}  // namespace

TEST_CASE("SELECT * with and without WHERE; keywords in any case") {
  const auto all = twin_query::parse("SELECT * FROM devices");
  REQUIRE(all.ok());
  CHECK_FALSE(all->is_count());
  CHECK(all->matches(dev1));
  CHECK(all->matches(dev2));
  const auto lower = twin_query::parse("select * from DEVICES where deviceId = 'dev2'");
  REQUIRE(lower.ok());
  CHECK_FALSE(lower->matches(dev1));
  CHECK(lower->matches(dev2));
}

TEST_CASE("COUNT() with and without an alias") {
  const auto named =
      twin_query::parse("SELECT COUNT() AS total FROM devices WHERE status = 'enabled'");
  REQUIRE(named.ok());
  CHECK(named->is_count());
  CHECK(*named->count_alias() == "total");
  CHECK(named->matches(dev1));
  CHECK_FALSE(named->matches(dev2));
  const auto bare = twin_query::parse("SELECT COUNT() FROM devices");
  REQUIRE(bare.ok());
  CHECK(*bare->count_alias() == "$1");
}

TEST_CASE("comparisons: numbers, strings, booleans, null; nested paths and $version") {
  struct row {
    const char* where;
    bool dev1;
  };
  const row rows[] = {
      {"tags.location.region = 'US'", true},
      {"tags.location.region = \"US\"", true},
      {"tags.location.region != 'US'", false},
      {"tags.location.region <> 'EU'", true},
      {"tags.location.plant = 43", true},
      {"tags.location.plant = 43.0", true},
      {"tags.location.plant > 42", true},
      {"tags.location.plant >= 43", true},
      {"tags.location.plant < 43", false},
      {"tags.location.plant <= 43", true},
      {"properties.reported.temp > 21.4", true},
      {"properties.reported.temp < -1e3", false},
      {"properties.reported.fw > '1.10'", true},  // strings compare by bytes
      {"properties.reported.$version = 7", true},
      {"properties.desired.$version >= 4", true},
      {"tags.on = true", true},
      {"tags.on != false", true},
      {"tags.on > false", false},  // booleans: equality only
      {"tags.nothing = null", true},
      {"connectionState = 'Connected'", true},
      // Azure: no conversion between types, and an undefined side is false.
      {"tags.location.plant = '43'", false},
      {"tags.location.plant != '43'", false},
      {"tags.missing = 1", false},
      {"tags.missing != 1", false},
      {"tags.location = 'US'", false},
  };
  for (const auto& r : rows) {
    CAPTURE(r.where);
    CHECK(matches(r.where, dev1) == r.dev1);
  }
}

TEST_CASE("AND binds tighter than OR; NOT; parentheses; IS_DEFINED") {
  CHECK(matches("status = 'disabled' AND deviceId = 'dev1' OR deviceId = 'dev1'", dev1));
  CHECK_FALSE(matches("status = 'disabled' AND (deviceId = 'dev1' OR deviceId = 'dev1')", dev1));
  CHECK(matches("NOT status = 'disabled'", dev1));
  CHECK(matches("NOT (tags.location.region = 'EU' OR status = 'disabled')", dev1));
  CHECK_FALSE(matches("NOT NOT (status = 'disabled')", dev1));
  // NOT of a comparison with an undefined side holds.
  CHECK(matches("NOT (tags.missing = 1)", dev1));
  CHECK(matches("IS_DEFINED(properties.reported.fw)", dev1));
  CHECK_FALSE(matches("IS_DEFINED(properties.reported.fw)", dev2));
  CHECK_FALSE(matches("IS_DEFINED(tags.nothing)", dev1));  // null counts as not defined
  CHECK(matches("is_defined(tags.location) and not is_defined(tags.x)", dev1));
}

TEST_CASE("string literals: doubled quotes and backslash escapes") {
  const json doc = {{"tags", {{"name", "it's \"x\""}}}};
  CHECK(matches(R"(tags.name = 'it''s "x"')", doc));
  CHECK(matches(R"(tags.name = 'it\'s "x"')", doc));
  CHECK(matches(R"(tags.name = "it's \"x\"")", doc));
}

TEST_CASE("malformed queries are argument_invalid with a position") {
  const std::vector<std::string> bad = {
      "",
      "SELECT",
      "SELECT * devices",
      "SELECT * FROM modules",
      "SELECT deviceId FROM devices",
      "SELECT * FROM devices WHERE",
      "SELECT * FROM devices WHERE a ~ 1",
      "SELECT * FROM devices WHERE a = 'open",
      "SELECT * FROM devices WHERE a = 1 extra",
      "SELECT * FROM devices WHERE (a = 1",
      "SELECT * FROM devices WHERE a = 1 AND",
      "SELECT * FROM devices WHERE IS_DEFINED(1)",
      "SELECT COUNT( FROM devices",
      "SELECT * FROM devices WHERE a. = 1",
      "SELECT * FROM devices WHERE a = 1 # comment",
  };
  for (const auto& text : bad) {
    CAPTURE(text);
    const auto q = twin_query::parse(text);
    REQUIRE_FALSE(q.ok());
    CHECK(q.error().code == hub_error::argument_invalid);
    CHECK(q.error().message.find("at ") != std::string::npos);
  }
}

TEST_CASE("hostile text is bounded: length and nesting") {
  const auto long_text =
      twin_query::parse("SELECT * FROM devices WHERE a = '" + std::string(9000, 'x') + "'");
  REQUIRE_FALSE(long_text.ok());
  CHECK(long_text.error().message.find("8 KB") != std::string::npos);
  const auto deep = twin_query::parse("SELECT * FROM devices WHERE " + std::string(100, '(') +
                                      "a = 1" + std::string(100, ')'));
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.error().message.find("nested too deeply") != std::string::npos);
  const auto nots = twin_query::parse("SELECT * FROM devices WHERE " + [] {
    std::string s;
    for (int i = 0; i < 1000; ++i) s += "NOT ";
    return s;
  }() + "a = 1");
  REQUIRE_FALSE(nots.ok());
  // Within the limit parentheses are fine.
  CHECK(twin_query::parse("SELECT * FROM devices WHERE " + std::string(5, '(') + "a = 1" +
                          std::string(5, ')'))
            .ok());
}
