// The twin query language subset (next-capabilities §2.5, DOC "IoT Hub query language for
// device and module twins"): parsing, COUNT() aliases, Azure's comparison rules (no
// conversion between types, undefined is false), precedence, IS_DEFINED, string and number
// literals, and the refusal of malformed or hostile text with a position.
#include <doctest/doctest.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "emulator/core/twin_query.hpp"

using emu::core::hub_error;
using emu::core::twin_query;
namespace query_limits = emu::core::query_limits;
using json = nlohmann::json;

namespace {

// Shaped like the service twin JSON the hub evaluates queries against.
const json dev1 = json::parse(R"({
  "deviceId": "dev1", "status": "enabled", "connectionState": "Connected",
  "tags": {"location": {"region": "US", "plant": 43}, "on": true, "off": false,
           "nothing": null, "list": [1, 2], "big": 9007199254740993, "serial-no": "A-1",
           "name": "Zoë"},
  "properties": {"desired": {"rate": 5, "$version": 4},
                 "reported": {"fw": "1.2", "temp": 21.5, "rate": 5, "$version": 7}}})");
const json dev2 = json::parse(R"({
  "deviceId": "dev2", "status": "disabled", "connectionState": "Disconnected",
  "tags": {"location": {"region": "EU"}},
  "properties": {"desired": {"rate": 1, "$version": 1}, "reported": {"$version": 1}}})");

const std::string prefix = "SELECT * FROM devices WHERE ";

/// Whether `SELECT * FROM devices WHERE <where>` selects `doc`; the query must parse.
bool where(const std::string& condition, const json& doc = dev1) {
  const auto q = twin_query::parse(prefix + condition);
  REQUIRE_MESSAGE(q.ok(), condition << ": " << q.error().message);
  return q->matches(doc);
}

