// fold_changes (core/journal.hpp): a round's changes written once per row, with the same end
// state as applying them one by one (issue 12).
#include <doctest/doctest.h>

#include "tests/unit/core/memory_store.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

c2d_message message(std::uint64_t seq, const std::string& device) {
  c2d_message m;
  m.seq = seq;
  m.device_id = device;
  m.content.message_id = "m" + std::to_string(seq);
  return m;
}

device make_device(const std::string& id, const std::string& etag = "e") {
  device d;
  d.id = id;
  d.etag = etag;
  return d;
}

/// Applying `changes` and their fold to two stores gives the same state.
void same_state(const std::vector<state_change>& changes) {
  memory_store one, folded;
  one.commit(changes);
  folded.commit(fold_changes(changes));
  const auto a = one.load();
  const auto b = folded.load();
  CHECK(a.devices == b.devices);
  CHECK(a.messages == b.messages);
  CHECK(a.pending_feedback == b.pending_feedback);
  CHECK(a.batches == b.batches);
  CHECK(a.subscriptions == b.subscriptions);
}

}  // namespace

TEST_CASE("a message enqueued and locked in one round is one insert in its latest state") {
  const std::vector<state_change> changes{
      change::put_device{make_device("d")},
      change::put_message{message(1, "d")},
      change::put_message_state{1, c2d_state::invisible, 0, 7, time_point{1000ms}},
  };
  const auto folded = fold_changes(changes);
  REQUIRE(folded.size() == 2);
  const auto& m = std::get<change::put_message>(folded[1]).value;
  CHECK(m.state == c2d_state::invisible);
  CHECK(m.lock_id == 7);
  same_state(changes);
}

TEST_CASE("a message enqueued and removed in one round is written only as its removal") {
  const std::vector<state_change> changes{
      change::put_device{make_device("d")},
      change::put_message{message(1, "d")},
      change::put_message_state{1, c2d_state::invisible, 0, 7, time_point{1000ms}},
      change::remove_message{1},
  };
  const auto folded = fold_changes(changes);
  REQUIRE(folded.size() == 2);
  CHECK(std::holds_alternative<change::remove_message>(folded[1]));
  same_state(changes);
}

TEST_CASE("repeated writes of a row are written once; order with other rows kept") {
  feedback_record r;
  r.id = 3;
  r.device_id = "d";
  const std::vector<state_change> changes{
      change::put_device{make_device("d", "1")},
      change::put_subscription{{"d", 1}},
      change::put_feedback_record{r},
      change::put_device{make_device("d", "2")},
      change::put_subscription{{"d", 0}},
  };
  const auto folded = fold_changes(changes);
  REQUIRE(folded.size() == 3);
  CHECK(std::get<change::put_feedback_record>(folded[0]).value.id == 3);
  CHECK(std::get<change::put_device>(folded[1]).value.etag == "2");
  CHECK(std::get<change::put_subscription>(folded[2]).value.qos == 0);
  same_state(changes);
}

TEST_CASE("a device removal is never dropped: it cascades in the store") {
  const std::vector<state_change> changes{
      change::put_device{make_device("d")},
      change::put_message{message(1, "d")},
      change::remove_device{"d"},
      change::put_device{make_device("d", "again")},  // re-created in the same round
      change::put_subscription{{"d", 1}},
  };
  const auto folded = fold_changes(changes);
  CHECK(std::count_if(folded.begin(), folded.end(), [](const state_change& c) {
          return std::holds_alternative<change::remove_device>(c);
        }) == 1);
  same_state(changes);
}

