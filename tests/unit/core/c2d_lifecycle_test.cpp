// The C2D state machine of spec §1, transition by transition, with a test clock.
#include <doctest/doctest.h>

#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

TEST_CASE("send accepted -> Enqueued; device receives -> Invisible with a 60 s lock") {
  fixture f;
  const auto seq = f.send("m1");
  auto q = f.h.queue_of("dev1");
  REQUIRE(q.size() == 1);
  CHECK(q[0].state == c2d_state::enqueued);
  CHECK(q[0].expiry_time == f.now + 1h);  // default TTL (§1.2)

  const auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(d);
  CHECK(d->message.seq == seq);
  q = f.h.queue_of("dev1");
  CHECK(q[0].state == c2d_state::invisible);
  CHECK(q[0].lock_expiry == f.now + 60s);
  CHECK_FALSE(f.h.lock_next("dev1", f.now));  // nothing else to deliver
}

TEST_CASE("complete -> Completed (removed) with Success feedback for positive and full") {
  for (const auto ack : {ack_mode::positive, ack_mode::full}) {
    fixture f;
    const auto seq = f.send("m1", ack);
    const auto d = f.h.lock_next("dev1", f.now);
    REQUIRE(d);
    REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
    CHECK(f.h.queue_of("dev1").empty());
    const auto fb = f.all_feedback();
    REQUIRE(fb.size() == 1);
    CHECK(fb[0].status == feedback_status::success);
    CHECK(fb[0].original_message_id == "m1");
    CHECK(fb[0].device_id == "dev1");
    CHECK(fb[0].device_generation_id == f.h.find_device("dev1")->generation_id);
    CHECK(fb[0].enqueued_time == f.now);
  }
}

TEST_CASE("complete produces nothing for none and negative") {
  for (const auto ack : {ack_mode::none, ack_mode::negative}) {
    fixture f;
    const auto seq = f.send("m1", ack);
    const auto d = f.h.lock_next("dev1", f.now);
    REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
    CHECK(f.all_feedback().empty());
  }
}

TEST_CASE("reject -> dead-lettered with Rejected feedback for negative and full only") {
  for (const auto ack : {ack_mode::none, ack_mode::positive, ack_mode::negative, ack_mode::full}) {
    fixture f;
    const auto seq = f.send("m1", ack);
    const auto d = f.h.lock_next("dev1", f.now);
    REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::reject, f.now).ok());
    CHECK(f.h.queue_of("dev1").empty());
    const auto fb = f.all_feedback();
    const bool expected = ack == ack_mode::negative || ack == ack_mode::full;
    REQUIRE(fb.size() == (expected ? 1u : 0u));
    if (expected) CHECK(fb[0].status == feedback_status::rejected);
  }
}

TEST_CASE("abandon -> Enqueued with delivery count +1, redelivered") {
  fixture f;
  const auto seq = f.send("m1");
  auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::abandon, f.now).ok());
  auto q = f.h.queue_of("dev1");
  REQUIRE(q.size() == 1);
  CHECK(q[0].state == c2d_state::enqueued);
  CHECK(q[0].delivery_count == 1);
  d = f.h.lock_next("dev1", f.now);
  REQUIRE(d);
  CHECK(d->message.seq == seq);
}

TEST_CASE("the 10th abandon dead-letters with DeliveryCountExceeded") {
  fixture f;
  const auto seq = f.send("m1", ack_mode::negative);
  for (int i = 1; i <= 9; ++i) {
    const auto d = f.h.lock_next("dev1", f.now);
    REQUIRE(d);
    REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::abandon, f.now).ok());
    CHECK(f.h.queue_of("dev1").at(0).delivery_count == i);
  }
  CHECK(f.all_feedback().empty());
  const auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::abandon, f.now).ok());
  CHECK(f.h.queue_of("dev1").empty());
  const auto fb = f.all_feedback();
  REQUIRE(fb.size() == 1);
  CHECK(fb[0].status == feedback_status::delivery_count_exceeded);
}

TEST_CASE("max delivery count is a hub setting") {
  auto s = test_settings();
  s.c2d_max_delivery_count = 1;
  hub h{s};
  const time_point now{};
  device_spec spec;
  spec.id = "d";
  REQUIRE(h.create_device(spec, now).ok());
  c2d_content c;
  c.message_id = "x";
  const auto seq = *h.enqueue("d", c, now);
  const auto d = h.lock_next("d", now);
  REQUIRE(h.settle("d", seq, d->lock_id, settlement::abandon, now).ok());
  CHECK(h.queue_of("d").empty());
}

