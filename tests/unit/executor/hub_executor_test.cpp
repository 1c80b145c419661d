// The hub executor: group commit before completion, rollback on a failed commit, events after
// the commit, deadlines firing without polling, clock travel.
#include <doctest/doctest.h>

#include <future>

#include "emulator/core/sas_token.hpp"
#include "emulator/executor/hub_executor.hpp"
#include "tests/unit/core/memory_store.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu;
using namespace emu::core;
using namespace std::chrono_literals;

namespace {

/// A memory store the test can still see after handing ownership to the executor.
struct observed_store final : state_store {
  core::testing::memory_store* inner;
  explicit observed_store(core::testing::memory_store* s) : inner(s) {}
  hub_snapshot load() override { return inner->load(); }
  void commit(std::span<const state_change> c) override { inner->commit(c); }
};

struct harness {
  core::testing::memory_store store;
  std::unique_ptr<executor::hub_executor> ex;
  std::mutex m;
  std::condition_variable cv;
  std::vector<hub_event> events;

  explicit harness(hub_settings s = core::testing::test_settings(),
                   executor::hub_clock::sources clock = executor::hub_clock::real()) {
    ex = std::make_unique<executor::hub_executor>(s, std::make_unique<observed_store>(&store),
                                                  std::move(clock));
    ex->add_listener([this](const hub_event& e) {
      {
        std::lock_guard lock(m);
        events.push_back(e);
      }
      cv.notify_all();
    });
    ex->start([](hub& h, time_point now) {
      device_spec spec;
      spec.id = "dev1";
      spec.primary_key = core::testing::device_key;
      REQUIRE(h.create_device(spec, now).ok());
    });
  }

  ~harness() { ex->stop(); }  // before `events` and `m` go away

  /// Waits (bounded) until a listener has seen an event of type E.
  template <class E>
  bool wait_for_event(std::chrono::milliseconds timeout) {
    std::unique_lock lock(m);
    return cv.wait_for(lock, timeout, [&] {
      for (const auto& e : events)
        if (std::holds_alternative<E>(e)) return true;
      return false;
    });
  }

  template <class Fn>
  auto call(Fn fn) {
    using R = decltype(fn(std::declval<hub&>(), time_point{}));
    std::promise<std::pair<bool, R>> p;
    auto f = p.get_future();
    ex->submit(fn, [&p](bool committed, R r) { p.set_value({committed, std::move(r)}); });
    REQUIRE(f.wait_for(10s) == std::future_status::ready);
    return f.get();
  }
};

c2d_content message(std::string id, ack_mode ack = ack_mode::none) {
  c2d_content c;
  c.message_id = std::move(id);
  c.ack = ack;
  return c;
}

}  // namespace

TEST_CASE("a completion runs after its changes are committed") {
  harness h;
  const int before = h.store.commits;
  auto [committed, r] =
      h.call([](hub& hb, time_point now) { return hb.enqueue("dev1", message("m1"), now).ok(); });
  CHECK(committed);
  CHECK(r);
  CHECK(h.store.commits == before + 1);
  CHECK(h.store.load().messages.size() == 1);  // durable before we were told
}

TEST_CASE("many posts in one round share one commit (group commit)") {
  harness h;
  std::promise<void> gate;
  auto gate_future = gate.get_future().share();
  // Hold the executor inside one work item while 100 more are queued behind it.
  h.ex->post([gate_future](hub&, time_point) -> executor::hub_executor::completion {
    gate_future.wait();
    return {};
  });
  std::atomic<int> done{0};
  for (int i = 0; i < 40; ++i) {
    h.ex->submit(
        [i](hub& hb, time_point now) {
          return hb.enqueue("dev1", message("m" + std::to_string(i)), now).ok();
        },
        [&done](bool committed, bool ok) {
          if (committed && ok) ++done;
        });
  }
  const int before = h.store.commits;
  gate.set_value();
  auto [c, n] = h.call([](hub& hb, time_point) { return hb.queued_count("dev1"); });
  CHECK(c);
  CHECK(n == 40);
  CHECK(done == 40);
  CHECK(h.store.commits - before <= 2);  // the 40 sends landed in at most two rounds
}

TEST_CASE("a failed commit rolls the round back and reports committed=false") {
  harness h;
  h.store.fail_next_commit = true;
  auto [committed, r] =
      h.call([](hub& hb, time_point now) { return hb.enqueue("dev1", message("lost"), now).ok(); });
  CHECK_FALSE(committed);
  auto [c2, count] = h.call([](hub& hb, time_point) { return hb.queued_count("dev1"); });
  CHECK(c2);
  CHECK(count == 0);  // the in-memory state was rebuilt from the store
  auto [c3, r3] =
      h.call([](hub& hb, time_point now) { return hb.enqueue("dev1", message("kept"), now).ok(); });
  CHECK(c3);
  CHECK(h.store.load().messages.size() == 1);
}

