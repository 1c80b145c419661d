// Device sessions (core/device_sessions.hpp): one connection per device with epochs (spec
// §3.3), what a takeover gives back (§1.6), and delivery credit held in the hub, so an enqueue
// or a settlement delivers the next message in the same round (issue 12).
#include <doctest/doctest.h>

#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

/// Opens a persistent session and subscribes it (QoS 1 unless told), dropping the events.
session_grant subscribed(fixture& f, int qos = 1, std::size_t window = 1) {
  const auto g = f.connect(/*clean_session=*/false, window);
  REQUIRE(f.h.subscribe_c2d("dev1", g.epoch, qos, f.now).ok());
  return g;
}

}  // namespace

TEST_CASE("a connection opens a session with a new epoch; a refused one opens nothing") {
  fixture f;
  const auto a = f.connect();
  const auto b = f.connect();
  CHECK(a.epoch != 0);
  CHECK(b.epoch > a.epoch);
  CHECK(a.generation_id == f.h.find_device("dev1")->generation_id);
  CHECK_FALSE(a.hub_scope);
  // se = now + 1 h, accepted until se + the clock skew (spec §5.1).
  CHECK(a.expiry == f.now + 1h + f.h.settings().token_clock_skew);

  const auto refused = f.h.connect_device(
      session_request{"dev1", "SharedAccessSignature sr=x&sig=y&se=1", false, 1, nullptr}, f.now);
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == hub_error::unauthorized);
  CHECK(f.h.take_events().empty());  // b's session is untouched
}

TEST_CASE("takeover: the older session ends, its locks go back, its epoch is refused") {
  fixture f;
  const auto first = subscribed(f);
  const auto seq = f.send("m1");
  auto events = f.h.take_events();
  auto d = fixture::deliveries(events);
  REQUIRE(d.size() == 1);
  CHECK(d[0].epoch == first.epoch);
  CHECK(f.h.queue_of("dev1")[0].state == c2d_state::invisible);

  // The same device connects again (spec §3.3): the first session ends, and what it held is
  // delivered to the new one at once, without a lock timeout (§1.6), counting the delivery the
  // old connection never acknowledged (issue 13).
  const auto second =
      f.h.connect_device(session_request{"dev1", f.token(), false, 1, nullptr}, f.now);
  REQUIRE(second.ok());
  events = f.h.take_events();
  REQUIRE(!events.empty());
  const auto& ended = std::get<event::session_ended>(events[0]);
  CHECK(ended.epoch == first.epoch);
  CHECK(ended.why == session_end::taken_over);
  d = fixture::deliveries(events);
  REQUIRE(d.size() == 1);  // the stored subscription resumes: delivered right after CONNACK
  CHECK(d[0].epoch == second->epoch);
  CHECK(d[0].delivery.message.seq == seq);
  CHECK(d[0].delivery.message.delivery_count == 1);

  // Anything the old connection still sends is refused: it cannot settle, subscribe or end
  // the new session.
  CHECK(f.h.settle("dev1", first.epoch, seq, d[0].delivery.lock_id, settlement::complete, f.now)
            .error()
            .code == hub_error::device_message_lock_lost);
  CHECK_FALSE(f.h.subscribe_c2d("dev1", first.epoch, std::nullopt, f.now).ok());
  f.h.disconnect_device("dev1", first.epoch, f.now);
  CHECK(f.h.queue_of("dev1")[0].state == c2d_state::invisible);  // still the new session's
  REQUIRE(f.h.settle("dev1", second->epoch, seq, d[0].delivery.lock_id, settlement::complete, f.now)
              .ok());
  CHECK(f.h.queue_of("dev1").empty());
}

TEST_CASE("credit: an enqueue delivers at once; a settlement delivers the next in the same call") {
  fixture f;
  const auto g = subscribed(f);
  const auto a = f.send("a");
  const auto b = f.send("b");
  auto d = fixture::deliveries(f.h.take_events());
  REQUIRE(d.size() == 1);  // window 1: b waits
  CHECK(d[0].delivery.message.seq == a);
  REQUIRE(f.h.settle("dev1", g.epoch, a, d[0].delivery.lock_id, settlement::complete, f.now).ok());
  d = fixture::deliveries(f.h.take_events());
  REQUIRE(d.size() == 1);
  CHECK(d[0].delivery.message.seq == b);
  CHECK(d[0].qos == 1);
}

TEST_CASE("a window of 3 has three messages in flight before any settlement, in order") {
  fixture f;
  subscribed(f, 1, 3);
  for (const char* id : {"a", "b", "c", "d"}) f.send(id);
  const auto d = fixture::deliveries(f.h.take_events());
  REQUIRE(d.size() == 3);
  CHECK(d[0].delivery.message.content.message_id == "a");
  CHECK(d[1].delivery.message.content.message_id == "b");
  CHECK(d[2].delivery.message.content.message_id == "c");
}