TEST_CASE("lock timeout -> Enqueued without counting a delivery (2026 rule)") {
  fixture f;
  const auto seq = f.send("m1");
  const auto d = f.h.lock_next("dev1", f.now);
  f.tick(59999ms);
  CHECK(f.h.queue_of("dev1").at(0).state == c2d_state::invisible);  // one ms before the edge
  f.tick(1ms);
  auto q = f.h.queue_of("dev1");
  CHECK(q.at(0).state == c2d_state::enqueued);
  CHECK(q.at(0).delivery_count == 0);
  // The old lock is gone: settling with it is "lock lost".
  const auto late = f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now);
  REQUIRE_FALSE(late.ok());
  CHECK(late.error().code == hub_error::device_message_lock_lost);
}

TEST_CASE("a message never settled cycles until its TTL passes (2026 rule)") {
  fixture f;
  f.send("m1", ack_mode::full);
  for (int i = 0; i < 59; ++i) {  // 59 lock timeouts of 60 s stay inside the 1 h TTL
    REQUIRE(f.h.lock_next("dev1", f.now));
    f.tick(60s);
  }
  CHECK(f.h.queue_of("dev1").at(0).delivery_count == 0);
  REQUIRE(f.h.lock_next("dev1", f.now));
  f.tick(60s);  // now exactly at the TTL
  CHECK(f.h.queue_of("dev1").empty());
  const auto fb = f.all_feedback();
  REQUIRE(fb.size() == 1);
  CHECK(fb[0].status == feedback_status::expired);
}

TEST_CASE("lock timeout counts a delivery under the 2018 rule setting") {
  auto s = test_settings();
  s.lock_timeout_counts_as_delivery = true;
  s.c2d_max_delivery_count = 2;
  hub h{s};
  time_point now{};
  device_spec spec;
  spec.id = "d";
  REQUIRE(h.create_device(spec, now).ok());
  c2d_content c;
  c.message_id = "x";
  c.ack = ack_mode::full;
  REQUIRE(h.enqueue("d", c, now).ok());
  REQUIRE(h.lock_next("d", now));
  now += 60s;
  h.advance(now);
  CHECK(h.queue_of("d").at(0).delivery_count == 1);
  REQUIRE(h.lock_next("d", now));
  now += 60s;
  h.advance(now);
  CHECK(h.queue_of("d").empty());
  now += 15s;
  h.advance(now);
  REQUIRE(h.feedback_batches().size() == 1);
  CHECK(h.feedback_batches()[0].records.at(0).status == feedback_status::delivery_count_exceeded);
}

TEST_CASE("TTL passing dead-letters Enqueued and Invisible messages with Expired feedback") {
  fixture f;
  f.send("queued", ack_mode::negative);
  f.send("locked", ack_mode::full);
  f.send("quiet", ack_mode::positive);    // positive: no feedback for an expiry
  REQUIRE(f.h.lock_next("dev1", f.now));  // locks "queued" (oldest first)
  f.tick(1h - 1ms);
  CHECK(f.h.queue_of("dev1").size() == 3);
  f.tick(1ms);
  CHECK(f.h.queue_of("dev1").empty());
  const auto fb = f.all_feedback();
  REQUIRE(fb.size() == 2);
  for (const auto& r : fb) CHECK(r.status == feedback_status::expired);
}

TEST_CASE("absolute expiry: honoured, clamped to 2 days, in the past expires at once") {
  fixture f;
  auto c = f.msg("soon", ack_mode::full);
  c.absolute_expiry = f.now + 1s;
  REQUIRE(f.h.enqueue("dev1", c, f.now).ok());
  c = f.msg("far");
  c.absolute_expiry = f.now + 72h;
  REQUIRE(f.h.enqueue("dev1", c, f.now).ok());
  c = f.msg("past", ack_mode::negative);
  c.absolute_expiry = f.now - 1s;
  REQUIRE(f.h.enqueue("dev1", c, f.now).ok());

  CHECK(f.h.queue_of("dev1").at(1).expiry_time == f.now + 48h);
  REQUIRE(f.h.next_deadline());
  CHECK(*f.h.next_deadline() <= f.now);  // the past one is due right away
  f.tick(0ms);
  CHECK(f.h.queue_of("dev1").size() == 2);
  f.tick(1s);
  CHECK(f.h.queue_of("dev1").size() == 1);
  const auto fb = f.all_feedback();
  REQUIRE(fb.size() == 2);
  CHECK(fb[0].original_message_id == "past");
  CHECK(fb[1].original_message_id == "soon");
}

TEST_CASE("lock_next skips and dead-letters expired messages it meets") {
  fixture f;
  auto c = f.msg("old", ack_mode::full);
  c.absolute_expiry = f.now + 1s;
  REQUIRE(f.h.enqueue("dev1", c, f.now).ok());
  f.send("fresh");
  f.now += 2s;  // no advance(): lock_next itself must not hand out the expired message
  const auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(d);
  CHECK(d->message.content.message_id == "fresh");
  CHECK(f.all_feedback().size() == 1);
}

