#include "emulator/executor/hub_executor.hpp"

#include <algorithm>
#include <stdexcept>
#include <thread>

#include <chrono>
#include <exception>

#include "emulator/log/log.hpp"

namespace emu::executor {

namespace {
/// After a failed commit, how long until the round's lost deliveries are tried again.
constexpr std::chrono::milliseconds retry_interval{100};
/// The longest sleep: how soon a forward step of the wall clock is followed.
constexpr std::chrono::milliseconds max_sleep{1000};
}  // namespace

hub_executor::hub_executor(core::hub_settings settings, std::unique_ptr<core::state_store> store,
                           hub_clock::sources clock)
    : hub_(std::move(settings)), store_(std::move(store)), clock_(std::move(clock)) {
  // The start's cost grows with the stored state (issue 19, the backlog curve): say what it was.
  const auto started = std::chrono::steady_clock::now();
  auto snapshot = store_->load();
  const auto loaded = std::chrono::steady_clock::now();
  hub_.restore(std::move(snapshot));
  const auto restored = std::chrono::steady_clock::now();
  const auto ms = [](auto d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
  };
  const auto stats = hub_.statistics();
  std::size_t events = 0;
  for (const auto& p : stats.partitions) events += p.retained;
  emu::log::get("storage").info(
      "state loaded: {} devices, {} queued messages, {} telemetry events; read in {} ms, "
      "rebuilt in {} ms",
      stats.devices, stats.c2d_enqueued + stats.c2d_invisible, events, ms(loaded - started),
      ms(restored - loaded));
}

hub_executor::~hub_executor() {
  stop();
}

void hub_executor::add_listener(listener l) {
  listeners_.push_back(std::move(l));
}

void hub_executor::start(const std::function<void(core::hub&, core::time_point)>& init) {
  const auto t = now();
  hub_.set_wall_lag(clock_.wall_lag());
  hub_.advance(t);            // whatever became due while the emulator was stopped
  hub_.release_all_locks(t);  // nobody holds a lock across a restart
  if (init) init(hub_, t);
  store_->commit(hub_.take_changes());
  hub_.round_committed();
  (void)hub_.take_events();  // nobody is connected yet
  thread_ = std::thread([this] { run(); });
}

void hub_executor::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void hub_executor::post(work w) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(w));
  }
  wake_.notify_one();
}

void hub_executor::advance_clock(core::duration by) {
  clock_.advance(by);
  ++clock_generation_;
  {
    std::lock_guard lock(mutex_);
    clock_moved_ = true;
  }
  wake_.notify_one();
}

void hub_executor::run() {
  std::deque<work> batch;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        if (!queue_.empty() || clock_moved_) break;
        const auto deadline = hub_.next_deadline();  // (now() follows a forward step)
        if (clock_.followed() - seen_followed_ >= core::duration{1000}) break;  // tell the fronts
        const bool due = deadline && *deadline <= now();
        if (storage_failing_ && (due || retry_pending_)) {
          // The last commit failed and something waits (a due expiry, the deliveries the
          // failed round lost: hub::round_failed): try again shortly, without spinning while
          // the disk stays full or failing.
          if (stopping_) return;
          if (wake_.wait_for(lock, retry_interval) == std::cv_status::timeout) break;
          continue;
        }
        if (due) break;
        if (stopping_) return;
        // Sleep on the steady clock (a backward step of the wall clock delays nothing), at
        // most max_sleep: hub time jumps when the wall clock steps forward (hub_clock), and
        // a due deadline is noticed within that.
        const auto sleep = deadline ? std::min<core::duration>(*deadline - now(), max_sleep)
                                    : core::duration{max_sleep};
        wake_.wait_for(lock, sleep);
      }
      clock_moved_ = false;
      batch.swap(queue_);
    }
    run_round(batch);
    batch.clear();
    note_clock_steps();
  }
}

void hub_executor::run_round(std::deque<work>& batch) {
  if (!storage_failing_ || batch.size() <= 1) {
    run_items(batch);
    return;
  }
  // Commits are failing: one request per round, so each write fails alone and each read is
  // answered (run_items).
  for (auto& w : batch) {
    std::deque<work> one;
    one.push_back(std::move(w));
    run_items(one);
  }
}

void hub_executor::run_items(std::deque<work>& batch) {
  hub_.set_wall_lag(clock_.wall_lag());  // tokens are judged by the wall clock (hub_clock.hpp)
  std::vector<completion> completions;
  completions.reserve(batch.size());
  hub_.advance(now());  // apply what is due before serving requests (no expired delivery)
  for (auto& w : batch) {
    const auto writes_before = hub_.writes();
    auto c = w(hub_, now());
    if (!c) continue;
    if (storage_failing_ && batch.size() == 1 && hub_.writes() == writes_before) {
      // A request that changed nothing, alone in its round (run_round) while commits fail: it
      // read the committed state plus at most what the hub redoes by itself (expiry, the
      // deliveries of a lost round), so it is answered whatever the commit of those meets.
      completions.push_back([c = std::move(c)](bool) { c(true); });
    } else {
      completions.push_back(std::move(c));
    }
  }
  hub_.advance(now());  // e.g. a message sent with an expiry in the past
  commit_or_restore(completions);
}

