#pragma once
/// The SQLite implementation of `emu::core::state_store` (see state_store.hpp).
///
/// `commit()` applies a whole group of changes in one `BEGIN IMMEDIATE … COMMIT`: when it
/// returns, all of them are durable (with `sync_mode::full`); when it throws, the transaction
/// was rolled back and none of them is in the file. `load()` reads the full snapshot in one read
/// transaction. Storage does not interpret hub rules; it applies upserts and removals, plus the
/// cascades spelled out in state_store.hpp. Foreign keys (checked at COMMIT) make a group that
/// would leave a message or session without its device, or a record in a missing batch, fail
/// as a whole. A `put_message_state` for a message that is not stored fails the same way.
///
/// Every statement is prepared once, in the constructor.
///
/// On disk (schema.cpp): times are Unix milliseconds; unsigned 64-bit ids are stored as the
/// signed 64-bit integer with the same bits, so they round-trip exactly, but ordering (load) and
/// `remove_telemetry_up_to` assume ids below 2^63, which the hub's counters never reach.
///
/// Thread safety: none. Owned and called by one thread (the hub executor); the store owns its
/// connection and statements.
#include <memory>
#include <span>
#include <string>

#include "emulator/core/state_store.hpp"
#include "storage/database.hpp"
#include "storage/fault_vfs.hpp"

namespace emu::storage {

/// Whether the store's file runs on the fault shim (fault_vfs.hpp) so that test control can
/// make its writes and fsyncs fail. Off in production: the shim is one indirection per I/O.
enum class io_fault_injection { off, on };

class sqlite_store final : public core::state_store {
 public:
  /// Opens (or creates) the database file at `path`, or a throw-away database for
  /// `in_memory_path`, and brings its schema up to date. Throws `storage_error` (naming the
  /// file) for a file that is not ours, damaged, locked by another process or too new.
  explicit sqlite_store(const std::string& path, const database_options& options = {},
                        io_fault_injection faults = io_fault_injection::off);
  ~sqlite_store() override;
  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  /// The full state, ordered as `hub_snapshot` describes (devices and subscriptions by id).
  core::hub_snapshot load() override;
  /// All `changes` in one transaction, or none of them (throws `storage_error`). An empty
  /// span does nothing.
  void commit(std::span<const core::state_change> changes) override;
  /// With `io_fault_injection::on`: arms the shim; otherwise ignored.
  void arm_io_faults(const core::storage_io_faults& faults) override;
  core::storage_io_faults pending_io_faults() const override;

  /// Moves the WAL into the main file and truncates it (graceful shutdown). No-op in memory.
  void checkpoint();

  /// The underlying connection (diagnostics and tests).
  database& db() noexcept { return db_; }

 private:
  struct prepared;
  void rollback() noexcept;

  std::unique_ptr<fault_vfs> vfs_;  // first: unregistered after the connection using it closes
  database db_;  // before the statements: destroyed after the statements that use it
  std::unique_ptr<prepared> st_;
};

}  // namespace emu::storage
