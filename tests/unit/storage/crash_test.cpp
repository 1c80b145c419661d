// Crash test: a child process commits a stream of numbered transactions and reports each one
// on a pipe right after commit() returns; the parent SIGKILLs it at a random moment, reopens
// the file and checks that every reported transaction is there, at most one more (the one in
// flight), and none half-applied.
#include <doctest/doctest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/sqlite_store.hpp"
#include "storage_test_support.hpp"

namespace core = emu::core;
namespace change = emu::core::change;
using storage_test::at;
using storage_test::diff;
using storage_test::model;

namespace {

constexpr std::uint64_t max_transactions = 100000;

/// Transaction `i` of the stream: several rows in several tables, so that a half-applied
/// transaction shows. Its counters record `i` itself (next_message_seq = i + 1).
std::vector<core::state_change> transaction(std::uint64_t i) {
  std::vector<core::state_change> cs;
  if (i == 1) cs.push_back(change::put_device{storage_test::make_device("crash-dev")});
  core::c2d_message m = storage_test::make_message(i, "crash-dev");
  m.content.body = std::string(200 + i % 300, static_cast<char>('a' + i % 26));
  cs.push_back(change::put_message{m});
  if (i > 1) {
    cs.push_back(change::put_message_state{i - 1, core::c2d_state::invisible, 1, i,
                                           at(static_cast<std::int64_t>(i) * 1000)});
  }
  if (i > 3) cs.push_back(change::remove_message{i - 3});
  cs.push_back(change::put_feedback_record{storage_test::make_record(i, "crash-dev")});
  if (i % 5 == 0) {
    const std::uint64_t batch = i / 5;
    core::feedback_batch b = storage_test::make_batch(batch);
    for (std::uint64_t r = i - 4; r <= i; ++r)
      b.records.push_back(storage_test::make_record(r, "crash-dev", batch));
    cs.push_back(change::cut_feedback_batch{std::move(b)});
    if (batch > 2) cs.push_back(change::remove_feedback_batch{batch - 2});
  }
  cs.push_back(storage_test::put_event(i, "crash-dev"));
  if (i > 4)
    cs.push_back(
        change::remove_telemetry_up_to{static_cast<int>(i % 3), static_cast<std::int64_t>(i) - 4});
  core::hub_counters n;
  n.next_message_seq = i + 1;
  n.next_feedback_id = i + 1;
  n.next_telemetry_id = i + 1;
  n.next_batch_id = i / 5 + 1;
  n.last_batch_time = at(static_cast<std::int64_t>(i));
  cs.push_back(change::put_counters{n});
  return cs;
}

/// The child: commits transactions 1, 2, … and writes each number to `fd` once committed.
[[noreturn]] void writer(const std::string& path, int fd) {
  try {
    emu::storage::sqlite_store store(path);
    for (std::uint64_t i = 1; i <= max_transactions; ++i) {
      store.commit(transaction(i));
      if (::write(fd, &i, sizeof i) != static_cast<ssize_t>(sizeof i)) ::_exit(3);
    }
    ::_exit(0);
  } catch (...) {
    ::_exit(2);
  }
}

/// Reads one number; false at end of file.
bool read_number(int fd, std::uint64_t& out) {
  std::size_t got = 0;
  auto* p = reinterpret_cast<char*>(&out);
  while (got < sizeof out) {
    const ssize_t n = ::read(fd, p + got, sizeof out - got);
    if (n == 0) return false;
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    got += static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

TEST_CASE("SIGKILL during a stream of commits loses nothing reported and half-applies nothing") {
  std::random_device rd;
  const unsigned seed = rd();
  CAPTURE(seed);
  std::mt19937 rng(seed);
  const auto started = std::chrono::steady_clock::now();

  // The expected state after each transaction, built once by the reference model.
  std::vector<core::hub_snapshot> expected_after{core::hub_snapshot{}};
  model m;
  int in_flight_present = 0;  // runs where the unreported transaction had committed
  std::uint64_t total = 0;

  for (int run = 0; run < 6; ++run) {
    CAPTURE(run);
    storage_test::temp_dir dir;
    const std::string path = dir.file("crash.db");
    int fds[2];
    REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      writer(path, fds[1]);
    }
    ::close(fds[1]);

    // Let it commit a random number of transactions, then kill it at a random moment.
    const std::uint64_t kill_after = std::uniform_int_distribution<std::uint64_t>(3, 120)(rng);
    std::uint64_t reported = 0, n = 0;
    while (reported < kill_after && read_number(fds[0], n)) {
      CHECK(n == reported + 1);
      reported = n;
    }
    std::this_thread::sleep_for(
        std::chrono::microseconds(std::uniform_int_distribution<int>(0, 3000)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    CHECK(WIFSIGNALED(status));
    // Numbers written before the kill were committed too.
    while (read_number(fds[0], n)) {
      CHECK(n == reported + 1);
      reported = n;
    }
    ::close(fds[0]);
    REQUIRE(reported >= 3);

    emu::storage::sqlite_store store(path);
    const core::hub_snapshot loaded = store.load();
    const std::uint64_t present = loaded.counters.next_message_seq - 1;
    CAPTURE(reported);
    CAPTURE(present);
    CHECK(present >= reported);
    CHECK(present <= reported + 1);
    if (present == reported + 1) ++in_flight_present;
    total += present;
    // Everything matches the state after exactly `present` whole transactions.
    while (expected_after.size() <= present) {
      m.apply(transaction(expected_after.size()));
      expected_after.push_back(m.snapshot());
    }
    CHECK(diff(loaded, expected_after[present]) == "");
  }
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started);
  MESSAGE("crash test: 6 kills after " << total << " commits in all, in " << took.count()
                                       << " ms; the in-flight transaction was present in "
                                       << in_flight_present << " runs");
}
