// Admission limits of spec §1.4 at their edges.
#include <doctest/doctest.h>

#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

TEST_CASE("queue depth: the 50th message is accepted, the 51st refused") {
  fixture f;
  for (int i = 1; i <= 49; ++i) f.send("m" + std::to_string(i));
  CHECK(f.h.queued_count("dev1") == 49);
  REQUIRE(f.h.enqueue("dev1", f.msg("m50"), f.now).ok());
  const auto r = f.h.enqueue("dev1", f.msg("m51"), f.now);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::device_maximum_queue_depth_exceeded);
  CHECK(error_number(r.error().code) == 403004);
  CHECK(f.h.queued_count("dev1") == 50);
}

TEST_CASE("queue depth counts Invisible messages; completing one makes room") {
  fixture f;
  for (int i = 1; i <= 50; ++i) f.send("m" + std::to_string(i));
  const auto d = f.h.lock_next("dev1", f.now);
  CHECK_FALSE(f.h.enqueue("dev1", f.msg("x"), f.now).ok());
  REQUIRE(f.h.settle("dev1", d->message.seq, d->lock_id, settlement::complete, f.now).ok());
  CHECK(f.h.enqueue("dev1", f.msg("x"), f.now).ok());
}

TEST_CASE("64 KB exactly is accepted, one byte more is MessageTooLarge") {
  fixture f;
  c2d_content c;
  c.message_id = "id";
  c.to = "/devices/dev1/messages/devicebound";
  c.properties = {{"k", "v"}};
  const std::size_t overhead = c.message_id.size() + c.to.size() + 2;
  c.body.assign(64 * 1024 - overhead, 'x');
  CHECK(message_size(c) == 64 * 1024);
  REQUIRE(f.h.enqueue("dev1", c, f.now).ok());
  c.body.push_back('x');
  const auto r = f.h.enqueue("dev1", c, f.now);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::message_too_large);
  CHECK(error_number(r.error().code) == 413001);
}

TEST_CASE("message size counts body, system property values, and application names+values") {
  c2d_content c;
  c.body = "12345";                // 5
  c.message_id = "mid";            // 3
  c.correlation_id = "cid";        // 3
  c.user_id = "u";                 // 1
  c.to = "/t";                     // 2
  c.content_type = "ct";           // 2
  c.content_encoding = "ce";       // 2
  c.properties = {{"ab", "cde"}};  // 5
  c.ack = ack_mode::full;          // iothub-ack + full = 10 + 4
  CHECK(message_size(c) == 5 + 3 + 3 + 1 + 2 + 2 + 2 + 5 + 14);
}

TEST_CASE("unknown and disabled devices are DeviceNotFound") {
  fixture f;
  auto r = f.h.enqueue("nobody", f.msg("m"), f.now);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::device_not_found);
  device_spec spec;
  spec.id = "dev1";
  spec.status = device_status::disabled;
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  r = f.h.enqueue("dev1", f.msg("m"), f.now);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == hub_error::device_not_found);
  CHECK(error_number(r.error().code) == 404001);
}

TEST_CASE("message ids: 128 allowed characters pass, 129 or a bad character fail") {
  fixture f;
  CHECK(f.h.enqueue("dev1", f.msg(std::string(128, 'a')), f.now).ok());
  CHECK(f.h.enqueue("dev1", f.msg("a-:.+%_#*?!(),=@;$'Z9"), f.now).ok());
  CHECK(f.h.enqueue("dev1", f.msg(""), f.now).ok());  // no id at all is allowed
  CHECK(f.h.enqueue("dev1", f.msg(std::string(129, 'a')), f.now).error().code ==
        hub_error::argument_invalid);
  CHECK(f.h.enqueue("dev1", f.msg("a b"), f.now).error().code == hub_error::argument_invalid);
}

TEST_CASE("purge returns the count and emits Purged for negative/full") {
  fixture f;
  f.send("a", ack_mode::full);
  f.send("b", ack_mode::positive);
  f.send("c");
  REQUIRE(f.h.lock_next("dev1", f.now));
  const auto n = f.h.purge("dev1", f.now);
  REQUIRE(n.ok());
  CHECK(*n == 3);
  CHECK(f.h.queue_of("dev1").empty());
  const auto fb = f.all_feedback();
  REQUIRE(fb.size() == 1);
  CHECK(fb[0].status == feedback_status::purged);
  CHECK(*f.h.purge("dev1", f.now) == 0);
  CHECK(f.h.purge("nobody", f.now).error().code == hub_error::device_not_found);
}

TEST_CASE("deleting a device drops its queue and its unbatched feedback") {
  fixture f;
  const auto seq = f.send("a", ack_mode::full);
  const auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(f.h.settle("dev1", seq, d->lock_id, settlement::complete, f.now).ok());
  f.h.advance(f.now);  // the first record is batched at once (there was no batch before)
  REQUIRE(f.h.feedback_batches().size() == 1);
  f.send("b", ack_mode::full);
  // A second record within 15 s stays unbatched.
  const auto d2 = f.h.lock_next("dev1", f.now);
  REQUIRE(f.h.settle("dev1", d2->message.seq, d2->lock_id, settlement::complete, f.now).ok());
  CHECK(f.h.pending_feedback().size() == 1);
  f.send("c");
  (void)f.h.take_changes();
  REQUIRE(f.h.delete_device("dev1", "*", f.now).ok());
  CHECK(f.h.queue_of("dev1").empty());
  CHECK(f.h.pending_feedback().empty());
  CHECK(f.h.feedback_batches().size() == 1);  // already batched: kept
  const auto changes = f.h.take_changes();
  REQUIRE_FALSE(changes.empty());
  CHECK(std::holds_alternative<change::remove_device>(changes.back()));
  // A re-created device gets a new generation id.
  device_spec spec;
  spec.id = "dev1";
  const auto again = f.h.create_device(spec, f.now);
  REQUIRE(again.ok());
  CHECK(again->generation_id != f.all_feedback().at(0).device_generation_id);
}
