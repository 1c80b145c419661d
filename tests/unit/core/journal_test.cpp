// The change journal: whatever the hub does, committing its changes and restoring from the
// store reproduces the same state (the contract storage/ implements for SQLite).
#include <doctest/doctest.h>

#include "tests/unit/core/memory_store.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

void check_same(const hub& a, const hub& b) {
  CHECK(a.list_devices().size() == b.list_devices().size());
  for (const auto& d : a.list_devices()) {
    REQUIRE(b.find_device(d.id) != nullptr);
    CHECK(*b.find_device(d.id) == d);
    CHECK(a.queue_of(d.id) == b.queue_of(d.id));
    CHECK(a.subscription(d.id) == b.subscription(d.id));
  }
  CHECK(a.pending_feedback() == b.pending_feedback());
  CHECK(a.feedback_batches() == b.feedback_batches());
  CHECK(a.telemetry() == b.telemetry());
  CHECK(a.next_deadline() == b.next_deadline());
}

}  // namespace

TEST_CASE("every operation's changes rebuild the same hub") {
  fixture f;
  memory_store store;
  // The fixture's device was created before the store existed: re-create the device row.
  store.commit(std::vector<state_change>{change::put_device{*f.h.find_device("dev1")}});

  const auto sync = [&] {
    store.commit(f.h.take_changes());
    hub copy{test_settings()};
    copy.restore(store.load());
    check_same(f.h, copy);
  };

  const auto a = f.send("a", ack_mode::full);
  f.send("b", ack_mode::negative);
  f.send("c", ack_mode::positive);
  sync();
  auto d = f.h.lock_next("dev1", f.now);
  sync();
  REQUIRE(f.h.settle("dev1", a, d->lock_id, settlement::complete, f.now).ok());
  f.h.advance(f.now);
  sync();
  d = f.h.lock_next("dev1", f.now);
  REQUIRE(f.h.settle("dev1", d->message.seq, d->lock_id, settlement::abandon, f.now).ok());
  sync();
  f.h.set_subscription("dev1", 1);
  f.h.record_telemetry("dev1", {{"$.mid", "t1"}}, "body", f.now);
  sync();
  auto b = f.h.lock_next_batch(f.now);
  REQUIRE(b);
  sync();
  REQUIRE(f.h.settle_batch(b->id, b->lock_id, batch_outcome::released, f.now).ok());
  sync();
  f.tick(2h);  // everything expires
  sync();
  device_spec spec;
  spec.id = "dev2";
  REQUIRE(f.h.create_device(spec, f.now).ok());
  f.h.enqueue("dev2", f.msg("x", ack_mode::full), f.now);
  REQUIRE(f.h.purge("dev2", f.now).ok());
  sync();
  REQUIRE(f.h.delete_device("dev1", "*", f.now).ok());
  sync();
  f.h.reset(f.now);
  sync();
  CHECK(f.h.list_devices().empty());
}

TEST_CASE("counters survive a restore: ids are never reused") {
  fixture f;
  memory_store store;
  store.commit(std::vector<state_change>{change::put_device{*f.h.find_device("dev1")}});
  const auto first = f.send("a");
  store.commit(f.h.take_changes());
  hub copy{test_settings()};
  copy.restore(store.load());
  c2d_content c;
  c.message_id = "b";
  const auto second = copy.enqueue("dev1", c, f.now);
  REQUIRE(second.ok());
  CHECK(*second > first);
}

TEST_CASE("telemetry store is bounded, dropping the oldest") {
  auto s = test_settings();
  s.telemetry_capacity = 3;
  hub h{s};
  for (int i = 0; i < 5; ++i) h.record_telemetry("d", {}, std::to_string(i), time_point{});
  const auto t = h.telemetry();
  REQUIRE(t.size() == 3);
  CHECK(t.front().body == "2");
  CHECK(t.back().body == "4");
}