namespace {
/// The events of a rolled-back round that still hold: orders to the fronts from test control.
std::vector<core::hub_event> front_controls(std::vector<core::hub_event> events) {
  std::erase_if(events, [](const core::hub_event& e) {
    return !std::holds_alternative<core::event::fronts_paused>(e) &&
           !std::holds_alternative<core::event::tokens_expired>(e) &&
           !std::holds_alternative<core::event::fault_requested>(e);
  });
  return events;
}
}  // namespace

void hub_executor::commit_or_restore(std::vector<completion>& completions) {
  auto changes = hub_.take_changes();
  bool committed = true;
  std::vector<core::hub_event> kept_events;
  if (!changes.empty()) {
    try {
      // Test control's storage faults (hub_faults.hpp): a slow disk, a full one.
      auto& faults = hub_.test_faults();
      if (faults.commit_delay > core::duration{0}) std::this_thread::sleep_for(faults.commit_delay);
      if (faults.failing_commits > 0) {
        --faults.failing_commits;
        throw std::runtime_error(
            "database or disk is full (injected by test control: failNextCommits)");
      }
      // Failures below SQLite (failNextWrites / failNextSyncs): the shim counts them down.
      const bool io_faults = faults.io.any();
      if (io_faults) store_->arm_io_faults(faults.io);
      struct take_back {
        core::hub_faults& faults;
        core::state_store& store;
        bool armed;
        ~take_back() {
          if (!armed) return;
          faults.io = store.pending_io_faults();
          store.arm_io_faults({});  // nothing outside a commit (a later checkpoint) meets them
        }
      } take_back_io{faults, *store_, io_faults};
      const auto started = std::chrono::steady_clock::now();
      store_->commit(changes);
      commit_stats_.committed(
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
          completions.size());
      commits_.fetch_add(1);
      note_commit_succeeded();
    } catch (const std::exception& e) {
      // Nothing of this round is durable: undo it in memory and tell every requester. The
      // store is the truth (a full disk, an I/O error); the process keeps serving.
      static auto& log = emu::log::get("storage");
      note_commit_failed(e);
      committed = false;
      commit_stats_.failed();
      try {
        // The round's events describe what was rolled back, except test control's orders to the
        // fronts: the state they follow (paused fronts, fault windows) is not in the store and
        // stays as set, so the fronts must still hear of it.
        kept_events = front_controls(hub_.take_events());
        hub_.round_failed(store_->load(), now());
      } catch (const std::exception& e2) {
        log.critical("cannot reload the state from storage: {}", e2.what());
        std::terminate();
      }
    }
  }
  if (committed) hub_.round_committed();
  retry_pending_ = !committed && hub_.has_changes();
  auto events = committed ? hub_.take_events() : std::move(kept_events);
  for (auto& c : completions) c(committed);
  for (const auto& e : events)
    for (const auto& l : listeners_) l(e);
}

void hub_executor::note_clock_steps() {
  // Steps of the wall clock are rare and matter (tokens, expiry): say each once. Rounded to the
  // second: the lag is measured in ms from two clock reads, a 2 h step reads 7,199,999 ms.
  static auto& log = emu::log::get("clock");
  constexpr core::duration notable{1000};
  const auto followed = clock_.followed();
  const auto lag = clock_.wall_lag();
  if (followed - seen_followed_ >= notable) {
    log.warn(
        "the wall clock stepped forward by {} s: hub time follows it, what became due "
        "meanwhile is applied, tokens expire by it",
        std::chrono::round<std::chrono::seconds>(followed - seen_followed_).count());
    ++clock_generation_;
    if (clock_jump_) clock_jump_();
  }
  if (lag - seen_lag_ >= notable) {
    log.warn(
        "the wall clock stepped back by {} s: hub time does not go back (it runs {} s "
        "ahead of the wall clock now; TTLs, locks and feedback batches are not delayed), "
        "tokens and certificates are judged by the wall clock",
        std::chrono::round<std::chrono::seconds>(lag - seen_lag_).count(),
        std::chrono::round<std::chrono::seconds>(lag).count());
  }
  seen_followed_ = followed;
  seen_lag_ = lag;
}

void hub_executor::note_commit_failed(const std::exception& e) {
  static auto& log = emu::log::get("storage");
  ++failed_rounds_;
  if (storage_failing_) {
    log.debug("commit failed again ({} rounds): {}", failed_rounds_, e.what());
    return;
  }
  // One message per episode: a full disk can fail thousands of rounds.
  storage_failing_ = true;
  failed_rounds_ = 1;
  failing_since_ = std::chrono::steady_clock::now();
  log.error(
      "commits are failing: {}. Refusing every change with the protocols' storage error "
      "(nothing of a failed round is kept or acknowledged), serving reads, trying again every "
      "{} ms (said once per episode)",
      e.what(), retry_interval.count());
}

void hub_executor::note_commit_succeeded() {
  if (!storage_failing_) return;
  static auto& log = emu::log::get("storage");
  const auto seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - failing_since_).count();
  log.warn("commits succeed again, after {} failed rounds in {:.1f} s", failed_rounds_, seconds);
  storage_failing_ = false;
  failed_rounds_ = 0;
}

}  // namespace emu::executor
