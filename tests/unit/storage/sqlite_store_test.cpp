// storage/sqlite_store: every change type, cascades, atomicity of commit(), reopening.
#include <doctest/doctest.h>

#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "storage/sqlite_store.hpp"
#include "storage_test_support.hpp"

namespace core = emu::core;
namespace change = emu::core::change;
using emu::storage::sqlite_store;
using emu::storage::storage_error;
using storage_test::at;
using storage_test::diff;
using storage_test::make_batch;
using storage_test::make_device;
using storage_test::make_message;
using storage_test::make_record;
using storage_test::make_telemetry;
using storage_test::model;
using storage_test::put_event;
using storage_test::temp_dir;

namespace {

using changes = std::vector<core::state_change>;

/// Where a test's store lives: a file (reopened to check persistence) or memory.
struct place {
  bool in_memory;
  temp_dir dir;
  std::string path() const {
    return in_memory ? std::string(emu::storage::in_memory_path) : dir.file("hub.db");
  }
};

/// A store plus the reference model fed with the same changes.
struct fixture {
  explicit fixture(bool in_memory) : where{in_memory, {}}, store(new sqlite_store(where.path())) {}

  void commit(const changes& cs) {
    store->commit(cs);
    expected.apply(cs);
  }
  /// Compares load() with the model; for files also after closing and reopening.
  void check(bool reopen = true) {
    CHECK(diff(store->load(), expected.snapshot()) == "");
    if (reopen && !where.in_memory) {
      store.reset();
      store = std::make_unique<sqlite_store>(where.path());
      CHECK(diff(store->load(), expected.snapshot()) == "");
    }
  }

  place where;
  std::unique_ptr<sqlite_store> store;
  model expected;
};

/// A populated hub: two devices with messages, unbatched and batched feedback, sessions,
/// telemetry and counters.
changes populated() {
  core::hub_counters counters;
  counters.next_message_seq = 7;
  counters.next_lock_id = 3;
  counters.next_feedback_id = 9;
  counters.next_batch_id = 3;
  counters.next_telemetry_id = 5;
  counters.next_generation = 11;
  counters.last_batch_time = at(1'767'225'999'000);
  return {
      change::put_device{make_device("dev-a", 0)},
      change::put_device{make_device("dev-b", 1)},
      change::put_message{make_message(1, "dev-a")},
      change::put_message{make_message(2, "dev-b")},
      change::put_message{make_message(3, "dev-a")},
      change::put_message{make_message(4, "dev-b")},
      change::cut_feedback_batch{make_batch(1)},
      change::cut_feedback_batch{make_batch(2)},
      change::put_feedback_record{make_record(1, "dev-a", 1)},
      change::put_feedback_record{make_record(2, "dev-b", 1)},
      change::put_feedback_record{make_record(3, "dev-a", 2)},
      change::put_feedback_record{make_record(4, "dev-a")},
      change::put_feedback_record{make_record(5, "dev-b")},
      change::put_feedback_record{make_record(6, "dev-a")},
      change::put_subscription{{"dev-a", 1}},
      change::put_subscription{{"dev-b", 0}},
      put_event(1, "dev-a"),
      put_event(2, "dev-b"),
      put_event(3, "dev-a"),
      put_event(4, "gone-device"),
      change::put_counters{counters},
  };
}

}  // namespace