TEST_CASE("events reach listeners after the commit") {
  harness h;
  // A feedback receiver with credit: a batch cut by a deadline is pushed to it as an event.
  const auto [c1, receiver] =
      h.call([](hub& hb, time_point) { return hb.attach_feedback_receiver(); });
  h.call([receiver = receiver](hub& hb, time_point now) {
    return hb.set_feedback_credit(receiver, 1, false, now);
  });
  h.call([](hub& hb, time_point now) {
    c2d_content c = message("m", ack_mode::full);
    c.absolute_expiry = now;  // expires at once: an Expired record, cut into a batch at once
    return hb.enqueue("dev1", c, now).ok();
  });
  REQUIRE(h.wait_for_event<event::feedback_delivery>(10s));
  const int commits = h.store.commits;
  std::lock_guard lock(h.m);
  CHECK(std::get<event::feedback_delivery>(h.events.at(0)).receiver == receiver);
  // The batch's lock was committed before the event went out.
  const auto stored = h.store.load().batches;
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].lock_id == std::get<event::feedback_delivery>(h.events.at(0)).batch.lock_id);
  CHECK(commits >= 1);
}

TEST_CASE("a failed commit puts the volatile state back: a session opened in it is gone") {
  harness h;
  const auto token = make_sas_token("testhub.localhost/devices/dev1", core::testing::device_key, "",
                                    4102444800);  // 2100-01-01
  const auto epoch_of = [token](hub& hb, time_point now) {
    const auto g = hb.connect_device(session_request{"dev1", token, false, 1, nullptr}, now);
    return g ? g->epoch : 0;
  };
  const auto [c1, first] = h.call(epoch_of);
  REQUIRE(c1);
  REQUIRE(first != 0);
  h.store.fail_next_commit = true;
  // A takeover in a round that also stores something (a message), whose commit fails.
  const auto [c2, second] = h.call([&epoch_of](hub& hb, time_point now) {
    const auto epoch = epoch_of(hb, now);
    (void)hb.enqueue("dev1", message("lost"), now);
    return epoch;
  });
  REQUIRE(second != 0);
  CHECK_FALSE(c2);  // the takeover was rolled back with its round
  const auto [c3, results] = h.call([first = first, second = second](hub& hb, time_point now) {
    return std::pair{hb.subscribe_c2d("dev1", first, 1, now).ok(),
                     hb.subscribe_c2d("dev1", second, 1, now).ok()};
  });
  CHECK(c3);
  CHECK(results.first);  // the first session is still the device's
  CHECK_FALSE(results.second);
}

TEST_CASE("clock travel fires deadlines: TTL expiry produces feedback without waiting") {
  harness h;
  h.call([](hub& hb, time_point now) {
    return hb.enqueue("dev1", message("m", ack_mode::full), now).ok();
  });
  const auto t0 = h.ex->now();
  h.ex->advance_clock(2h);
  CHECK(h.ex->now() - t0 >= 2h);
  // The executor wakes on its own; a query posted afterwards sees the result.
  auto [c, batches] = h.call([](hub& hb, time_point) { return hb.feedback_batches(); });
  REQUIRE(batches.size() == 1);
  CHECK(batches[0].records.at(0).status == feedback_status::expired);
}

TEST_CASE("a deadline fires on its own, without any request (no polling needed)") {
  auto s = core::testing::test_settings();
  harness h{s};
  h.call([](hub& hb, time_point now) {
    const auto r = hb.attach_feedback_receiver();
    hb.set_feedback_credit(r, 1, false, now);
    c2d_content c = message("soon", ack_mode::full);
    c.absolute_expiry = now + 200ms;
    return hb.enqueue("dev1", c, now).ok();
  });
  // Only the executor's own timer can cause the expiry: nothing else is posted. The round of
  // that deadline cuts the Expired record into a batch and pushes it to the receiver.
  REQUIRE(h.wait_for_event<event::feedback_delivery>(10s));
  std::lock_guard lock(h.m);
  CHECK(std::get<event::feedback_delivery>(h.events.at(0)).batch.records.at(0).status ==
        feedback_status::expired);
}

