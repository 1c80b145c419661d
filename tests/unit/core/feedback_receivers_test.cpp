// Feedback receivers with credit held in the hub (core/feedback_queue.hpp, issue 12): batches
// are pushed to a receiver that has credit, a settlement frees the credit for the next batch in
// the same call, a receiver that goes away gives its batches back.
#include <doctest/doctest.h>

#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

/// Completes one message with ack=full, so that one feedback record is pending.
void one_record(fixture& f, const std::string& id) {
  const auto seq = f.send(id, ack_mode::full);
  const auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(d);
  REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
}

std::vector<event::feedback_delivery> batches_in(const std::vector<hub_event>& events) {
  std::vector<event::feedback_delivery> out;
  for (const auto& e : events)
    if (const auto* b = std::get_if<event::feedback_delivery>(&e)) out.push_back(*b);
  return out;
}

}  // namespace

TEST_CASE("a batch waits for credit, then is pushed to the receiver that has it") {
  fixture f;
  const auto r = f.h.attach_feedback_receiver();
  one_record(f, "a");
  f.h.advance(f.now);  // the first record after a quiet period is cut at once (spec §2.3)
  REQUIRE(f.h.feedback_batches().size() == 1);
  CHECK(batches_in(f.h.take_events()).empty());  // no credit yet

  CHECK(f.h.set_feedback_credit(r, 1, /*drain=*/false, f.now) == 1);
  const auto pushed = batches_in(f.h.take_events());
  REQUIRE(pushed.size() == 1);
  CHECK(pushed[0].receiver == r);
  CHECK(pushed[0].batch.records.at(0).original_message_id == "a");
  CHECK(f.h.feedback_batches()[0].lock_id == pushed[0].batch.lock_id);

  // The credit is used up: the next batch waits for the settlement or more credit.
  f.tick(f.h.settings().feedback_batch_interval);
  one_record(f, "b");
  f.h.advance(f.now);
  CHECK(batches_in(f.h.take_events()).empty());
  CHECK(f.h.set_feedback_credit(r, 2, false, f.now) == 1);
  CHECK(batches_in(f.h.take_events()).size() == 1);
}

TEST_CASE("a batch cut by a C2D settlement goes out in that same call when there is credit") {
  auto s = test_settings();
  s.feedback_batch_max_records = 2;
  fixture f;
  hub h{s};
  device_spec spec;
  spec.id = "dev1";
  REQUIRE(h.create_device(spec, f.now).ok());
  const auto r = h.attach_feedback_receiver();
  REQUIRE(h.set_feedback_credit(r, 5, false, f.now) == 0);
  (void)h.take_events();
  for (int i = 0; i < 2; ++i) {
    const auto seq = *h.enqueue("dev1", f.msg("m" + std::to_string(i), ack_mode::full), f.now);
    const auto d = h.lock_next("dev1", f.now);
    REQUIRE(h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
  }
  // The second completion filled the batch (2 records): cut, locked and pushed, no round trip.
  const auto pushed = batches_in(h.take_events());
  REQUIRE(pushed.size() == 1);
  CHECK(pushed[0].batch.records.size() == 2);
  // Accepting it removes it; the credit (5) remains for the next ones.
  REQUIRE(
      h.settle_batch(pushed[0].batch.id, pushed[0].batch.lock_id, batch_outcome::accepted, f.now)
          .ok());
  CHECK(h.feedback_batches().empty());
}

TEST_CASE("a released batch comes back (counted) to a receiver with credit") {
  fixture f;
  const auto r = f.h.attach_feedback_receiver();
  one_record(f, "a");
  f.h.advance(f.now);
  REQUIRE(f.h.set_feedback_credit(r, 2, false, f.now) == 1);
  const auto b = batches_in(f.h.take_events()).at(0);
  REQUIRE(f.h.settle_batch(b.batch.id, b.batch.lock_id, batch_outcome::released, f.now).ok());
  const auto again = batches_in(f.h.take_events());
  REQUIRE(again.size() == 1);
  CHECK(again[0].batch.id == b.batch.id);
  CHECK(again[0].batch.delivery_count == 1);
}

TEST_CASE("detaching a receiver gives back what it holds; another receiver gets it") {
  fixture f;
  const auto r1 = f.h.attach_feedback_receiver();
  const auto r2 = f.h.attach_feedback_receiver();
  one_record(f, "a");
  f.h.advance(f.now);
  REQUIRE(f.h.set_feedback_credit(r1, 1, false, f.now) == 1);
  (void)f.h.take_events();
  REQUIRE(f.h.set_feedback_credit(r2, 1, false, f.now) == 0);  // nothing left for r2 yet
  f.h.detach_feedback_receiver(r1, f.now);
  const auto pushed = batches_in(f.h.take_events());
  REQUIRE(pushed.size() == 1);
  CHECK(pushed[0].receiver == r2);
  CHECK(pushed[0].batch.delivery_count == 0);  // given back, not counted
}

TEST_CASE("drain: what is available goes out, then the credit is used up") {
  fixture f;
  const auto r = f.h.attach_feedback_receiver();
  one_record(f, "a");
  f.h.advance(f.now);
  CHECK(f.h.set_feedback_credit(r, 10, /*drain=*/true, f.now) == 1);
  CHECK(batches_in(f.h.take_events()).size() == 1);
  // The drained credit is gone: a new batch waits for new credit.
  f.tick(f.h.settings().feedback_batch_interval);
  one_record(f, "b");
  f.h.advance(f.now);
  CHECK(batches_in(f.h.take_events()).empty());
  CHECK(f.h.set_feedback_credit(r, 11, false, f.now) == 1);
}

TEST_CASE("receivers take turns") {
  fixture f;
  auto s = test_settings();
  s.feedback_batch_max_records = 1;
  hub h{s};
  device_spec spec;
  spec.id = "dev1";
  REQUIRE(h.create_device(spec, f.now).ok());
  const auto r1 = h.attach_feedback_receiver();
  const auto r2 = h.attach_feedback_receiver();
  REQUIRE(h.set_feedback_credit(r1, 10, false, f.now) == 0);
  REQUIRE(h.set_feedback_credit(r2, 10, false, f.now) == 0);
  (void)h.take_events();
  for (int i = 0; i < 4; ++i) {
    auto c = f.msg("m" + std::to_string(i), ack_mode::full);
    const auto seq = *h.enqueue("dev1", c, f.now);
    const auto d = h.lock_next("dev1", f.now);
    REQUIRE(h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
  }
  const auto pushed = batches_in(h.take_events());
  REQUIRE(pushed.size() == 4);
  CHECK(pushed[0].receiver != pushed[1].receiver);
  CHECK(pushed[1].receiver != pushed[2].receiver);
  CHECK(pushed[2].receiver != pushed[3].receiver);
}