TEST_CASE("every change type round-trips through commit and load") {
  for (const bool in_memory : {true, false}) {
    CAPTURE(in_memory);
    fixture f(in_memory);
    f.check();

    f.commit(populated());
    f.check();
    const core::hub_snapshot loaded = f.store->load();
    REQUIRE(loaded.messages.size() == 4);
    REQUIRE(loaded.batches.size() == 2);
    CHECK(loaded.batches[0].records.size() == 2);
    CHECK(loaded.batches[1].records.size() == 1);
    CHECK(loaded.pending_feedback.size() == 3);
    CHECK(loaded.messages[0].content == make_message(1, "dev-a").content);

    // Upserts replace whole rows.
    core::device a2 = make_device("dev-a", 2);
    core::c2d_message m3 = make_message(3, "dev-a");
    m3.content.body = "replaced";
    m3.content.absolute_expiry.reset();
    core::feedback_batch b1 = make_batch(1);
    b1.delivery_count = 2;
    b1.lock_id = 77;
    f.commit(
        {change::put_device{a2}, change::put_message{m3},
         change::put_feedback_record{make_record(4, "dev-a", 2)},  // now batched
         change::put_feedback_batch_state{b1.id, b1.delivery_count, b1.lock_id, b1.lock_expiry},
         change::put_subscription{{"dev-a", 0}}, put_event(5, "dev-c")});
    f.check();

    // Identities (schema 4): an X.509 edge device with a parent scope, a CA certificate.
    core::device x = make_device("dev-x509", 3);
    x.authentication = core::auth_type::self_signed;
    x.primary_key.clear();
    x.secondary_key.clear();
    x.primary_thumbprint = std::string(40, 'A');
    x.secondary_thumbprint = std::string(64, 'B');
    x.iot_edge = true;
    x.device_scope = "ms-azure-iot-edge://dev-x509-1";
    x.parent_scopes = {"ms-azure-iot-edge://parent-2"};
    core::ca_certificate ca;
    ca.name = "root-ca";
    ca.pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    ca.subject = "CN=root";
    ca.thumbprint = std::string(40, 'C');
    ca.not_before = at(1'700'000'000'000);
    ca.not_after = at(1'900'000'000'000);
    ca.verified = true;
    ca.verification_code = "ABC";
    ca.etag = "e1";
    ca.created = at(1'767'225'600'000);
    ca.updated = at(1'767'225'601'000);
    f.commit({change::put_device{x}, change::put_ca_certificate{ca}});
    f.check();
    {
      const auto loaded_x = f.store->load();
      const auto it = std::find_if(loaded_x.devices.begin(), loaded_x.devices.end(),
                                   [](const core::device& d) { return d.id == "dev-x509"; });
      REQUIRE(it != loaded_x.devices.end());
      CHECK(*it == x);
      REQUIRE(loaded_x.ca_certificates.size() == 1);
      CHECK(loaded_x.ca_certificates[0] == ca);
    }
    f.commit({change::remove_ca_certificate{"root-ca"}, change::remove_device{"dev-x509"}});
    f.check();
    CHECK(f.store->load().ca_certificates.empty());

    // put_message_state touches only the state columns.
    f.commit(
        {change::put_message_state{1, core::c2d_state::invisible, 1, 42, at(1'767'225'660'000)}});
    f.check();
    const auto m1 = f.store->load().messages.front();
    CHECK(m1.state == core::c2d_state::invisible);
    CHECK(m1.delivery_count == 1);
    CHECK(m1.lock_id == 42);
    CHECK(m1.lock_expiry == at(1'767'225'660'000));
    CHECK(m1.content == make_message(1, "dev-a").content);

    // Removals.
    f.commit({change::remove_message{2}, change::remove_subscription{"dev-b"},
              change::remove_telemetry_up_to{2, 2}, change::remove_feedback_batch{2}});
    f.check();
    f.commit({change::remove_device{"dev-b"}});
    f.check();
    f.commit({change::clear_all{}});
    f.check();
    CHECK(f.store->load().empty());
  }
}

