// The contract between the hub's change journal and storage: random hub operations, each
// round committed to the reference memory store AND to the SQLite store (file), must load back
// identically, and a hub restored from SQLite must equal the live one.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "storage/sqlite_store.hpp"
#include "tests/unit/core/memory_store.hpp"
#include "tests/unit/core/test_hub.hpp"

using namespace emu::core;
using namespace emu::core::testing;

namespace {

void check_equal(const hub_snapshot& a, const hub_snapshot& b) {
  CHECK(a.devices == b.devices);
  CHECK(a.messages == b.messages);
  CHECK(a.pending_feedback == b.pending_feedback);
  CHECK(a.batches == b.batches);
  CHECK(a.subscriptions == b.subscriptions);
  CHECK(a.telemetry == b.telemetry);
  CHECK(a.counters == b.counters);
}

}  // namespace

TEST_CASE("random hub operations: memory store, SQLite store and restored hub agree") {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("emu-contract-" + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  // A failure prints its seed; EMU_CONTRACT_SEED=<seed> replays that walk.
  const char* fixed = std::getenv("EMU_CONTRACT_SEED");
  const auto seed = fixed ? static_cast<unsigned>(std::stoul(fixed)) : std::random_device{}();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  {
    fixture f;
    memory_store mem;
    emu::storage::sqlite_store sql((dir / "hub.db").string());
    const auto first = std::vector<state_change>{change::put_device{*f.h.find_device("dev1")}};
    mem.commit(first);
    sql.commit(first);

    std::vector<std::string> devices{"dev1"};
    for (int round = 0; round < 300; ++round) {
      const int ops = 1 + static_cast<int>(rng() % 6);
      for (int i = 0; i < ops; ++i) {
        const auto& dev = devices[rng() % devices.size()];
        switch (rng() % 12) {
          case 0:
          case 1:
          case 2: {
            auto c = f.msg("m" + std::to_string(rng() % 1000), static_cast<ack_mode>(rng() % 4));
            c.properties = {{"k", std::to_string(rng())}};
            if (rng() % 4 == 0) c.absolute_expiry = f.now + std::chrono::seconds(rng() % 120);
            (void)f.h.enqueue(dev, c, f.now);
            break;
          }
          case 3:
          case 4: {
            if (const auto d = f.h.lock_next(dev, f.now)) {
              const auto how = static_cast<settlement>(rng() % 3);
              (void)f.h.settle(dev, d->message.seq, d->lock_id, how, f.now);
            }
            break;
          }
          case 5:
            (void)f.h.lock_next(dev, f.now);  // left to time out
            break;
          case 6:
            if (const auto b = f.h.lock_next_batch(f.now))
              (void)f.h.settle_batch(b->id, b->lock_id, static_cast<batch_outcome>(rng() % 3),
                                     f.now);
            break;
          case 7: {
            device_spec spec;
            spec.id = "d" + std::to_string(rng() % 5);
            if (f.h.create_device(spec, f.now).ok()) devices.push_back(spec.id);
            break;
          }
          case 8:
            if (dev != "dev1" && rng() % 3 == 0) {
              (void)f.h.delete_device(dev, "*", f.now);
              std::erase(devices, dev);
            } else {
              (void)f.h.purge(dev, f.now);
            }
            break;
          case 9:
            if (rng() % 2)
              f.h.set_subscription(dev, static_cast<int>(rng() % 2));
            else
              f.h.clear_subscription(dev);
            break;
          case 10:
            f.h.record_telemetry(dev, {{"$.mid", "t"}, {"a b", "x&y"}},
                                 std::string(rng() % 50, 'x'), f.now);
            break;
          default:
            f.tick(std::chrono::seconds(rng() % 90));
            break;
        }
      }
      const auto changes = f.h.take_changes();
      mem.commit(changes);
      sql.commit(changes);
    }
    const auto from_mem = mem.load();
    const auto from_sql = sql.load();
    check_equal(from_mem, from_sql);
    // The walk must really have exercised the store, or this test proves nothing.
    CHECK(from_sql.counters.next_message_seq > 100);
    CHECK(from_sql.counters.next_feedback_id > 10);
    CHECK(from_sql.counters.next_batch_id > 2);

    hub restored{test_settings()};
    restored.restore(from_sql);
    CHECK(restored.list_devices() == f.h.list_devices());
    for (const auto& d : f.h.list_devices()) {
      CHECK(restored.queue_of(d.id) == f.h.queue_of(d.id));
      CHECK(restored.subscription(d.id) == f.h.subscription(d.id));
    }
    CHECK(restored.pending_feedback() == f.h.pending_feedback());
    CHECK(restored.feedback_batches() == f.h.feedback_batches());
    CHECK(restored.telemetry() == f.h.telemetry());
    CHECK(restored.next_deadline() == f.h.next_deadline());
  }
  std::filesystem::remove_all(dir);
}
