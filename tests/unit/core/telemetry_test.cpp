// The telemetry log and its readers (issue 14): partitions, sequence numbers and offsets,
// retention, start positions, credit and epochs.
#include <doctest/doctest.h>

#include <memory>
#include <set>

#include "emulator/core/partition_key.hpp"
#include "test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

struct log_fixture {
  explicit log_fixture(hub_settings s = test_settings()) : h(std::move(s)) {}
  hub h;
  time_point now = time_point{std::chrono::sys_days{std::chrono::year{2026} / 1 / 1}};

  std::int64_t send(const std::string& device, const std::string& body) {
    return h.record_telemetry(device, {{"$.mid", body}}, body, now)->sequence_number;
  }
  /// The hub's end of a round: trim and deliver, then the events it emitted.
  std::vector<hub_event> round() {
    h.advance(now);
    (void)h.take_changes();
    return h.take_events();
  }
  static std::vector<std::string> bodies(const std::vector<hub_event>& events,
                                         std::uint64_t reader) {
    std::vector<std::string> out;
    for (const auto& e : events)
      if (const auto* d = std::get_if<event::telemetry_delivery>(&e); d && d->reader == reader)
        for (const auto& m : d->events) out.push_back(m->body);
    return out;
  }
  std::string partition_id(const std::string& device) const {
    return std::to_string(partition_of(device, h.partition_count()));
  }
  std::uint64_t attach(const std::string& device, event_position start = event_position::earliest(),
                       std::string group = "$Default", std::optional<std::int64_t> epoch = {}) {
    reader_request r;
    r.consumer_group = std::move(group);
    r.start = start;
    r.epoch = epoch;
    auto id = h.attach_telemetry_reader(partition_id(device), r);
    REQUIRE(id.ok());
    return *id;
  }
};

}  // namespace

TEST_CASE("one device's events go to one partition, numbered from 0 with growing offsets") {
  log_fixture f;
  for (int i = 0; i < 3; ++i) CHECK(f.send("dev1", "b" + std::to_string(i)) == i);
  const auto all = f.h.telemetry();
  REQUIRE(all.size() == 3);
  for (const auto& e : all) CHECK(e.partition == partition_of("dev1", 4));
  CHECK(all[0].offset == 0);
  CHECK(all[1].offset > all[0].offset);
  CHECK(all[2].offset > all[1].offset);
  CHECK(all[0].enqueued_time == f.now);
  CHECK(all[0].source == "Telemetry");
  // Another device in another partition starts its own numbering.
  std::string other;
  for (int i = 0; other.empty(); ++i) {
    const auto id = "d" + std::to_string(i);
    if (partition_of(id, 4) != partition_of("dev1", 4)) other = id;
  }
  CHECK(f.send(other, "x") == 0);
}

TEST_CASE("partition properties follow appends and trims") {
  log_fixture f;
  const int p = partition_of("dev1", 4);
  const std::string id = std::to_string(p);
  auto info = f.h.partition(id);
  REQUIRE(info.ok());
  CHECK(info->empty);
  CHECK(info->begin_sequence_number == 0);
  CHECK(info->last_sequence_number == -1);
  f.send("dev1", "a");
  f.now += 1s;
  f.send("dev1", "b");
  info = f.h.partition(id);
  CHECK_FALSE(info->empty);
  CHECK(info->last_sequence_number == 1);
  CHECK(info->last_enqueued_time == f.now);
  CHECK_FALSE(f.h.partition("4").ok());
  CHECK(f.h.partition("4").error().code == hub_error::entity_not_found);
  CHECK_FALSE(f.h.partition("01").ok());
  CHECK_FALSE(f.h.partition("-1").ok());

  // Retention in time (1 day by default): the first event goes a day after it came.
  f.now += 24h - 1s;
  (void)f.round();
  info = f.h.partition(id);
  CHECK(info->begin_sequence_number == 1);
  f.now += 1s;
  (void)f.round();
  info = f.h.partition(id);
  CHECK(info->empty);
  CHECK(info->begin_sequence_number == 2);
  CHECK(info->last_sequence_number == 1);
  CHECK(f.send("dev1", "c") == 2);  // numbers are never reused
}

