#pragma once
/// What the hub did since its owner last asked: the state changes to commit (state_store.hpp),
/// the events to tell the fronts after the commit (hub_event.hpp), and the id counters.
///
/// Every part of the hub (registry, c2d_queue, feedback_queue, telemetry_log, device_sessions)
/// records into the one journal of its hub. take_changes() folds the changes per key before
/// they go to the store (issue 12): a message enqueued and locked in the same round is one
/// insert, a record written twice in a round is written once, and so on (fold_changes()).
///
/// Thread safety: none; owned by the hub.
#include <cstdint>
#include <utility>
#include <vector>

#include "emulator/core/hub_event.hpp"
#include "emulator/core/state_store.hpp"

namespace emu::core {

class journal {
 public:
  void record(state_change c) {
    changes_.push_back(std::move(c));
    ++writes_;
  }
  void emit(hub_event e) { events_.push_back(std::move(e)); }

  /// Takes the next value of a counter (message seq, lock id, …); the counters are then
  /// committed with the round.
  std::uint64_t next(std::uint64_t hub_counters::*counter) {
    dirty_ = true;
    ++writes_;
    return (counters_.*counter)++;
  }
  const hub_counters& counters() const { return counters_; }
  /// Changes a counter that is not an id (the last batch time).
  hub_counters& counters_for_update() {
    dirty_ = true;
    ++writes_;
    return counters_;
  }
  /// Replaces the counters with stored ones (restore), without recording a change.
  void load_counters(const hub_counters& c) {
    counters_ = c;
    dirty_ = false;
  }

  /// The round's changes, folded (fold_changes), with the counters last if they changed.
  std::vector<state_change> take_changes();
  std::vector<hub_event> take_events() { return std::exchange(events_, {}); }
  bool has_changes() const { return !changes_.empty() || dirty_; }
  /// How many changes (and counter updates) were ever recorded: the executor compares it
  /// around a request to tell one that wrote nothing (a read).
  std::uint64_t writes() const { return writes_; }
  /// Forgets everything recorded (the round was rolled back).
  void discard() {
    changes_.clear();
    events_.clear();
    dirty_ = false;
  }

 private:
  std::vector<state_change> changes_;
  std::vector<hub_event> events_;
  hub_counters counters_;
  bool dirty_ = false;
  std::uint64_t writes_ = 0;
};

/// Folds a round's changes per key, so that applying the result to a store gives the same
/// state as applying `changes` in order, with fewer writes:
///   - a later write of the same row replaces an earlier one (a message's put and state
///     updates become one put; a record, subscription, device or batch state written twice is
///     written once), at the position of the later one;
///   - a removal drops the earlier writes of its row (a message enqueued and completed in the
///     same round is not written at all beyond its removal);
///   - `clear_all` drops everything before it;
///   - a device or module removal cascades in the store, so it is never dropped; a batch cut
///     is never dropped either (it moves records), nor is telemetry.
std::vector<state_change> fold_changes(std::vector<state_change> changes);

}  // namespace emu::core
