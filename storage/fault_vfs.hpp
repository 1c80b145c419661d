#pragma once
/// An SQLite VFS shim that makes chosen writes and fsyncs of one database's write-ahead log
/// fail, so tests meet a failing disk through SQLite's own error paths (issue 20 item 2): the
/// commit that hits the fault gets SQLite's real `SQLITE_IOERR_WRITE` / `SQLITE_IOERR_FSYNC`,
/// SQLite rolls the transaction back as it would after EIO, and the hub must cope.
///
/// Only the WAL is touched: every commit writes and (with synchronous=FULL) fsyncs it, so "the
/// next fsync fails" means "the next commit fails", deterministically. The main file is
/// written by checkpoints, whose failures SQLite retries by itself and never reports to a
/// commit.
///
/// Each `fault_vfs` registers its own VFS (a unique name, wrapping the default VFS) and
/// unregisters it when destroyed; a database opened with `name()` must be closed first.
/// Thread safety: `arm()` and `remaining()` may be called from any thread; the counts are
/// atomic.
#include <memory>
#include <string>

#include "emulator/core/hub_faults.hpp"

namespace emu::storage {

class fault_vfs {
 public:
  fault_vfs();
  ~fault_vfs();
  fault_vfs(const fault_vfs&) = delete;
  fault_vfs& operator=(const fault_vfs&) = delete;

  /// The VFS name to open the database with (`sqlite3_open_v2`'s zVfs).
  const std::string& name() const noexcept;
  /// Replaces the counts of failures still to come (how many of the next WAL writes / fsyncs
  /// fail; 0: none).
  void arm(core::storage_io_faults counts) noexcept;
  /// The failures still to come.
  core::storage_io_faults remaining() const noexcept;

  struct state;  // shared with the VFS callbacks (fault_vfs.cpp)

 private:
  std::unique_ptr<state> state_;
};

}  // namespace emu::storage