TEST_CASE("retention in bytes and in events drops the oldest event of the whole log") {
  auto s = test_settings();
  s.telemetry_capacity = 3;
  log_fixture f(s);
  for (int i = 0; i < 5; ++i) {
    f.send("dev" + std::to_string(i), std::to_string(i));
    f.now += 1ms;
  }
  auto t = f.h.telemetry();
  REQUIRE(t.size() == 3);
  std::set<std::string> kept;
  for (const auto& e : t) kept.insert(e.body);
  CHECK(kept == std::set<std::string>{"2", "3", "4"});

  auto b = test_settings();
  b.telemetry_retention_bytes = 1000;
  log_fixture g(b);
  for (int i = 0; i < 20; ++i) g.send("dev1", std::string(100, 'x'));
  CHECK(g.h.telemetry().size() < 10);
  CHECK(g.h.telemetry().back().sequence_number == 19);
  // One event larger than the bound is still kept: it was acknowledged.
  g.send("dev1", std::string(5000, 'y'));
  REQUIRE(g.h.telemetry().size() == 1);
  CHECK(g.h.telemetry()[0].body.size() == 5000);
}

TEST_CASE("a reader gets events within its credit, at once and at the end of each round") {
  log_fixture f;
  f.send("dev1", "a");
  f.send("dev1", "b");
  f.send("dev1", "c");
  const auto r = f.attach("dev1");
  CHECK(f.h.set_telemetry_credit(r, 2) == 2);
  auto ev = f.h.take_events();
  CHECK(log_fixture::bodies(ev, r) == std::vector<std::string>{"a", "b"});
  CHECK(log_fixture::bodies(f.round(), r).empty());  // no credit left
  f.send("dev1", "d");
  CHECK(log_fixture::bodies(f.round(), r).empty());
  CHECK(f.h.set_telemetry_credit(r, 10) == 2);
  CHECK(log_fixture::bodies(f.h.take_events(), r) == std::vector<std::string>{"c", "d"});
  f.send("dev1", "e");
  f.send("dev1", "f");
  CHECK(log_fixture::bodies(f.round(), r) == std::vector<std::string>{"e", "f"});
  f.h.detach_telemetry_reader(r);
  f.send("dev1", "g");
  CHECK(log_fixture::bodies(f.round(), r).empty());
}

TEST_CASE("start positions: earliest, latest, sequence number, offset, enqueued time") {
  log_fixture f;
  for (const char* b : {"a", "b", "c", "d"}) {
    f.send("dev1", b);
    f.now += 1s;
  }
  const auto all = f.h.telemetry();
  const auto read_from = [&](event_position p) {
    const auto r = f.attach("dev1", p);
    (void)f.h.set_telemetry_credit(r, 100);
    const auto out = log_fixture::bodies(f.h.take_events(), r);
    f.h.detach_telemetry_reader(r);
    return out;
  };
  using k = event_position::kind;
  using v = std::vector<std::string>;
  CHECK(read_from(event_position::earliest()) == v{"a", "b", "c", "d"});
  CHECK(read_from({k::latest, 0, false}).empty());
  CHECK(read_from({k::sequence_number, 1, false}) == v{"c", "d"});
  CHECK(read_from({k::sequence_number, 1, true}) == v{"b", "c", "d"});
  CHECK(read_from({k::sequence_number, 99, true}).empty());
  CHECK(read_from({k::offset, all[2].offset, true}) == v{"c", "d"});
  CHECK(read_from({k::offset, all[2].offset, false}) == v{"d"});
  CHECK(read_from({k::enqueued_time, to_unix_ms(all[1].enqueued_time), false}) == v{"c", "d"});
  CHECK(read_from({k::enqueued_time, to_unix_ms(all[1].enqueued_time), true}) == v{"b", "c", "d"});
  // Latest: what comes after the attach.
  const auto r = f.attach("dev1", {k::latest, 0, false});
  (void)f.h.set_telemetry_credit(r, 100);
  f.send("dev1", "e");
  CHECK(log_fixture::bodies(f.round(), r) == v{"e"});
}