TEST_CASE("QoS 0: every queued message goes out and completes (Success feedback) at once") {
  fixture f;
  f.send("a", ack_mode::full);
  f.send("b", ack_mode::full);
  subscribed(f, 0);
  const auto d = fixture::deliveries(f.h.take_events());
  REQUIRE(d.size() == 2);
  CHECK(d[0].qos == 0);
  CHECK(f.h.queue_of("dev1").empty());
  const auto fb = f.all_feedback();
  REQUIRE(fb.size() == 2);
  CHECK(fb[0].status == feedback_status::success);
}

TEST_CASE("a lock timeout frees the slot: the same message goes out again with a new lock") {
  fixture f;
  const auto g = subscribed(f);
  f.send("a");
  auto d = fixture::deliveries(f.h.take_events());
  REQUIRE(d.size() == 1);
  const auto old_lock = d[0].delivery.lock_id;
  f.tick(f.h.settings().c2d_lock_timeout);
  d = fixture::deliveries(f.h.take_events());
  REQUIRE(d.size() == 1);
  CHECK(d[0].delivery.lock_id != old_lock);
  CHECK(d[0].delivery.message.delivery_count == 0);  // the 2026 rule: a timeout does not count
  // The late PUBACK of the first delivery is lock-lost; the second one completes.
  const auto seq = d[0].delivery.message.seq;
  CHECK_FALSE(f.h.settle("dev1", g.epoch, seq, old_lock, settlement::complete, f.now).ok());
  CHECK(f.h.settle("dev1", g.epoch, seq, d[0].delivery.lock_id, settlement::complete, f.now).ok());
}

TEST_CASE("a disconnect gives the in-flight messages back at once, counting a delivery") {
  fixture f;
  const auto g = subscribed(f);
  f.send("a");
  REQUIRE(fixture::deliveries(f.h.take_events()).size() == 1);
  f.h.disconnect_device("dev1", g.epoch, f.now);
  const auto q = f.h.queue_of("dev1");
  REQUIRE(q.size() == 1);
  CHECK(q[0].state == c2d_state::enqueued);
  CHECK(q[0].delivery_count == 1);                        // sent and never acknowledged (issue 13)
  CHECK(fixture::deliveries(f.h.take_events()).empty());  // nobody to deliver to
  CHECK(f.h.subscription("dev1") == 1);                   // the persistent session stays
}

TEST_CASE("a connection that drops before every PUBACK ends dead-lettered, not in a loop") {
  // Issue 13: an SDK that reconnects at once after each close, with the connection closed
  // before its PUBACK every time, once received one message 574 times in 8 s. Each dropped
  // delivery counts, so after c2d.maxDeliveryCount connections the message is dead-lettered
  // with DeliveryCountExceeded feedback and nothing more is delivered.
  fixture f;
  f.send("poison", ack_mode::negative);
  const int max = f.h.settings().c2d_max_delivery_count;
  int delivered = 0;
  auto g = subscribed(f);  // the persistent session is subscribed from now on
  for (int i = 0; i < max + 5; ++i) {
    const auto d = fixture::deliveries(f.h.take_events());
    delivered += static_cast<int>(d.size());
    if (d.empty()) break;
    f.h.disconnect_device("dev1", g.epoch, f.now);
    // The SDK reconnects at once; the stored subscription resumes delivery at CONNACK.
    const auto again =
        f.h.connect_device(session_request{"dev1", f.token(), false, 1, nullptr}, f.now);
    REQUIRE(again.ok());
    g = *again;
  }
  CHECK(delivered == max);
  CHECK(f.h.queue_of("dev1").empty());
  const auto records = f.h.pending_feedback();
  REQUIRE(records.size() == 1);
  CHECK(records[0].status == feedback_status::delivery_count_exceeded);
  CHECK(records[0].original_message_id == "poison");
}

TEST_CASE("a lock taken outside any session is released uncounted when the device connects") {
  fixture f;
  f.send("a");
  const auto d = f.h.lock_next("dev1", f.now);
  REQUIRE(d.has_value());
  const auto g = subscribed(f);
  (void)g;
  const auto q = f.h.queue_of("dev1");
  REQUIRE(q.size() == 1);
  CHECK(q[0].delivery_count == 0);
}