/// The error message of a query that must not parse; checks the error code.
std::string refusal(const std::string& text) {
  const auto q = twin_query::parse(text);
  REQUIRE_MESSAGE(!q.ok(), text);
  CHECK(q.error().code == hub_error::argument_invalid);
  return q.error().message;
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

std::string repeat(const std::string& s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

TEST_CASE("SELECT * without WHERE selects every document") {
  const auto q = twin_query::parse("SELECT * FROM devices");
  REQUIRE(q.ok());
  CHECK_FALSE(q->is_count());
  CHECK_FALSE(q->count_alias().has_value());
  CHECK(q->matches(dev1));
  CHECK(q->matches(dev2));
  CHECK(q->matches(json::object()));
  CHECK(q->matches(json("not even an object")));
}

TEST_CASE("SELECT * with WHERE selects the matching documents only") {
  const auto q = twin_query::parse("SELECT * FROM devices WHERE tags.location.region = 'US'");
  REQUIRE(q.ok());
  CHECK_FALSE(q->is_count());
  CHECK(q->matches(dev1));
  CHECK_FALSE(q->matches(dev2));
  CHECK_FALSE(q->matches(json::object()));
  CHECK_FALSE(q->matches(json::array({1, 2})));
}

TEST_CASE("COUNT(): the alias, or $1 without one; WHERE still filters") {
  const auto named =
      twin_query::parse("SELECT COUNT() AS total FROM devices WHERE status = 'enabled'");
  REQUIRE(named.ok());
  CHECK(named->is_count());
  REQUIRE(named->count_alias().has_value());
  CHECK(*named->count_alias() == "total");
  CHECK(named->matches(dev1));
  CHECK_FALSE(named->matches(dev2));

  const auto bare = twin_query::parse("SELECT COUNT() FROM devices");
  REQUIRE(bare.ok());
  CHECK(bare->is_count());
  CHECK(*bare->count_alias() == "$1");
  CHECK(bare->matches(dev1));
  CHECK(bare->matches(dev2));

  // Keywords in any case; the alias keeps the case it was written in.
  const auto lower = twin_query::parse("select count ( ) as numberOfDevices from Devices");
  REQUIRE(lower.ok());
  CHECK(*lower->count_alias() == "numberOfDevices");

  CHECK(contains(refusal("SELECT COUNT() AS FROM devices"),
                 "Syntax error at 19: expected an alias name after AS, found 'FROM'"));
  CHECK(contains(refusal("SELECT COUNT() AS 'n' FROM devices"), "Syntax error at 19:"));
}

TEST_CASE("every operator on numbers, strings, booleans and null") {
  struct row {
    const char* condition;
    bool expected;
  };
  const row rows[] = {
      // Numbers: integers, decimals, exponents, negatives; int and float compare by value.
      {"tags.location.plant = 43", true},
      {"tags.location.plant = 43.0", true},
      {"tags.location.plant = 4.3e1", true},
      {"tags.location.plant = 44", false},
      {"tags.location.plant != 44", true},
      {"tags.location.plant != 43", false},
      {"tags.location.plant <> 44", true},
      {"tags.location.plant <> 43.0", false},
      {"tags.location.plant < 44", true},
      {"tags.location.plant < 43", false},
      {"tags.location.plant <= 43", true},
      {"tags.location.plant <= 42.9", false},
      {"tags.location.plant > 42.5", true},
      {"tags.location.plant > 43", false},
      {"tags.location.plant >= 43", true},
      {"tags.location.plant >= 43.5", false},
      {"tags.location.plant > -1", true},  // unsigned in the document, negative literal
      {"properties.reported.temp = 21.5", true},
      {"properties.reported.temp < 2.15E+1", false},
      {"properties.reported.temp > -1e3", true},
      {"properties.reported.temp<22", true},  // no spaces needed
      // Integers compare exactly: 2^53 + 1 is not 2^53, as it would be through doubles.
      {"tags.big = 9007199254740993", true},
      {"tags.big > 9007199254740992", true},
      {"tags.big = 9007199254740992", false},
      // Strings: by bytes, so '1.2' > '1.10' and 'Z' < 'a'.
      {"status = 'enabled'", true},
      {"status = 'Enabled'", false},
      {"status != 'disabled'", true},
      {"status <> 'enabled'", false},
      {"properties.reported.fw > '1.10'", true},
      {"properties.reported.fw < '1.10'", false},
      {"properties.reported.fw >= '1.2'", true},
      {"properties.reported.fw <= '1.2'", true},
      {"properties.reported.fw < '1.2'", false},
      {"deviceId > 'Dev9'", true},
      {"tags.name > 'Zoz'", true},  // 'ë' is two bytes above ASCII
      // Booleans: = and != only; every ordering operator is false.
      {"tags.on = true", true},
      {"tags.on = false", false},
      {"tags.on != false", true},
      {"tags.on <> true", false},
      {"tags.off = FALSE", true},
      {"tags.on > false", false},
      {"tags.on >= true", false},
      {"tags.on < true", false},
      {"tags.on <= true", false},
      // null: = and != only.
      {"tags.nothing = null", true},
      {"tags.nothing != null", false},
      {"tags.nothing <= null", false},
      {"tags.nothing >= NULL", false},
      // Literal on the left, and path against path.
      {"'enabled' = status", true},
      {"5 = properties.desired.rate", true},
      {"properties.desired.rate = properties.reported.rate", true},
      {"properties.desired.$version < properties.reported.$version", true},
  };
  for (const auto& r : rows) {
    CAPTURE(r.condition);
    CHECK(where(r.condition) == r.expected);
  }
}

TEST_CASE("a type mismatch or an undefined side is false for every operator, != included") {
  const char* const pairs[] = {
      "tags.location.plant ~ '43'",  // number vs string
      "status ~ 1",                  // string vs number
      "tags.on ~ 'true'",            // bool vs string
      "tags.on ~ 1",                 // bool vs number
      "tags.nothing ~ 0",            // null vs number
      "tags.nothing ~ false",        // null vs bool
      "tags.location ~ 'US'",        // object vs string
      "tags.list ~ 1",               // array vs number
      "tags.missing ~ 1",            // undefined
      "tags.missing ~ null",         // undefined is not null
      "tags.location.plant.x ~ 43",  // through a non-object
      "properties.reported.rate ~ 'x'",
      "tags.missing ~ tags.missing",  // undefined on both sides
  };
  const char* const ops[] = {"=", "!=", "<>", "<", "<=", ">", ">="};
  for (const std::string pair : pairs) {
    for (const std::string op : ops) {
      std::string condition = pair;
      condition.replace(condition.find('~'), 1, op);
      CAPTURE(condition);
      CHECK_FALSE(where(condition));
    }
  }
  // Objects and arrays are not comparable values, not even with themselves.
  CHECK_FALSE(where("tags.location = tags.location"));
  CHECK_FALSE(where("tags.list = tags.list"));
}

TEST_CASE("AND binds tighter than OR, NOT tighter than AND; parentheses regroup") {
  struct row {
    const char* condition;
    bool expected;
  };
  const row rows[] = {
      // (false AND true) OR true
      {"status = 'disabled' AND deviceId = 'dev1' OR deviceId = 'dev1'", true},
      // false AND (true OR true)
      {"status = 'disabled' AND (deviceId = 'dev1' OR deviceId = 'dev1')", false},
      // true OR (true AND false)
      {"deviceId = 'dev1' OR deviceId = 'dev1' AND status = 'disabled'", true},
      // (true OR true) AND false
      {"(deviceId = 'dev1' OR deviceId = 'dev1') AND status = 'disabled'", false},
      // (NOT true) AND true: NOT applies to the comparison only
      {"NOT status = 'enabled' AND deviceId = 'dev1'", false},
      // NOT (false AND true)
      {"NOT (status = 'disabled' AND deviceId = 'dev1')", true},
      {"NOT status = 'disabled'", true},
      {"NOT NOT status = 'disabled'", false},
      {"NOT (tags.location.region = 'EU' OR status = 'disabled')", true},
      {"((status = 'enabled'))", true},
      {"(status = 'enabled') AND ((deviceId = 'dev2') OR (tags.on = true))", true},
      // Long chains: all terms count.
      {"deviceId = 'a' OR deviceId = 'b' OR deviceId = 'c' OR deviceId = 'dev1'", true},
      {"tags.on = true AND status = 'enabled' AND tags.off = false AND deviceId = 'x'", false},
      // NOT of a comparison with an undefined side holds (the comparison is false).
      {"NOT (tags.missing = 1)", true},
      {"NOT tags.missing != 1", true},
  };
  for (const auto& r : rows) {
    CAPTURE(r.condition);
    CHECK(where(r.condition) == r.expected);
  }
}

TEST_CASE("IS_DEFINED: the path resolves to a value other than null") {
  CHECK(where("IS_DEFINED(properties.reported.fw)"));
  CHECK_FALSE(where("IS_DEFINED(properties.reported.fw)", dev2));
  CHECK(where("IS_DEFINED(tags.location)"));       // an object
  CHECK(where("IS_DEFINED(tags.off)"));            // false is a value
  CHECK(where("IS_DEFINED(tags.list)"));           // an array
  CHECK_FALSE(where("IS_DEFINED(tags.nothing)"));  // null: a removed property
  CHECK_FALSE(where("IS_DEFINED(tags.missing)"));
  CHECK_FALSE(where("IS_DEFINED(tags.on.deeper)"));  // through a non-object
  CHECK(where("is_defined ( tags.location.region ) and not Is_Defined(tags.x)"));
  CHECK(where("IS_DEFINED(tags.location) AND tags.location.region = 'US'"));
  CHECK(contains(refusal(prefix + "IS_DEFINED(1)"),
                 "Syntax error at 40: expected a property path, found a number"));
  CHECK(contains(refusal(prefix + "IS_DEFINED tags.x"), "Syntax error at 40: expected '('"));
}

TEST_CASE("paths: nested names, $version, hyphens; names are case-sensitive") {
  CHECK(where("tags.location.region = 'US'"));
  CHECK_FALSE(where("tags.location.region = 'US'", dev2));
  CHECK(where("properties.reported.$version = 7"));
  CHECK(where("properties.desired.$version = 1", dev2));
  CHECK(where("tags.serial-no = 'A-1'"));
  CHECK(where("tags . location . region = 'US'"));  // spaces around dots are fine
  CHECK(where("connectionState = 'Connected'"));
  CHECK_FALSE(where("ConnectionState = 'Connected'"));
  CHECK_FALSE(where("tags.Location.region = 'US'"));
  // A reserved word may name a later segment, not start a path.
  CHECK_FALSE(where("tags.from = 1"));
  CHECK(contains(refusal(prefix + "from = 1"), "Syntax error at 29:"));
}

TEST_CASE("keywords are case-insensitive") {
  const char* const texts[] = {
      "SELECT * FROM devices WHERE deviceId = 'dev1' AND NOT status = 'x' OR false = true",
      "select * from devices where deviceId = 'dev1' and not status = 'x' or FALSE = TRUE",
      "Select * From DEVICES Where deviceId = 'dev1' And Not status = 'x' Or False = True",
      "sElEcT\t*\nfrom devices\r\nwhere deviceId = 'dev1' aNd nOt status = 'x' oR fAlSe = tRuE",
  };
  for (const auto* text : texts) {
    CAPTURE(text);
    const auto q = twin_query::parse(text);
    REQUIRE_MESSAGE(q.ok(), q.error().message);
    CHECK(q->matches(dev1));
    CHECK_FALSE(q->matches(dev2));
  }
}

TEST_CASE("string literals: both quotes, doubled quotes, escapes") {
  const json doc = {{"tags", {{"name", "it's \"x\""}, {"path", "a\\b"}, {"e", "é😀"}}}};
  CHECK(where(R"(tags.name = 'it''s "x"')", doc));
  CHECK(where(R"(tags.name = 'it\'s \"x\"')", doc));
  CHECK(where(R"(tags.name = "it's \"x\"")", doc));
  CHECK(where(R"(tags.path = 'a\\b')", doc));
  CHECK(where(R"(tags.e = '\u00e9\ud83d\ude00')", doc));
  CHECK(where(R"(tags.e = '\u00E9😀')", doc));
  CHECK(where("tags.missing = '' OR tags.name != ''", doc));
  CHECK(contains(refusal(prefix + R"(a = 'x\n')"),
                 "Syntax error at 35: unknown escape sequence '\\n'"));
  CHECK(contains(refusal(prefix + R"(a = '\u12')"), "Syntax error at 36: four hexadecimal"));
  CHECK(contains(refusal(prefix + R"(a = '\ud83d')"), "Syntax error at 34: unpaired surrogate"));
  CHECK(contains(refusal(prefix + R"(a = '\ude00')"), "Syntax error at 34: unpaired surrogate"));
  CHECK(contains(refusal(prefix + "a = 'open"), "Syntax error at 33: unterminated string"));
  CHECK(contains(refusal(prefix + "a = \"open'"), "Syntax error at 33: unterminated string"));
  CHECK(contains(refusal(prefix + "a = 'x\\"), "Syntax error at 33: unterminated string"));
}

TEST_CASE("number literals: malformed or out of range numbers are refused") {
  CHECK(where("tags.location.plant = 430e-1"));
  CHECK(where("properties.reported.temp = 0.215E2"));
  CHECK(where("-0.5 < 0"));
  CHECK(where("99999999999999999999 > 9223372036854775807"));  // beyond int64: a double
  struct row {
    const char* condition;
    const char* message;
  };
  const row rows[] = {
      {"a = 1.", "Syntax error at 33: malformed number"},
      {"a = 1e", "Syntax error at 33: malformed number"},
      {"a = 1e+", "Syntax error at 33: malformed number"},
      {"a = 12abc", "Syntax error at 33: malformed number"},
      {"a = 1.2.3", "Syntax error at 33: malformed number"},
      {"a = 1e999", "Syntax error at 33: number out of range"},
      {"a = - 1", "Syntax error at 33: unexpected character '-'"},
      {"a = .5", "Syntax error at 33: expected a condition"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.condition);
    CHECK(contains(refusal(prefix + r.condition), r.message));
  }
}

TEST_CASE("malformed queries are argument_invalid naming the problem and its position") {
  struct row {
    std::string text;
    const char* message;
  };
  const row rows[] = {
      {"", "Syntax error at 1: expected SELECT, found the end of the query"},
      {"   ", "Syntax error at 4: expected SELECT"},
      {"SELECT", "Syntax error at 7: expected * or COUNT()"},
      {"SELECT deviceId FROM devices", "Syntax error at 8: expected * or COUNT()"},
      {"SELECT COUNT( FROM devices", "Syntax error at 15: expected ')', found 'FROM'"},
      // Missing FROM; FROM anything but devices.
      {"SELECT * devices", "Syntax error at 10: expected FROM, found 'devices'"},
      {"SELECT *", "Syntax error at 9: expected FROM, found the end of the query"},
      {"SELECT * FROM modules", "Syntax error at 15: expected devices"},
      {"SELECT * FROM", "Syntax error at 14: expected devices"},
      {"SELECT * FROM 'devices'", "Syntax error at 15: expected devices"},
      {"SELECT * FROM devices.modules", "Syntax error at 22: expected the end of the query"},
      // Empty or incomplete WHERE.
      {prefix, "Syntax error at 29: expected a condition after WHERE"},
      {prefix + "   ", "Syntax error at 32: expected a condition after WHERE"},
      {prefix + "()", "Syntax error at 30: expected a condition"},
      {prefix + "a = 1 AND", "Syntax error at 38: expected a condition"},
      {prefix + "a = 1 OR OR b = 2",
       "Syntax error at 38: expected a condition (a property path or a value), found 'OR'"},
      {prefix + "AND a = 1",
       "Syntax error at 29: expected a condition (a property path or a value), found 'AND'"},
      {prefix + "NOT", "Syntax error at 32: expected a condition"},
      {prefix + "a", "Syntax error at 30: expected a comparison operator"},
      {prefix + "a = ", "Syntax error at 33: expected a condition"},
      {prefix + "(a = 1", "Syntax error at 35: expected ')', found the end of the query"},
      {prefix + "a. = 1", "Syntax error at 32: expected a property name after '.'"},
      // Bad operators.
      {prefix + "a ~ 1", "Syntax error at 31: unexpected character '~'"},
      {prefix + "a == 1", "Syntax error at 32: expected a condition"},
      {prefix + "a =< 1", "Syntax error at 32: expected a condition"},
      {prefix + "a ! 1", "Syntax error at 31: unexpected character '!'"},
      {prefix + "a 1", "Syntax error at 31: expected a comparison operator"},
      {prefix + "a LIKE 'x'", "Syntax error at 31: expected a comparison operator"},
      // Trailing tokens.
      {prefix + "a = 1 extra", "Syntax error at 35: expected the end of the query, found 'extra'"},
      {prefix + "a = 1)", "Syntax error at 34: expected the end of the query, found ')'"},
      {prefix + "a = 'x' = 'y'", "Syntax error at 37: expected the end of the query"},
      {"SELECT * FROM devices extra", "Syntax error at 23: expected the end of the query"},
      {prefix + "a = 1 # comment", "Syntax error at 35: unexpected character '#'"},
      {prefix + std::string("a = 1\0", 6), "Syntax error at 34: unexpected character byte 0x00"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.text);
    const std::string message = refusal(r.text);
    CAPTURE(message);
    CHECK(contains(message, r.message));
  }
}

TEST_CASE("text longer than 8 KB is refused; 8 KB exactly is accepted") {
  const std::string base = "SELECT * FROM devices WHERE deviceId = 'dev1'";
  const std::string at_limit = base + std::string(query_limits::max_text_bytes - base.size(), ' ');
  REQUIRE(at_limit.size() == query_limits::max_text_bytes);
  const auto ok = twin_query::parse(at_limit);
  REQUIRE(ok.ok());
  CHECK(ok->matches(dev1));

  const std::string message = refusal(at_limit + " ");
  CHECK(contains(message, "Syntax error at 8193: the query is longer than 8 KB"));
  CHECK(contains(refusal(prefix + "a = '" + std::string(9000, 'x') + "'"), "longer than 8 KB"));
}

TEST_CASE("nesting is bounded: 32 levels of '(' or NOT are accepted, more are refused") {
  const int limit = query_limits::max_nesting;
  const auto parens = [](int n) {
    return prefix + std::string(n, '(') + "deviceId = 'dev1'" + std::string(n, ')');
  };
  const auto at_limit = twin_query::parse(parens(limit));
  REQUIRE_MESSAGE(at_limit.ok(), at_limit.error().message);
  CHECK(at_limit->matches(dev1));
  CHECK_FALSE(at_limit->matches(dev2));

  // The 33rd '(' is at offset 28 + 32, so position 61.
  CHECK(contains(refusal(parens(limit + 1)),
                 "Syntax error at 61: the condition is nested deeper than 32 levels"));
  CHECK(contains(refusal(parens(100)), "nested deeper than 32 levels"));
  CHECK(contains(refusal(prefix + std::string(5000, '(')), "nested deeper than 32 levels"));

  const auto nots = [](int n) { return prefix + repeat("NOT ", n) + "deviceId = 'dev1'"; };
  const auto even = twin_query::parse(nots(limit));
  REQUIRE(even.ok());
  CHECK(even->matches(dev1));  // 32 NOTs cancel out
  CHECK(contains(refusal(nots(limit + 1)), "nested deeper than 32 levels"));
  CHECK(contains(refusal(nots(1000)), "nested deeper than 32 levels"));
  // NOT and '(' count together.
  CHECK(twin_query::parse(prefix + repeat("NOT (", 16) + "a = 1" + std::string(16, ')')).ok());
  CHECK_FALSE(
      twin_query::parse(prefix + repeat("NOT (", 17) + "a = 1" + std::string(17, ')')).ok());
}

TEST_CASE("long AND/OR chains are not nesting: a thousand terms within 8 KB") {
  std::string ands = "deviceId = 'dev1'";
  std::string ors = "deviceId = 'x'";
  for (int i = 0; i < 1000; ++i) {
    ands += " AND 1=1";
    ors += " OR a=1";
  }
  const auto long_ands = twin_query::parse(prefix + ands);
  REQUIRE_MESSAGE(long_ands.ok(), long_ands.error().message);
  CHECK(long_ands->matches(dev1));
  CHECK_FALSE(long_ands->matches(dev2));

  const auto long_ors = twin_query::parse(prefix + ors + " OR deviceId = 'dev2'");
  REQUIRE_MESSAGE(long_ors.ok(), long_ors.error().message);
  CHECK(long_ors->matches(dev2));
  CHECK_FALSE(long_ors->matches(dev1));
}

TEST_CASE("a parsed query is a value: copies evaluate the same") {
  auto parsed = twin_query::parse("SELECT COUNT() AS n FROM devices WHERE tags.on = true");
  REQUIRE(parsed.ok());
  const twin_query copy = *parsed;
  const twin_query moved = std::move(*parsed);
  for (const auto* q : {&copy, &moved}) {
    CHECK(*q->count_alias() == "n");
    CHECK(q->matches(dev1));
    CHECK_FALSE(q->matches(dev2));
  }
}