TEST_CASE("consumer groups are checked, case-insensitively; partitions too") {
  auto s = test_settings();
  s.consumer_groups = {"Analytics"};
  log_fixture f(s);
  reader_request r;
  r.consumer_group = "analytics";
  CHECK(f.h.attach_telemetry_reader("0", r).ok());
  r.consumer_group = "$default";
  CHECK(f.h.attach_telemetry_reader("0", r).ok());
  r.consumer_group = "other";
  auto bad = f.h.attach_telemetry_reader("0", r);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == hub_error::entity_not_found);
  r.consumer_group = "$Default";
  CHECK(f.h.attach_telemetry_reader("4", r).error().code == hub_error::entity_not_found);
  CHECK(f.h.consumer_groups() == std::vector<std::string>{"$Default", "Analytics"});
}

TEST_CASE("epochs: a higher one takes the partition, a lower one or none is refused") {
  log_fixture f;
  const auto plain = f.attach("dev1");
  const auto e1 = f.attach("dev1", event_position::earliest(), "$Default", 1);
  auto ev = f.h.take_events();
  REQUIRE(ev.size() == 1);
  const auto* ended = std::get_if<event::telemetry_reader_ended>(&ev[0]);
  REQUIRE(ended != nullptr);
  CHECK(ended->reader == plain);
  CHECK(ended->why.code == hub_error::receiver_disconnected);

  reader_request r;
  r.epoch = 0;
  CHECK(f.h.attach_telemetry_reader(f.partition_id("dev1"), r).error().code ==
        hub_error::receiver_disconnected);
  r.epoch.reset();
  CHECK(f.h.attach_telemetry_reader(f.partition_id("dev1"), r).error().code ==
        hub_error::receiver_disconnected);
  // Another consumer group is another owner.
  r.consumer_group = "$default";
  r.epoch = 0;
  CHECK(f.h.attach_telemetry_reader(f.partition_id("dev1"), r).error().code ==
        hub_error::receiver_disconnected);  // same group, other spelling
  // Equal epoch takes over too (Event Hubs: e1 <= e2 disconnects e1).
  const auto e1b = f.attach("dev1", event_position::earliest(), "$Default", 1);
  ev = f.h.take_events();
  REQUIRE(ev.size() == 1);
  CHECK(std::get<event::telemetry_reader_ended>(ev[0]).reader == e1);
  CHECK(e1b != e1);
}

TEST_CASE("a failed round puts readers back; the log comes back from the store") {
  log_fixture f;
  const auto r = f.attach("dev1");
  (void)f.h.set_telemetry_credit(r, 10);
  (void)f.h.take_events();
  f.h.round_committed();
  hub_snapshot stored;  // the store had nothing of the round
  stored.devices = f.h.list_devices();
  f.send("dev1", "lost");
  (void)f.round();
  f.h.round_failed(stored, f.now);
  CHECK(f.h.telemetry().empty());
  f.send("dev1", "kept");
  CHECK(log_fixture::bodies(f.round(), r) == std::vector<std::string>{"kept"});
}

TEST_CASE("restore keeps the partition count of a stored hub and its counters") {
  auto s = test_settings();
  s.partition_count = 2;
  hub h{s};
  hub_snapshot snap;
  snap.partitions = {{0, 7, 700}, {1, 3, 300}, {2, 0, 0}};
  telemetry_message m;
  m.partition = 1;
  m.sequence_number = 2;
  m.offset = 200;
  m.device_id = "x";
  snap.telemetry = {m};
  h.restore(snap);
  CHECK(h.partition_count() == 3);
  const auto info = h.partition("1");
  REQUIRE(info.ok());
  CHECK(info->begin_sequence_number == 2);
  CHECK(info->last_sequence_number == 2);
  CHECK(h.partition("0")->begin_sequence_number == 7);
}

TEST_CASE("a reset drops the events but never the numbering") {
  log_fixture f;
  f.send("dev1", "a");
  f.send("dev1", "b");
  (void)f.h.take_changes();
  f.h.reset(f.now);
  CHECK(f.h.telemetry().empty());
  // The store gets clear_all and then the counters again, so a restart keeps the numbering.
  const auto changes = f.h.take_changes();
  REQUIRE_FALSE(changes.empty());
  CHECK(std::holds_alternative<change::clear_all>(changes.front()));
  bool counters = false;
  for (const auto& c : changes)
    if (const auto* p = std::get_if<change::put_partition_counters>(&c))
      counters = counters || p->value.next_sequence_number == 2;
  CHECK(counters);
  CHECK(f.send("dev1", "c") == 2);
}