TEST_CASE("subscriptions: persistent sessions keep theirs, clean ones drop it") {
  fixture f;
  auto g = subscribed(f);
  CHECK(f.h.subscription("dev1") == 1);
  f.h.disconnect_device("dev1", g.epoch, f.now);
  g = f.connect(/*clean_session=*/false);
  CHECK(g.subscription == 1);  // CONNACK session present; delivery resumes without SUBSCRIBE
  f.send("a");
  CHECK(fixture::deliveries(f.h.take_events()).size() == 1);

  // MQTT-3.1.2-6: a clean session discards the stored one; its own subscription is not kept.
  g = f.connect(/*clean_session=*/true);
  CHECK_FALSE(g.subscription.has_value());
  CHECK_FALSE(f.h.subscription("dev1").has_value());
  REQUIRE(f.h.subscribe_c2d("dev1", g.epoch, 1, f.now).ok());
  CHECK_FALSE(f.h.subscription("dev1").has_value());
  CHECK(fixture::deliveries(f.h.take_events()).size() == 1);  // delivered: the session is

  // Unsubscribing stops delivery; the message in flight still completes.
  REQUIRE(f.h.subscribe_c2d("dev1", g.epoch, std::nullopt, f.now).ok());
  f.send("b");
  CHECK(fixture::deliveries(f.h.take_events()).empty());
}

TEST_CASE("deleting or re-keying the device ends its session") {
  fixture f;
  const auto g = subscribed(f);
  device_spec spec;
  spec.id = "dev1";
  spec.primary_key = base64_encode(std::string(32, 'n'));
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  auto events = f.h.take_events();
  REQUIRE(events.size() == 1);
  CHECK(std::get<event::session_ended>(events[0]).epoch == g.epoch);
  CHECK(std::get<event::session_ended>(events[0]).why == session_end::device_changed);
  // The old session is gone: its epoch is refused.
  CHECK_FALSE(f.h.subscribe_c2d("dev1", g.epoch, 1, f.now).ok());
  // A status update that changes nothing of the access does not end anything.
  spec.primary_key.clear();
  spec.status_reason = "just a note";
  REQUIRE(f.h.update_device(spec, "*", f.now).ok());
  CHECK(f.h.take_events().empty());
}

TEST_CASE("a failed round puts the sessions back as they were committed") {
  fixture f;
  const auto first = subscribed(f);
  (void)f.h.take_changes();
  f.h.round_committed();
  const auto stored = [&] {
    // The store's view: the state after the last commit.
    hub_snapshot s;
    s.devices = f.h.list_devices();
    s.subscriptions = {{"dev1", 1}};
    return s;
  }();
  // A new connection takes over in a round whose commit then fails.
  const auto second =
      f.h.connect_device(session_request{"dev1", f.token(), false, 1, nullptr}, f.now);
  REQUIRE(second.ok());
  (void)f.h.take_changes();
  (void)f.h.take_events();
  f.h.round_failed(stored, f.now);
  // The first session is current again: it may subscribe, the second one may not.
  CHECK(f.h.subscribe_c2d("dev1", first.epoch, 1, f.now).ok());
  CHECK_FALSE(f.h.subscribe_c2d("dev1", second->epoch, 1, f.now).ok());
}

TEST_CASE("stop_c2d: the session stays, what it held goes back counted, nothing more comes") {
  // A device AMQP connection whose C2D link closes while its twin or method links stay.
  fixture f;
  const auto g = f.connect(/*clean_session=*/true, /*window=*/2);
  REQUIRE(f.h.subscribe_c2d("dev1", g.epoch, 1, f.now).ok());
  f.send("a");
  REQUIRE(fixture::deliveries(f.h.take_events()).size() == 1);

  REQUIRE(f.h.stop_c2d("dev1", g.epoch, f.now).ok());
  const auto q = f.h.queue_of("dev1");
  REQUIRE(q.size() == 1);
  CHECK(q[0].state == c2d_state::enqueued);
  CHECK(q[0].delivery_count == 1);
  CHECK(fixture::deliveries(f.h.take_events()).empty());  // not delivered to it again
  f.send("b");
  CHECK(fixture::deliveries(f.h.take_events()).empty());
  // The session itself is current (its twin and method work goes on) …
  CHECK(f.h.set_iothub_topics("dev1", g.epoch, iothub_topic::methods, f.now).ok());
  CHECK(f.h.methods_reachable("dev1"));
  // … and a new C2D receiver in it gets both messages.
  REQUIRE(f.h.subscribe_c2d("dev1", g.epoch, 1, f.now).ok());
  CHECK(fixture::deliveries(f.h.take_events()).size() == 2);
  // A stale epoch is refused.
  const auto newer = f.connect();
  CHECK(f.h.stop_c2d("dev1", g.epoch, f.now).error().code == hub_error::device_message_lock_lost);
  (void)newer;
}
