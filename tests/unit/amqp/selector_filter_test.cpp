// The selector filter of an Event Hubs receiver (issue 14, next-capabilities §1.5): every
// spelling the clients send, and every refusal.
#include <doctest/doctest.h>

#include <string>

#include "emulator/amqp/selector_filter.hpp"

using emu::amqp::parse_selector_filter;
using emu::amqp::to_selector_filter;
using emu::core::event_position;
using k = event_position::kind;

TEST_CASE("the clients' expressions") {
  struct row {
    const char* text;
    event_position expected;
  };
  const row rows[] = {
      // @azure/event-hubs 6 and 1.x
      {"amqp.annotation.x-opt-offset > '-1'", event_position::earliest()},
      {"amqp.annotation.x-opt-offset > '@latest'", {k::latest, 0, false}},
      {"amqp.annotation.x-opt-offset >= '12890070640'", {k::offset, 12890070640, true}},
      {"amqp.annotation.x-opt-sequence-number > '41'", {k::sequence_number, 41, false}},
      {"amqp.annotation.x-opt-sequence-number >= '0'", {k::sequence_number, 0, true}},
      {"amqp.annotation.x-opt-sequence-number >= '5'", {k::sequence_number, 5, true}},
      {"amqp.annotation.x-opt-offset >= '-1'", {k::offset, -1, true}},
      {"amqp.annotation.x-opt-offset >= '@latest'", {k::latest, 0, false}},
      {"amqp.annotation.x-opt-enqueued-time > '1700000000000'",
       {k::enqueued_time, 1700000000000, false}},
      // the C SDK's e2e reader: another name, an unquoted value
      {"amqp.annotation.x-opt-enqueuedtimeutc > 1796283888517",
       {k::enqueued_time, 1796283888517, false}},
      // spacing and letter case of the fixed parts
      {"  AMQP.Annotation.X-Opt-Offset>='5'  ", {k::offset, 5, true}},
      {"amqp.annotation.x-opt-sequence-number>-1", {k::sequence_number, -1, false}},
      {"amqp.annotation.X-OPT-ENQUEUEDTIMEUTC\t>=\t'0'", {k::enqueued_time, 0, true}},
      {"amqp.annotation.x-opt-offset > @latest", {k::latest, 0, false}},
      {"amqp.annotation.x-opt-offset > '9223372036854775807'",
       {k::offset, 9223372036854775807, false}},
      {"amqp.annotation.x-opt-offset > '007'", {k::offset, 7, false}},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    const auto p = parse_selector_filter(r.text);
    REQUIRE(p.ok());
    CHECK(*p == r.expected);
    // The canonical text parses back to the same position.
    const auto again = parse_selector_filter(to_selector_filter(*p));
    REQUIRE(again.ok());
    CHECK(*again == *p);
  }
}

TEST_CASE("refusals say what is wrong") {
  struct row {
    std::string text;
    const char* message;
  };
  const row rows[] = {
      {"", "must start with 'amqp.annotation.'"},
      {"x-opt-offset > '1'", "must start with 'amqp.annotation.'"},
      {"amqp.annotation.x-opt-foo > '1'", "unknown annotation 'x-opt-foo'"},
      {"amqp.annotation.x-opt-offset = '1'", "expected > or >="},
      {"amqp.annotation.x-opt-offset < '1'", "expected > or >="},
      {"amqp.annotation.x-opt-offset > '1", "unterminated quote"},
      {"amqp.annotation.x-opt-offset > '1' AND 1=1", "trailing text"},
      {"amqp.annotation.x-opt-offset > 'abc'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > ''", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '+5'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '1.5'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '99999999999999999999'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '9223372036854775808'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '-9223372036854775809'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '-2'", "out of range"},
      {"amqp.annotation.x-opt-sequence-number > '-2'", "out of range"},
      {"amqp.annotation.x-opt-enqueuedtimeutc > -1", "out of range"},
      {"amqp.annotation.x-opt-enqueued-time > '@latest'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > ' 5'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '5' '6'", "trailing text"},
      {"amqp.annotation.x-opt-offset > 5 6", "trailing text"},
      {"amqp.annotation.x-opt-offset >> '5'", "trailing text"},
      {"amqp.annotation.x-opt-offset => '5'", "expected > or >="},
      {"amqp.annotation.x-opt-offset != '5'", "expected > or >="},
      {"amqp.annotation.x-opt-offset", "expected > or >="},
      {"amqp.annotation.x-opt-offset >", "must be an integer"},
      {"amqp.annotation.", "unknown annotation ''"},
      {"amqp.annotation.x-opt-offset-x > '5'", "unknown annotation 'x-opt-offset-x'"},
      {"amqp.x-opt-offset > '5'", "must start with 'amqp.annotation.'"},
      {"   ", "must start with 'amqp.annotation.'"},
      {"amqp.annotation.x-opt-enqueued-time > '-1'", "out of range"},
      {"amqp.annotation.x-opt-sequence-number > '@latest'", "must be an integer"},
      {std::string("amqp.annotation.x-opt-offset > '1'\0", 35), "NUL"},
      {"amqp.annotation.x-opt-offset > '" + std::string(2000, '1') + "'", "longer than 1024"},
      // 991 spaces + 34 characters = 1025
      {std::string(991, ' ') + "amqp.annotation.x-opt-offset > '5'", "longer than 1024"},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    const auto p = parse_selector_filter(r.text);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().find(r.message) != std::string::npos);
  }
}

TEST_CASE("the length bound is 1024 characters") {
  const std::string text = "amqp.annotation.x-opt-offset > '5'";
  const auto at_bound = parse_selector_filter(std::string(1024 - text.size(), ' ') + text);
  REQUIRE(at_bound.ok());
  CHECK(*at_bound == event_position{k::offset, 5, false});
  CHECK_FALSE(parse_selector_filter(std::string(1025 - text.size(), ' ') + text).ok());
}

TEST_CASE("the canonical text is what @azure/event-hubs sends") {
  CHECK(to_selector_filter(event_position::earliest()) == "amqp.annotation.x-opt-offset > '-1'");
  CHECK(to_selector_filter({k::latest, 0, false}) == "amqp.annotation.x-opt-offset > '@latest'");
  CHECK(to_selector_filter({k::sequence_number, 5, true}) ==
        "amqp.annotation.x-opt-sequence-number >= '5'");
  CHECK(to_selector_filter({k::enqueued_time, 1700000000000, false}) ==
        "amqp.annotation.x-opt-enqueued-time > '1700000000000'");
}

TEST_CASE("a refusal is one short printable line") {
  const auto p =
      parse_selector_filter("amqp.annotation.x-opt-\n\x01" + std::string(500, 'z') + " > '5'");
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().starts_with("unknown annotation 'x-opt-\\x0a\\x01zzz"));
  CHECK(p.error().find("...' in the selector filter") != std::string::npos);
  CHECK(p.error().size() < 200);
  // Escapes count towards the 64 characters: 16 escaped bytes, then "...".
  std::string escaped;
  for (int i = 0; i < 16; ++i) escaped += "\\xdc";
  const auto e = parse_selector_filter("amqp.annotation." + std::string(500, '\xdc') + " > '5'");
  REQUIRE_FALSE(e.ok());
  CHECK(e.error() == "unknown annotation '" + escaped + "...' in the selector filter");
  const auto v = parse_selector_filter("amqp.annotation.x-opt-offset > '\x7f\xff'");
  REQUIRE_FALSE(v.ok());
  CHECK(v.error() == "the value of 'x-opt-offset' must be an integer, not '\\x7f\\xff'");
}
