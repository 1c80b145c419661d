#pragma once
/// Faults of the hub as a whole that test control sets (issue 17 item 2, `PATCH /admin/chaos`),
/// so an application's retry logic meets them on demand: slow or failing commits (a slow or
/// full disk), refused put-tokens, paused fronts. The hub keeps the numbers; the executor
/// (commits), the CBS node (put-tokens) and the fronts (pause) act on them.
///
/// Not durable, not part of any snapshot: a restart or `POST /admin/reset` clears them.
#include <set>
#include <string>

#include "emulator/core/time.hpp"

namespace emu::core {

/// Failures of the disk under the store (issue 20 item 2), injected below SQLite (a VFS shim,
/// storage/fault_vfs.hpp), so the commit meets SQLite's own error: the next writes / fsyncs of
/// the write-ahead log fail with EIO. Every commit writes and fsyncs the log, so each counts
/// down by one failed commit.
struct storage_io_faults {
  int failing_writes = 0;
  int failing_syncs = 0;
  bool any() const { return failing_writes > 0 || failing_syncs > 0; }
  friend bool operator==(const storage_io_faults&, const storage_io_faults&) = default;
};

struct hub_faults {
  /// Every commit with changes waits this long first (a slow disk). 0: none.
  duration commit_delay{};
  /// The next commits with changes fail as SQLITE_FULL would: the round is rolled back and
  /// every request in it is answered with the protocol's storage error.
  int failing_commits = 0;
  /// The next WAL writes / fsyncs fail (with `--test-control` only: the store runs on the
  /// fault shim then).
  storage_io_faults io;
  /// The next CBS put-tokens are answered 401 whatever the token.
  int rejected_put_tokens = 0;
  /// Fronts ("mqtt", "amqp") whose connections accept TCP but neither read nor write.
  std::set<std::string> paused_fronts;
};

}  // namespace emu::core