TEST_CASE("settling with a wrong lock, device or twice is lock lost") {
  fixture f;
  const auto seq = f.send("m1");
  const auto d = f.h.lock_next("dev1", f.now);
  CHECK(f.h.settle("dev1", seq, d->lock_id + 1, settlement::complete, f.now).error().code ==
        hub_error::device_message_lock_lost);
  CHECK(f.h.settle("other", seq, d->lock_id, settlement::complete, f.now).error().code ==
        hub_error::device_message_lock_lost);
  CHECK(f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
  CHECK(f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).error().code ==
        hub_error::device_message_lock_lost);
}

TEST_CASE("release (device went away) returns the message without counting a delivery") {
  fixture f;
  const auto seq = f.send("m1");
  const auto d = f.h.lock_next("dev1", f.now);
  f.h.release("dev1", seq, d->lock_id, f.now);
  const auto q = f.h.queue_of("dev1");
  CHECK(q.at(0).state == c2d_state::enqueued);
  CHECK(q.at(0).delivery_count == 0);
  f.h.release("dev1", seq, d->lock_id, f.now);  // stale: ignored
  CHECK(f.h.lock_next("dev1", f.now));
}

TEST_CASE("release_all_locks (start after a restart) returns messages and batches") {
  fixture f;
  f.send("a", ack_mode::full);
  const auto a = f.h.lock_next("dev1", f.now);
  REQUIRE(f.h.settle("dev1", a->message.seq, a->lock_id, settlement::complete, f.now).ok());
  f.h.advance(f.now);
  REQUIRE(f.h.lock_next_batch(f.now));
  f.send("b");
  f.send("c");
  REQUIRE(f.h.lock_next("dev1", f.now));
  REQUIRE(f.h.lock_next("dev1", f.now));
  f.h.release_all_locks(f.now);
  for (const auto& m : f.h.queue_of("dev1")) {
    CHECK(m.state == c2d_state::enqueued);
    CHECK(m.delivery_count == 0);
  }
  CHECK(f.h.feedback_batches().at(0).lock_id == 0);
  CHECK_FALSE(f.h.next_deadline() == f.now + 60s);  // no lock deadline left
}

TEST_CASE("messages are delivered in order") {
  fixture f;
  for (int i = 0; i < 5; ++i) f.send("m" + std::to_string(i));
  for (int i = 0; i < 5; ++i) {
    const auto d = f.h.lock_next("dev1", f.now);
    REQUIRE(d);
    CHECK(d->message.content.message_id == "m" + std::to_string(i));
  }
}

TEST_CASE("restore rebuilds queue order, locks and expiries from a snapshot in any order") {
  fixture f;
  device_spec d2;
  d2.id = "dev2";
  d2.primary_key = device_key;
  REQUIRE(f.h.create_device(d2, f.now).ok());
  for (int i = 0; i < 4; ++i) {
    f.send("a" + std::to_string(i));
    auto c = f.msg("b" + std::to_string(i));
    c.absolute_expiry = f.now + std::chrono::minutes(10 + i);  // dev2's expire first, in order
    REQUIRE(f.h.enqueue("dev2", std::move(c), f.now).ok());
  }
  const auto locked = f.h.lock_next("dev1", f.now);  // a0: invisible, lock until now + 60 s
  REQUIRE(locked);

  hub_snapshot snap;
  snap.devices = f.h.list_devices();
  for (const auto& id : {"dev2", "dev1"})  // devices interleaved and each queue reversed
    for (const auto& m : f.h.queue_of(id)) snap.messages.insert(snap.messages.begin(), m);

  hub restored(test_settings());
  restored.restore(std::move(snap));
  CHECK(restored.queued_count("dev1") == 4);
  CHECK(restored.queued_count("dev2") == 4);
  // The lock survived (the start releases it separately) and is the first deadline.
  CHECK(restored.next_deadline() == f.now + 60s);
  REQUIRE(restored.settle("dev1", locked->message.seq, locked->lock_id, settlement::complete, f.now)
              .ok());
  for (int i = 1; i < 4; ++i) {
    const auto d = restored.lock_next("dev1", f.now);
    REQUIRE(d);
    CHECK(d->message.content.message_id == "a" + std::to_string(i));
  }
  for (int i = 0; i < 4; ++i) {
    const auto d = restored.lock_next("dev2", f.now);
    REQUIRE(d);
    CHECK(d->message.content.message_id == "b" + std::to_string(i));  // left locked
  }
  // dev2's messages expire one by one, earliest first.
  restored.advance(f.now + std::chrono::minutes(10) + 1ms);
  CHECK(restored.queued_count("dev2") == 3);
  CHECK(restored.queue_of("dev2").front().content.message_id == "b1");
  restored.advance(f.now + std::chrono::minutes(12) + 1ms);
  CHECK(restored.queued_count("dev2") == 1);
}