TEST_CASE("unusual values survive exactly") {
  for (const bool in_memory : {true, false}) {
    CAPTURE(in_memory);
    fixture f(in_memory);
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    core::device d = make_device("dev;with:odd=chars$'()", 3);
    d.status_updated_time = at(-1234);  // before the epoch
    // Ids are ordered as signed 64-bit values on disk: the largest id that still sorts last.
    constexpr auto max_id = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    core::c2d_message empty = make_message(max_id, d.id);
    empty.content = core::c2d_content{};  // all empty, body too (X'' not NULL)
    empty.lock_id = max;
    empty.delivery_count = std::numeric_limits<int>::max();
    core::c2d_message binary = make_message(5, d.id);
    binary.content.body = std::string("\0\x01\xfe\xff\0", 5);
    binary.content.message_id = std::string("id\0with nul", 11);
    binary.content.properties = {{"", ""},
                                 {std::string("n\0ul", 4), std::string("\xc3\x28 bad utf-8", 12)},
                                 {"same", "1"},
                                 {"same", "2"},
                                 {std::string(300, 'k'), std::string(70000, 'v')}};
    binary.content.absolute_expiry = at(0);
    core::c2d_message big = make_message(6, d.id);
    big.content.body.assign(1 << 20, 'x');
    core::hub_counters counters{max, max - 1, 1, 2, 3, 4, at(std::numeric_limits<int>::max())};
    core::telemetry_message t = make_telemetry(9, "t");
    t.properties.clear();
    t.body.clear();
    f.commit({change::put_device{d}, change::put_message{empty}, change::put_message{binary},
              change::put_message{big}, change::put_feedback_record{make_record(max, d.id)},
              put_event(t), change::put_counters{counters}});
    f.check();
    // The largest sequence number as the bound means "everything" in that partition.
    f.commit({put_event(12, "t"), change::remove_telemetry_up_to{0, (std::int64_t{1} << 40) - 1}});
    f.check();
    CHECK(f.store->load().telemetry.empty());
  }
}

TEST_CASE("remove_device cascades to messages, unbatched feedback and the session only") {
  fixture f(false);
  f.commit(populated());
  f.commit({change::remove_device{"dev-a"}});
  const core::hub_snapshot s = f.store->load();
  REQUIRE(s.devices.size() == 1);
  CHECK(s.devices[0].id == "dev-b");
  REQUIRE(s.messages.size() == 2);
  CHECK(s.messages[0].seq == 2);
  CHECK(s.messages[1].seq == 4);
  REQUIRE(s.pending_feedback.size() == 1);
  CHECK(s.pending_feedback[0].id == 5);  // dev-b's; dev-a's 4 and 6 are gone
  // Batched records of dev-a stay in their batches.
  REQUIRE(s.batches.size() == 2);
  REQUIRE(s.batches[0].records.size() == 2);
  CHECK(s.batches[0].records[0].id == 1);
  CHECK(s.batches[0].records[0].device_id == "dev-a");
  REQUIRE(s.batches[1].records.size() == 1);
  CHECK(s.batches[1].records[0].id == 3);
  REQUIRE(s.subscriptions.size() == 1);
  CHECK(s.subscriptions[0].device_id == "dev-b");
  CHECK(s.telemetry.size() == 4);  // telemetry is not the device's queue
  CHECK(s.counters.next_message_seq == 7);
  f.check();

  // A device deleted and created again with the same id starts empty.
  f.commit({change::put_device{make_device("dev-a", 4)}});
  f.check();
  CHECK(f.store->load().devices.size() == 2);
}

TEST_CASE("remove_feedback_batch removes the batch and its records") {
  fixture f(false);
  f.commit(populated());
  f.commit({change::remove_feedback_batch{1}});
  const core::hub_snapshot s = f.store->load();
  REQUIRE(s.batches.size() == 1);
  CHECK(s.batches[0].id == 2);
  CHECK(s.batches[0].records.size() == 1);
  CHECK(s.pending_feedback.size() == 3);
  CHECK(s.messages.size() == 4);
  f.check();
  // Removing what is not there is a no-op.
  f.commit({change::remove_feedback_batch{99}, change::remove_message{99},
            change::remove_subscription{"nobody"}, change::remove_device{"nobody"},
            change::remove_telemetry_up_to{0, 0}});
  f.check();
}