TEST_CASE("stop finishes queued work") {
  harness h;
  std::atomic<bool> ran{false};
  h.ex->submit([](hub& hb, time_point now) { return hb.enqueue("dev1", message("x"), now).ok(); },
               [&ran](bool committed, bool) { ran = committed; });
  h.ex->stop();
  CHECK(ran);
  CHECK(h.store.load().messages.size() == 1);
}

TEST_CASE("test control's failing commits roll rounds back as a full disk would, then stop") {
  harness h;
  auto [set, ok] = h.call([](hub& hb, time_point) {
    hb.test_faults().failing_commits = 2;
    return true;
  });
  CHECK(set);
  CHECK(ok);
  const int before = h.store.commits;
  for (const char* id : {"lost-1", "lost-2"}) {
    auto [committed, r] =
        h.call([id](hub& hb, time_point now) { return hb.enqueue("dev1", message(id), now).ok(); });
    CHECK_FALSE(committed);
  }
  CHECK(h.store.commits == before);  // the store never saw them
  auto [c3, r3] =
      h.call([](hub& hb, time_point now) { return hb.enqueue("dev1", message("kept"), now).ok(); });
  CHECK(c3);
  const auto stored = h.store.load().messages;
  REQUIRE(stored.size() == 1);
  CHECK(stored[0].content.message_id == "kept");
  auto [c4, left] = h.call([](hub& hb, time_point) { return hb.test_faults().failing_commits; });
  CHECK(left == 0);
}

TEST_CASE("test control's commit delay holds each commit with changes") {
  harness h;
  (void)h.call([](hub& hb, time_point) {
    hb.test_faults().commit_delay = std::chrono::milliseconds(150);
    return true;
  });
  const auto started = std::chrono::steady_clock::now();
  auto [committed, r] =
      h.call([](hub& hb, time_point now) { return hb.enqueue("dev1", message("slow"), now).ok(); });
  CHECK(committed);
  CHECK(std::chrono::steady_clock::now() - started >= std::chrono::milliseconds(150));
}

