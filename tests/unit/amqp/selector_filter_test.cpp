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
      {"amqp.annotation.x-opt-enqueued-time > '1700000000000'",
       {k::enqueued_time, 1700000000000, false}},
      // the C SDK's e2e reader: another name, an unquoted value
      {"amqp.annotation.x-opt-enqueuedtimeutc > 1796283888517",
       {k::enqueued_time, 1796283888517, false}},
      // spacing and letter case of the fixed parts
      {"  AMQP.Annotation.X-Opt-Offset>='5'  ", {k::offset, 5, true}},
      {"amqp.annotation.x-opt-sequence-number>-1", {k::sequence_number, -1, false}},
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
      {"amqp.annotation.x-opt-offset", "expected > or >="},
      {"amqp.annotation.x-opt-offset > '1", "unterminated quote"},
      {"amqp.annotation.x-opt-offset > '1' AND 1=1", "trailing text"},
      {"amqp.annotation.x-opt-offset > 'abc'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > ''", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '+5'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '1.5'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '99999999999999999999'", "must be an integer"},
      {"amqp.annotation.x-opt-offset > '-2'", "out of range"},
      {"amqp.annotation.x-opt-enqueued-time > '-1'", "out of range"},
      {"amqp.annotation.x-opt-sequence-number > '@latest'", "must be an integer"},
      {std::string("amqp.annotation.x-opt-offset > '1'\0", 35), "NUL"},
      {"amqp.annotation.x-opt-offset > '" + std::string(2000, '1') + "'", "longer than 1024"},
  };
  for (const auto& r : rows) {
    INFO(r.text);
    const auto p = parse_selector_filter(r.text);
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().find(r.message) != std::string::npos);
  }
}