TEST_CASE("cut_feedback_batch moves the stored pending records into the batch, no rewrite") {
  fixture f(true);
  f.commit({change::put_device{make_device("d")}, change::put_feedback_record{make_record(1, "d")},
            change::put_feedback_record{make_record(2, "d")},
            change::put_feedback_record{make_record(3, "d")}});
  core::feedback_batch b = make_batch(5);
  b.records = {make_record(1, "d", 5), make_record(2, "d", 5)};  // the front of the pending ones
  f.commit({change::cut_feedback_batch{b}});
  const core::hub_snapshot s = f.store->load();
  REQUIRE(s.batches.size() == 1);
  CHECK(s.batches[0].records == b.records);
  REQUIRE(s.pending_feedback.size() == 1);
  CHECK(s.pending_feedback[0].id == 3);
  f.check();

  // A cut that does not match what is stored (a record the store does not have) is refused,
  // and nothing of its transaction is applied.
  core::feedback_batch wrong = make_batch(6);
  wrong.records = {make_record(3, "d", 6), make_record(4, "d", 6)};
  CHECK_THROWS_AS(
      f.store->commit(std::vector<core::state_change>{change::cut_feedback_batch{wrong}}),
      storage_error);
  CHECK(f.store->load().pending_feedback.size() == 1);
  CHECK(f.store->load().batches.size() == 1);
}

TEST_CASE("put_feedback_batch_state changes a stored batch's delivery state only") {
  fixture f(true);
  f.commit({change::cut_feedback_batch{make_batch(2)}});
  f.commit({change::put_feedback_batch_state{2, 7, 99, at(1'767'225'999'000)}});
  const auto b = f.store->load().batches.at(0);
  CHECK(b.delivery_count == 7);
  CHECK(b.lock_id == 99);
  CHECK(b.created == make_batch(2).created);
  f.check();
  CHECK_THROWS_AS(f.store->commit(std::vector<core::state_change>{
                      change::put_feedback_batch_state{42, 1, 1, at(0)}}),
                  storage_error);
}

TEST_CASE("remove_telemetry_up_to removes one partition's sequence numbers <= n") {
  fixture f(true);
  changes cs;
  for (std::uint64_t i = 1; i <= 12; ++i) cs.push_back(put_event(i, "d"));  // partition i % 3
  cs.push_back(change::put_partition_counters{{1, 13, 13000}});
  f.commit(cs);
  f.commit({change::remove_telemetry_up_to{1, 7}});  // partition 1: 1, 4, 7 go; 10 stays
  const auto t = f.store->load().telemetry;
  REQUIRE(t.size() == 9);
  CHECK(t.front().partition == 0);
  std::vector<std::int64_t> in_1;
  for (const auto& e : t)
    if (e.partition == 1) in_1.push_back(e.sequence_number);
  CHECK(in_1 == std::vector<std::int64_t>{10});
  const auto p = f.store->load().partitions;
  REQUIRE(p.size() == 1);
  CHECK(p[0] == core::partition_counters{1, 13, 13000});
  f.check();
}

TEST_CASE("clear_all empties everything, counters included; the store stays usable") {
  fixture f(false);
  f.commit(populated());
  f.commit({change::clear_all{}});
  CHECK(f.store->load().empty());
  f.check();
  // clear_all followed by new state in the same group commit.
  f.commit(populated());
  f.commit({change::clear_all{}, change::put_device{make_device("fresh")},
            change::put_counters{{100, 1, 1, 1, 1, 1, {}}}});
  f.check();
  CHECK(f.store->load().devices.size() == 1);
}

TEST_CASE("an empty commit does nothing") {
  fixture f(true);
  f.commit({});
  f.check();
}

TEST_CASE("a failing commit applies nothing and leaves the store usable") {
  struct bad_group {
    const char* what;
    changes group;
  };
  const std::vector<bad_group> cases{
      {"a CHECK constraint fails in the middle of the group",
       {change::put_device{make_device("dev-c")}, change::remove_message{1},
        change::put_subscription{{"dev-c", 5}},  // qos must be 0 or 1
        put_event(50, "dev-c")}},
      {"a foreign key fails at COMMIT: a message for a device that does not exist",
       {change::put_device{make_device("dev-c")}, change::remove_device{"dev-b"},
        change::put_message{make_message(20, "nobody")}}},
      {"a record in a batch that does not exist",
       {change::remove_feedback_batch{2}, change::put_feedback_record{make_record(3, "dev-a", 2)}}},
      {"a session for a removed device",
       {change::remove_device{"dev-b"}, change::put_subscription{{"dev-b", 1}}}},
      {"put_message_state for a message that is not stored",
       {change::remove_message{3},
        change::put_message_state{3, core::c2d_state::invisible, 1, 5, at(1)}}},
  };
  for (const bool in_memory : {true, false}) {
    for (const bad_group& bad : cases) {
      CAPTURE(in_memory);
      CAPTURE(bad.what);
      fixture f(in_memory);
      f.commit(populated());
      const core::hub_snapshot before = f.store->load();
      std::string message;
      try {
        f.store->commit(bad.group);
      } catch (const storage_error& e) {
        message = e.what();
      }
      INFO(message);
      CHECK(message.find("rolled back") != std::string::npos);
      CHECK(diff(f.store->load(), before) == "");
      // The statements and the connection still work.
      f.commit({change::put_device{make_device("dev-d")}, change::remove_message{1}});
      f.check();
    }
  }
}

