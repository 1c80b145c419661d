// Feedback records and batches (spec §2).
#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {
void complete_one(fixture& f) {
  const auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(d);
  REQUIRE(f.h.settle("dev1", d->message.seq, d->lock_id, settlement::complete, f.now).ok());
}
}  // namespace

TEST_CASE("batching by age: first record goes out at once, later ones 15 s after the last batch") {
  fixture f;
  f.send("a", ack_mode::positive);
  complete_one(f);
  f.h.advance(f.now);
  REQUIRE(f.h.feedback_batches().size() == 1);  // no earlier batch: due immediately
  (void)f.h.take_events();

  f.tick(1s);
  f.send("b", ack_mode::positive);
  complete_one(f);
  f.h.advance(f.now);
  CHECK(f.h.feedback_batches().size() == 1);
  CHECK(f.h.pending_feedback().size() == 1);
  REQUIRE(f.h.next_deadline());
  CHECK(*f.h.next_deadline() == f.now - 1s + 15s);
  f.tick(14s - 1ms);
  CHECK(f.h.pending_feedback().size() == 1);
  f.tick(1ms);
  CHECK(f.h.pending_feedback().empty());
  REQUIRE(f.h.feedback_batches().size() == 2);
}

TEST_CASE("batching by count: 64 records cut a batch at once; never an empty batch") {
  auto s = test_settings();
  s.c2d_max_queue_depth = 100;
  hub h{s};
  time_point now{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
  device_spec spec;
  spec.id = "d";
  REQUIRE(h.create_device(spec, now).ok());
  // A first batch so that the age rule does not fire during the test.
  c2d_content c;
  c.ack = ack_mode::full;
  c.message_id = "first";
  auto seq = *h.enqueue("d", c, now);
  auto d = h.lock_next("d", now);
  REQUIRE(h.settle("d", seq, d->lock_id, settlement::complete, now).ok());
  h.advance(now);
  REQUIRE(h.feedback_batches().size() == 1);

  for (int i = 0; i < 65; ++i) {
    c.message_id = "m" + std::to_string(i);
    seq = *h.enqueue("d", c, now);
    d = h.lock_next("d", now);
    REQUIRE(h.settle("d", seq, d->lock_id, settlement::complete, now).ok());
    if (i == 62) CHECK(h.feedback_batches().size() == 1);  // 63 pending
  }
  const auto batches = h.feedback_batches();
  REQUIRE(batches.size() == 2);
  CHECK(batches[1].records.size() == 64);
  CHECK(h.pending_feedback().size() == 1);
  for (const auto& b : batches) CHECK_FALSE(b.records.empty());
}

TEST_CASE("batch settlement: accepted removes, released re-queues and counts, rejected drops") {
  fixture f;
  f.send("a", ack_mode::full);
  complete_one(f);
  f.h.advance(f.now);
  auto b = f.h.lock_next_batch(f.now);
  REQUIRE(b);
  CHECK_FALSE(f.h.lock_next_batch(f.now));  // locked: not handed to a second consumer
  REQUIRE(f.h.settle_batch(b->id, b->lock_id, batch_outcome::released, f.now).ok());
  CHECK(f.h.feedback_batches().at(0).delivery_count == 1);
  b = f.h.lock_next_batch(f.now);
  REQUIRE(b);
  CHECK(f.h.settle_batch(b->id, b->lock_id + 1, batch_outcome::accepted, f.now).error().code ==
        hub_error::device_message_lock_lost);
  REQUIRE(f.h.settle_batch(b->id, b->lock_id, batch_outcome::accepted, f.now).ok());
  CHECK(f.h.feedback_batches().empty());

  f.tick(20s);
  f.send("b", ack_mode::full);
  complete_one(f);
  f.h.advance(f.now);
  b = f.h.lock_next_batch(f.now);
  REQUIRE(b);
  REQUIRE(f.h.settle_batch(b->id, b->lock_id, batch_outcome::rejected, f.now).ok());
  CHECK(f.h.feedback_batches().empty());
}

TEST_CASE("batch: released max-delivery-count times is dropped; lock timeout and TTL") {
  auto s = test_settings();
  s.feedback_max_delivery_count = 2;
  hub h{s};
  time_point now{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};
  device_spec spec;
  spec.id = "d";
  REQUIRE(h.create_device(spec, now).ok());
  c2d_content c;
  c.ack = ack_mode::full;
  const auto seq = *h.enqueue("d", c, now);
  const auto d = h.lock_next("d", now);
  REQUIRE(h.settle("d", seq, d->lock_id, settlement::complete, now).ok());
  h.advance(now);
  auto b = h.lock_next_batch(now);
  REQUIRE(h.settle_batch(b->id, b->lock_id, batch_outcome::released, now).ok());
  b = h.lock_next_batch(now);
  REQUIRE(b);
  // Lock timeout: back to the queue without counting.
  now += 60s;
  h.advance(now);
  CHECK(h.feedback_batches().at(0).lock_id == 0);
  CHECK(h.feedback_batches().at(0).delivery_count == 1);
  b = h.lock_next_batch(now);
  REQUIRE(h.settle_batch(b->id, b->lock_id, batch_outcome::released, now).ok());
  CHECK(h.feedback_batches().empty());  // second release reached the max of 2
}

TEST_CASE("batch TTL: an unread batch disappears after the feedback TTL") {
  fixture f;
  f.send("a", ack_mode::full);
  complete_one(f);
  f.h.advance(f.now);
  REQUIRE(f.h.feedback_batches().size() == 1);
  f.tick(1h - 1ms);
  CHECK(f.h.feedback_batches().size() == 1);
  f.tick(1ms);
  CHECK(f.h.feedback_batches().empty());
}

TEST_CASE("release_batch (consumer went away) returns it without counting") {
  fixture f;
  f.send("a", ack_mode::full);
  complete_one(f);
  f.h.advance(f.now);
  const auto b = f.h.lock_next_batch(f.now);
  f.h.release_batch(b->id, b->lock_id, f.now);
  CHECK(f.h.feedback_batches().at(0).delivery_count == 0);
  CHECK(f.h.lock_next_batch(f.now));
}

TEST_CASE("feedback JSON: camelCase, description == statusCode, 7-digit UTC time") {
  feedback_batch b;
  feedback_record r;
  r.original_message_id = "m-1";
  r.device_id = "dev1";
  r.device_generation_id = "638000000000000001";
  r.status = feedback_status::delivery_count_exceeded;
  r.enqueued_time =
      time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}} + 12h + 123ms;
  b.records = {r};
  const auto j = nlohmann::json::parse(feedback_json(b));
  REQUIRE(j.is_array());
  REQUIRE(j.size() == 1);
  CHECK(j[0]["originalMessageId"] == "m-1");
  CHECK(j[0]["statusCode"] == "DeliveryCountExceeded");
  CHECK(j[0]["description"] == "DeliveryCountExceeded");
  CHECK(j[0]["deviceId"] == "dev1");
  CHECK(j[0]["deviceGenerationId"] == "638000000000000001");
  CHECK(j[0]["enqueuedTimeUtc"] == "2026-01-01T12:00:00.1230000Z");
  CHECK(j[0].size() == 6);
}

TEST_CASE("status and ack words") {
  CHECK(to_string(feedback_status::success) == "Success");
  CHECK(to_string(feedback_status::expired) == "Expired");
  CHECK(to_string(feedback_status::rejected) == "Rejected");
  CHECK(to_string(feedback_status::purged) == "Purged");
  CHECK(parse_ack_mode("full") == ack_mode::full);
  CHECK(parse_ack_mode("positive") == ack_mode::positive);
  CHECK(parse_ack_mode("negative") == ack_mode::negative);
  CHECK(parse_ack_mode("none") == ack_mode::none);
  CHECK_FALSE(parse_ack_mode("Full"));
  CHECK_FALSE(parse_ack_mode(""));
}