TEST_CASE("while commits fail, each write fails alone and a read is answered from the store") {
  harness h;
  (void)h.call([](hub& hb, time_point) {
    hb.test_faults().failing_commits = 1'000'000;  // a disk that stays full
    return true;
  });
  auto [c1, r1] =
      h.call([](hub& hb, time_point now) { return hb.enqueue("dev1", message("w1"), now).ok(); });
  CHECK_FALSE(c1);
  // Posted together: they may share a round. Each write is refused, the read between them is
  // answered and sees none of them.
  std::promise<bool> write_a, write_b;
  std::promise<std::pair<bool, std::size_t>> read;
  h.ex->submit([](hub& hb, time_point now) { return hb.enqueue("dev1", message("w2"), now).ok(); },
               [&](bool committed, bool) { write_a.set_value(committed); });
  h.ex->submit([](hub& hb, time_point) { return hb.queued_count("dev1"); },
               [&](bool committed, std::size_t n) {
                 read.set_value({committed, n});
               });
  h.ex->submit([](hub& hb, time_point now) { return hb.enqueue("dev1", message("w3"), now).ok(); },
               [&](bool committed, bool) { write_b.set_value(committed); });
  auto fa = write_a.get_future();
  auto fr = read.get_future();
  auto fb = write_b.get_future();
  REQUIRE(fb.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(fa.get());
  CHECK_FALSE(fb.get());
  const auto [read_committed, count] = fr.get();
  CHECK(read_committed);
  CHECK(count == 0);
  CHECK(h.store.load().messages.empty());
  (void)h.call([](hub& hb, time_point) {
    hb.test_faults().failing_commits = 0;  // space returns
    return true;
  });
  auto [c4, r4] =
      h.call([](hub& hb, time_point now) { return hb.enqueue("dev1", message("w4"), now).ok(); });
  CHECK(c4);
  CHECK(h.store.load().messages.size() == 1);
}

TEST_CASE("what is due but cannot be committed is tried again every 100 ms, not in a loop") {
  harness h;
  (void)h.call([](hub& hb, time_point now) {
    return hb.enqueue("dev1", message("expiring", ack_mode::full), now).ok();
  });
  constexpr int plenty = 1'000'000;
  (void)h.call([](hub& hb, time_point) {
    hb.test_faults().failing_commits = plenty;
    return true;
  });
  h.ex->advance_clock(2h);  // the expiry is due; its commit fails every time
  std::this_thread::sleep_for(1s);
  auto [c, left] = h.call([](hub& hb, time_point) { return hb.test_faults().failing_commits; });
  const int attempts = plenty - left;
  CAPTURE(attempts);
  CHECK(attempts >= 2);   // it keeps trying ...
  CHECK(attempts <= 40);  // ... about 10 times a second (a spin makes thousands)
  (void)h.call([](hub& hb, time_point) {
    hb.test_faults().failing_commits = 0;
    return true;
  });
  // By itself, without a request, the expiry is committed once the disk works again. (The
  // store is read on the executor's thread: it is not thread-safe.)
  const auto stored = [&h] {
    return h.call([&h](hub&, time_point) { return h.store.load(); }).second;
  };
  for (int i = 0; i < 100 && !stored().messages.empty(); ++i) std::this_thread::sleep_for(50ms);
  const auto s = stored();
  CHECK(s.messages.empty());
  std::size_t records = s.pending_feedback.size();
  for (const auto& b : s.batches) records += b.records.size();
  CHECK(records == 1);
}

namespace {
/// The real clocks, with the wall clock shifted by what the test sets (a step of the machine's
/// clock, as NTP or `date -s` makes it).
struct stepping_wall {
  std::atomic<std::int64_t> shift_ms{0};
  executor::hub_clock::sources sources() {
    return {[this] {
              return std::chrono::system_clock::now() + std::chrono::milliseconds(shift_ms.load());
            },
            [] { return std::chrono::steady_clock::now(); }};
  }
  std::int64_t wall_seconds() const {
    return std::chrono::duration_cast<std::chrono::seconds>(
               (std::chrono::system_clock::now() + std::chrono::milliseconds(shift_ms.load()))
                   .time_since_epoch())
        .count();
  }
};
}  // namespace

TEST_CASE("a backward step of the wall clock delays no deadline; fresh tokens stay valid") {
  stepping_wall wall;
  harness h{core::testing::test_settings(), wall.sources()};
  h.call([](hub& hb, time_point now) {
    const auto r = hb.attach_feedback_receiver();
    hb.set_feedback_credit(r, 1, false, now);
    c2d_content c = message("soon", ack_mode::full);
    c.absolute_expiry = now + 400ms;
    return hb.enqueue("dev1", c, now).ok();
  });
  wall.shift_ms = -std::chrono::duration_cast<std::chrono::milliseconds>(2h).count();
  // Only the executor's timer can expire it: 400 ms later, not 2 hours later.
  REQUIRE(h.wait_for_event<event::feedback_delivery>(10s));
  CHECK(h.ex->wall_lag() >= 2h - 1s);
  // A token a client makes now (from its wall clock, which stepped back too) is valid, for
  // its hour, counted in hub time.
  const auto se = wall.wall_seconds() + 3600;
  const auto token =
      make_sas_token("testhub.localhost/devices/dev1", core::testing::device_key, "", se);
  auto [c, left] = h.call([token](hub& hb, time_point now) {
    auto g = hb.authenticate_device(token, "dev1", now);
    return g ? std::chrono::duration_cast<std::chrono::seconds>(g->expiry - now).count() : -1;
  });
  CHECK(left > 3590);
  CHECK(left <= 3600 + 300);  // plus the accepted clock skew
  // A token that expired by the wall clock is refused, although hub time is 2 h ahead of it.
  const auto old = make_sas_token("testhub.localhost/devices/dev1", core::testing::device_key, "",
                                  wall.wall_seconds() - 1000);
  auto [c2, ok] = h.call(
      [old](hub& hb, time_point now) { return hb.authenticate_device(old, "dev1", now).ok(); });
  CHECK_FALSE(ok);
}

TEST_CASE("a forward step of the wall clock is followed within a second: due TTLs expire") {
  stepping_wall wall;
  harness h{core::testing::test_settings(), wall.sources()};
  h.call([](hub& hb, time_point now) {
    const auto r = hb.attach_feedback_receiver();
    hb.set_feedback_credit(r, 1, false, now);
    return hb.enqueue("dev1", message("hour", ack_mode::full), now).ok();  // TTL: 1 hour
  });
  const auto before = h.ex->now();
  wall.shift_ms = std::chrono::duration_cast<std::chrono::milliseconds>(2h).count();
  // No request: the executor's bounded sleep notices the jump and expires the message once.
  REQUIRE(h.wait_for_event<event::feedback_delivery>(10s));
  CHECK(h.ex->now() - before >= 2h - 10ms);  // the two clocks' ms truncations differ
  std::lock_guard lock(h.m);
  std::size_t deliveries = 0;
  for (const auto& e : h.events)
    if (const auto* d = std::get_if<event::feedback_delivery>(&e)) {
      ++deliveries;
      REQUIRE(d->batch.records.size() == 1);
      CHECK(d->batch.records[0].status == feedback_status::expired);
    }
  CHECK(deliveries == 1);
}