TEST_CASE("foreign keys are checked at COMMIT, so the order inside a group does not matter") {
  fixture f(false);
  f.commit({change::put_message{make_message(30, "dev-new")},
            change::put_feedback_record{make_record(1, "dev-new", 4)},
            change::put_subscription{{"dev-new", 1}}, change::put_device{make_device("dev-new")},
            change::cut_feedback_batch{make_batch(4)}});
  f.check();
}

TEST_CASE("a commit that runs out of space applies nothing; later commits work") {
  fixture f(false);
  f.commit(populated());
  const core::hub_snapshot before = f.store->load();
  auto& db = f.store->db();
  const std::int64_t pages = db.query_integer("PRAGMA page_count");
  db.query_integer("PRAGMA max_page_count = " + std::to_string(pages + 2));
  core::c2d_message big = make_message(40, "dev-a");
  big.content.body.assign(256 * 1024, 'z');
  std::string message;
  try {
    f.store->commit(changes{change::put_device{make_device("dev-z")}, change::put_message{big}});
  } catch (const storage_error& e) {
    message = e.what();
    CHECK((e.sqlite_code() & 0xff) == 13);  // SQLITE_FULL
  }
  INFO(message);
  CHECK(message.find("full") != std::string::npos);
  CHECK(diff(f.store->load(), before) == "");
  db.query_integer("PRAGMA max_page_count = 1073741823");
  f.commit({change::put_device{make_device("dev-z")}, change::put_message{big}});
  f.check();
}

