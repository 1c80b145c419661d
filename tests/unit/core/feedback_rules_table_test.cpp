// Which C2D outcome produces which feedback record, for every `iothub-ack` mode (spec §2.1,
// §1.1): one literal table, every row driven through the hub.
#include <doctest/doctest.h>

#include <optional>
#include <string_view>

#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

enum class outcome { complete, reject, expire, too_many_deliveries, purge };

std::string_view name(outcome o) {
  switch (o) {
    case outcome::complete:
      return "complete";
    case outcome::reject:
      return "reject";
    case outcome::expire:
      return "expire";
    case outcome::too_many_deliveries:
      return "abandon until the delivery count is exceeded";
    case outcome::purge:
      return "purge";
  }
  return "?";
}

struct row {
  ack_mode ack;
  outcome what;
  std::optional<feedback_status> record;  // nullopt: no feedback record at all
};

// clang-format off
constexpr row table[] = {
  // ack                 outcome                          feedback record
  {ack_mode::none,     outcome::complete,              std::nullopt},
  {ack_mode::none,     outcome::reject,                std::nullopt},
  {ack_mode::none,     outcome::expire,                std::nullopt},
  {ack_mode::none,     outcome::too_many_deliveries,   std::nullopt},
  {ack_mode::none,     outcome::purge,                 std::nullopt},
  {ack_mode::positive, outcome::complete,              feedback_status::success},
  {ack_mode::positive, outcome::reject,                std::nullopt},
  {ack_mode::positive, outcome::expire,                std::nullopt},
  {ack_mode::positive, outcome::too_many_deliveries,   std::nullopt},
  {ack_mode::positive, outcome::purge,                 std::nullopt},
  {ack_mode::negative, outcome::complete,              std::nullopt},
  {ack_mode::negative, outcome::reject,                feedback_status::rejected},
  {ack_mode::negative, outcome::expire,                feedback_status::expired},
  {ack_mode::negative, outcome::too_many_deliveries,   feedback_status::delivery_count_exceeded},
  {ack_mode::negative, outcome::purge,                 feedback_status::purged},
  {ack_mode::full,     outcome::complete,              feedback_status::success},
  {ack_mode::full,     outcome::reject,                feedback_status::rejected},
  {ack_mode::full,     outcome::expire,                feedback_status::expired},
  {ack_mode::full,     outcome::too_many_deliveries,   feedback_status::delivery_count_exceeded},
  {ack_mode::full,     outcome::purge,                 feedback_status::purged},
};
// clang-format on

/// Drives one message of `ack` to `what`.
void drive(fixture& f, ack_mode ack, outcome what) {
  const auto seq = f.send("m", ack);
  switch (what) {
    case outcome::complete: {
      const auto d = f.h.lock_next("dev1", f.now);
      REQUIRE(d);
      REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
      return;
    }
    case outcome::reject: {
      const auto d = f.h.lock_next("dev1", f.now);
      REQUIRE(d);
      REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::reject, f.now).ok());
      return;
    }
    case outcome::expire:
      f.tick(f.h.settings().c2d_default_ttl);
      return;
    case outcome::too_many_deliveries:
      for (int i = 0; i < f.h.settings().c2d_max_delivery_count; ++i) {
        const auto d = f.h.lock_next("dev1", f.now);
        REQUIRE(d);
        REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::abandon, f.now).ok());
      }
      return;
    case outcome::purge:
      REQUIRE(f.h.purge("dev1", f.now).ok());
      return;
  }
}

}  // namespace

TEST_CASE("the feedback table: ack mode x outcome -> record") {
  CHECK(std::size(table) == 20);  // every mode with every outcome
  for (const auto& r : table) {
    CAPTURE(to_string(r.ack));
    CAPTURE(name(r.what));
    fixture f;
    drive(f, r.ack, r.what);
    CHECK(f.h.queue_of("dev1").empty());  // every outcome ends the message
    const auto records = f.all_feedback();
    if (!r.record) {
      CHECK(records.empty());
      continue;
    }
    REQUIRE(records.size() == 1);
    CHECK(records[0].status == *r.record);
    CHECK(records[0].original_message_id == "m");
    CHECK(records[0].device_id == "dev1");
    CHECK(records[0].device_generation_id == f.h.find_device("dev1")->generation_id);
  }
}