TEST_CASE("a batch cut and then locked is one cut in its latest state; cuts are never dropped") {
  feedback_record r;
  r.id = 1;
  r.device_id = "d";
  feedback_batch b;
  b.id = 4;
  b.records = {r};
  b.records[0].batch_id = 4;
  std::vector<state_change> changes{
      change::put_device{make_device("d")},
      change::put_feedback_record{r},
      change::cut_feedback_batch{b},
      change::put_feedback_batch_state{4, 0, 9, time_point{5000ms}},
  };
  auto folded = fold_changes(changes);
  REQUIRE(folded.size() == 3);
  CHECK(std::get<change::cut_feedback_batch>(folded[2]).value.lock_id == 9);
  same_state(changes);
  // Removed in the same round: the cut stays (it moved the records), then the removal.
  changes.push_back(change::remove_feedback_batch{4});
  folded = fold_changes(changes);
  CHECK(std::holds_alternative<change::cut_feedback_batch>(folded[folded.size() - 2]));
  CHECK(std::holds_alternative<change::remove_feedback_batch>(folded.back()));
  same_state(changes);
}

TEST_CASE("a batch locked after a later cut keeps its place before that cut") {
  // Found by the journal contract walk: batch 1 cut, batch 2 cut, then batch 1 locked. Folding
  // the lock into batch 1's cut must not move that cut after batch 2's, which would move batch
  // 1's records into batch 2 ("the unbatched records up to id N").
  feedback_record r1, r2, r3;
  r1.id = 1;
  r2.id = 2;
  r3.id = 3;
  for (auto* r : {&r1, &r2, &r3}) r->device_id = "d";
  feedback_batch b1, b2;
  b1.id = 1;
  b1.records = {r1, r2};
  b2.id = 2;
  b2.records = {r3};
  const std::vector<state_change> changes{
      change::put_device{make_device("d")},
      change::put_feedback_record{r1},
      change::put_feedback_record{r2},
      change::cut_feedback_batch{b1},
      change::put_feedback_record{r3},
      change::cut_feedback_batch{b2},
      change::put_feedback_batch_state{1, 1, 9, time_point{5000ms}},
  };
  const auto folded = fold_changes(changes);
  REQUIRE(folded.size() == 6);
  const auto& first = std::get<change::cut_feedback_batch>(folded[3]).value;
  CHECK(first.id == 1);
  CHECK(first.lock_id == 9);
  CHECK(std::get<change::cut_feedback_batch>(folded[5]).value.id == 2);
  same_state(changes);
  memory_store s;
  s.commit(folded);
  const auto loaded = s.load();
  REQUIRE(loaded.batches.size() == 2);
  CHECK(loaded.batches[0].records.size() == 2);
  CHECK(loaded.batches[1].records.size() == 1);
}

TEST_CASE("clear_all drops what came before it") {
  const std::vector<state_change> changes{
      change::put_device{make_device("d")},
      change::clear_all{},
      change::put_device{make_device("e")},
  };
  const auto folded = fold_changes(changes);
  REQUIRE(folded.size() == 2);
  CHECK(std::holds_alternative<change::clear_all>(folded[0]));
  same_state(changes);
}

TEST_CASE("a hub round: send, deliver, complete with feedback writes each row once") {
  fixture f;
  const auto g = f.connect();
  REQUIRE(f.h.subscribe_c2d("dev1", g.epoch, 1, f.now).ok());
  (void)f.h.take_changes();
  const auto seq = f.send("m", ack_mode::full);
  const auto d = fixture::deliveries(f.h.take_events());
  REQUIRE(d.size() == 1);
  REQUIRE(
      f.h.settle("dev1", g.epoch, seq, d[0].delivery.lock_id, settlement::complete, f.now).ok());
  const auto changes = f.h.take_changes();
  // The message came and went in the round: only its removal, the record, the counters.
  for (const auto& c : changes) {
    CHECK_FALSE(std::holds_alternative<change::put_message>(c));
    CHECK_FALSE(std::holds_alternative<change::put_message_state>(c));
  }
  CHECK(std::count_if(changes.begin(), changes.end(), [](const state_change& c) {
          return std::holds_alternative<change::put_feedback_record>(c);
        }) == 1);
}