TEST_CASE("random groups of changes match the reference model, also after reopening") {
  std::random_device rd;
  const unsigned seed = rd();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };

  for (const bool in_memory : {true, false}) {
    CAPTURE(in_memory);
    fixture f(in_memory);
    std::uint64_t next_seq = 1, next_record = 1, next_batch = 1, next_telemetry = 1;
    for (int round = 0; round < 60; ++round) {
      // Build the group against a scratch model so that every change is valid in order.
      model scratch = f.expected;
      changes group;
      const std::size_t size = 1 + pick(12);
      for (std::size_t k = 0; k < size; ++k) {
        std::vector<std::string> devices;
        for (const auto& [id, d] : scratch.devices) devices.push_back(id);
        core::state_change c = change::clear_all{};
        switch (pick(14)) {
          case 0:
            c = change::put_device{make_device("dev-" + std::to_string(pick(6)), int(pick(9)))};
            break;
          case 1:
            if (devices.empty()) continue;
            c = change::remove_device{devices[pick(devices.size())]};
            break;
          case 2:
          case 3:
            if (devices.empty()) continue;
            c = change::put_message{make_message(next_seq++, devices[pick(devices.size())])};
            break;
          case 4: {
            if (scratch.messages.empty()) continue;
            auto it = std::next(scratch.messages.begin(), long(pick(scratch.messages.size())));
            c = change::put_message_state{it->first, core::c2d_state(pick(2)), int(pick(10)),
                                          pick(1000), at(std::int64_t(pick(100000)))};
            break;
          }
          case 5:
            if (scratch.messages.empty()) continue;
            c = change::remove_message{
                std::next(scratch.messages.begin(), long(pick(scratch.messages.size())))->first};
            break;
          case 6: {
            std::uint64_t batch = 0;
            if (!scratch.batches.empty() && pick(2) == 0) {
              batch = std::next(scratch.batches.begin(), long(pick(scratch.batches.size())))->first;
            }
            // Sometimes a new record, sometimes a replaced one (e.g. moved into a batch).
            const std::uint64_t id =
                scratch.records.empty() || pick(2) == 0
                    ? next_record++
                    : std::next(scratch.records.begin(), long(pick(scratch.records.size())))->first;
            c = change::put_feedback_record{
                make_record(id, "dev-" + std::to_string(pick(6)), batch)};
            break;
          }
          case 7: {
            if (!scratch.batches.empty() && pick(3) == 0) {
              const auto id =
                  std::next(scratch.batches.begin(), long(pick(scratch.batches.size())))->first;
              c = change::put_feedback_batch_state{id, int(pick(10)), pick(1000),
                                                   at(std::int64_t(pick(100000)))};
              break;
            }
            // A cut takes a front part of the pending records, as the hub cuts them.
            core::feedback_batch b = make_batch(next_batch++);
            for (const auto& [id, r] : scratch.records)
              if (r.batch_id == 0) b.records.push_back(r);
            b.records.resize(pick(b.records.size() + 1));
            for (auto& r : b.records) r.batch_id = b.id;
            c = change::cut_feedback_batch{std::move(b)};
            break;
          }
          case 8:
            if (scratch.batches.empty()) continue;
            c = change::remove_feedback_batch{
                std::next(scratch.batches.begin(), long(pick(scratch.batches.size())))->first};
            break;
          case 9:
            if (devices.empty()) continue;
            c = change::put_subscription{{devices[pick(devices.size())], int(pick(2))}};
            break;
          case 10:
            c = change::remove_subscription{"dev-" + std::to_string(pick(6))};
            break;
          case 11:
            c = put_event(next_telemetry++, "dev-x");
            break;
          case 12:
            c = change::remove_telemetry_up_to{static_cast<int>(pick(3)),
                                               static_cast<std::int64_t>(pick(next_telemetry + 1))};
            break;
          case 13:
            if (pick(20) == 0) {
              c = change::clear_all{};
            } else {
              c = change::put_counters{{next_seq, pick(99), next_record, next_batch, next_telemetry,
                                        pick(99), at(std::int64_t(pick(1000)))}};
            }
            break;
        }
        scratch.apply(c);
        group.push_back(std::move(c));
      }
      f.commit(group);
      f.check(/*reopen=*/round % 15 == 14);
    }
    f.check();
  }
}

TEST_CASE("twins: stored whole, replaced, removed with their device, cleared") {
  for (const bool in_memory : {false, true}) {
    CAPTURE(in_memory);
    fixture f(in_memory);
    core::device_twin t;
    t.device_id = "dev-a";
    t.etag = "ZQ==";
    t.tags = {{"site", "lab"}, {"floor", 3}};
    t.desired.values = {{"interval", 5}, {"nested", {{"a", nullptr}, {"b", {1, 2}}}}};
    t.desired.metadata = {{"$lastUpdated", "2026-01-01T00:00:00.0000000Z"}};
    t.desired.version = 4;
    t.reported.values = {{"fw", "1.0 \xc3\xa9"}};
    t.reported.version = 2;
    t.version = 7;
    f.commit({change::put_device{make_device("dev-a")}, change::put_device{make_device("dev-b")},
              change::put_twin{t}});
    f.check();
    t.desired.version = 5;
    t.desired.values["interval"] = 10;
    core::device_twin other = t;
    other.device_id = "dev-b";
    f.commit({change::put_twin{t}, change::put_twin{other}});
    f.check();
    f.commit({change::remove_device{"dev-a"}});
    f.check();
    f.commit({change::clear_all{}});
    f.check();
  }
}

TEST_CASE("a twin without its device is refused at commit, and nothing of the round is kept") {
  fixture f(false);
  core::device_twin t;
  t.device_id = "ghost";
  const changes orphan{change::put_twin{t}};
  CHECK_THROWS_AS(f.store->commit(orphan), storage_error);
  f.check();
}
