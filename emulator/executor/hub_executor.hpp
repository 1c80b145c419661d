#pragma once
/// The hub executor: the one thread that owns the hub core and its store.
///
/// Fronts never touch the hub directly; they post work. The executor runs in rounds: it takes
/// every pending work item, applies them to the hub in order, commits all their changes to the
/// store in ONE transaction (group commit), and only then runs each item's completion with
/// `committed = true`. So nothing is acknowledged on the wire before its transaction is durable
/// (ARCHITECTURE "Who owns state"). If the commit fails, the hub is rebuilt from the store
/// (undoing the round) and every completion of the round gets `committed = false`.
///
/// While commits keep failing (a full disk, an I/O error: issue 20 item 2) the executor says so
/// once in the log (and once when they succeed again), runs each request in a round of its
/// own so that a request that changes nothing (a read) is answered from the committed state
/// whatever the writes around it meet, and tries what is due again every 100 ms instead of
/// spinning on it. It never retries a failed commit: the next round starts from what the store
/// reloaded, so a write whose fsync failed is not taken for durable.
///
/// The executor owns the hub's clock (hub_clock.hpp: monotonic, follows the wall clock forward
/// but not backward, plus the offset test control advances, "clock travel"), so the hub core
/// itself never reads a clock. It sleeps on the steady clock until the hub's next deadline
/// (TTL, lock timeout, feedback batch), at most 1 s at a time so that a forward step of the
/// wall clock (a resumed laptop) is followed within a second; a backward step delays nothing.
///
/// Hub events (deliveries, ended sessions, …) are delivered to listeners on the executor
/// thread after the commit of the round that produced them.
///
/// The executor runs hub calls only: a work item calls the hub and captures what it needs; a
/// completion or a listener only hands the result to a front (posts it to a connection's
/// strand). Parsing, rendering and I/O happen on the fronts' threads.
///
/// Thread safety: post()/submit()/advance_clock()/stop() may be called from any thread.
/// Completions and listeners run on the executor thread and must not block.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "emulator/core/hub.hpp"
#include "emulator/core/state_store.hpp"
#include "emulator/executor/commit_statistics.hpp"
#include "emulator/executor/hub_clock.hpp"

namespace emu::executor {

class hub_executor {
 public:
  /// Called after the commit of the round: `committed` is false if the commit failed.
  using completion = std::function<void(bool committed)>;
  /// Runs on the executor thread with the hub and the current time; returns its completion
  /// (may be empty).
  using work = std::function<completion(core::hub&, core::time_point now)>;
  using listener = std::function<void(const core::hub_event&)>;

  /// Loads the store into a new hub. Throws what the store throws (corrupt/newer database).
  /// `clock`: where the hub clock reads the wall and steady clocks (tests pass fakes).
  hub_executor(core::hub_settings settings, std::unique_ptr<core::state_store> store,
               hub_clock::sources clock = hub_clock::real());
  ~hub_executor();
  hub_executor(const hub_executor&) = delete;
  hub_executor& operator=(const hub_executor&) = delete;

  /// Registers a listener for hub events; call before start().
  void add_listener(listener l);
  /// Called on the executor thread, after the round at the new time committed, when hub time
  /// jumped forward to follow a step of the wall clock (1 s or more): the fronts re-check the
  /// deadlines they keep in hub time (token expiry), as after clock travel. Before start().
  void on_clock_jump(std::function<void()> f) { clock_jump_ = std::move(f); }
  /// Runs `init` on the hub before the thread starts (e.g. seeding the default device), then
  /// commits its changes. Throws if that commit fails.
  void start(const std::function<void(core::hub&, core::time_point)>& init = {});
  /// Finishes the queued work, commits, and joins the thread. Idempotent.
  void stop();

  void post(work w);

  /// Convenience: `fn(hub, now)` returns a value R; `done(committed, R)` runs after the commit.
  template <class Fn, class Done>
  void submit(Fn fn, Done done) {
    post([fn = std::move(fn), done = std::move(done)](core::hub& h,
                                                      core::time_point now) mutable -> completion {
      auto r = fn(h, now);
      return [r = std::move(r), done = std::move(done)](bool committed) mutable {
        done(committed, std::move(r));
      };
    });
  }

  /// Moves the executor's clock forward (test control). Wakes the thread so due deadlines fire.
  /// The fronts' own deadlines that follow hub time (token expiry, keep-alive) are re-checked
  /// by the caller (app::emulator::advance_clock tells every front).
  void advance_clock(core::duration by);
  /// Test control: the machine's wall clock steps by `by` (hub_clock::step_wall). Wakes the
  /// thread so that a forward step is followed at once.
  void step_wall_clock(core::duration by) {
    clock_.step_wall(by);
    wake_.notify_one();
  }
  /// The executor's current time (hub_clock::now: monotonic, + clock travel). Any thread.
  core::time_point now() const { return clock_.now(); }
  /// How far clock travel has moved the clock ahead. Any thread.
  core::duration clock_offset() const { return clock_.travel(); }
  /// Grows whenever hub time jumps: clock travel, or a forward step of the wall clock being
  /// followed. A front that maps hub deadlines to its steady clock takes the mapping anew
  /// when it changes. Any thread.
  std::uint64_t clock_generation() const { return clock_generation_.load(); }
  /// How far hub time runs ahead of the wall clock after backward steps. Any thread.
  core::duration wall_lag() const { return clock_.wall_lag(); }

  /// Number of commits so far and work items applied (for diagnostics and benchmarks).
  std::uint64_t commits() const { return commits_.load(); }
  /// Commit latency and group-commit size (any thread).
  commit_numbers commit_stats() const { return commit_stats_.snapshot(); }

 private:
  void run();
  void run_round(std::deque<work>& batch);
  void run_items(std::deque<work>& batch);
  void commit_or_restore(std::vector<completion>& completions);
  void note_clock_steps();
  void note_commit_failed(const std::exception& e);
  void note_commit_succeeded();

  core::hub hub_;
  std::unique_ptr<core::state_store> store_;
  std::vector<listener> listeners_;
  hub_clock clock_;
  std::atomic<std::uint64_t> clock_generation_{0};
  std::function<void()> clock_jump_;
  // Executor thread only: the clock's followed() and wall_lag() when last looked at.
  core::duration seen_followed_{};
  core::duration seen_lag_{};
  std::atomic<std::uint64_t> commits_{0};
  commit_statistics commit_stats_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<work> queue_;
  bool stopping_ = false;
  bool clock_moved_ = false;
  bool retry_pending_ = false;  // executor thread only
  // Executor thread only: commits are failing since `failing_since_` (the last commit with
  // changes failed), `failed_rounds_` rounds so far.
  bool storage_failing_ = false;
  std::uint64_t failed_rounds_ = 0;
  std::chrono::steady_clock::time_point failing_since_{};
  std::thread thread_;
};

}  // namespace emu::executor
