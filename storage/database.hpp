#pragma once
/// An open SQLite database that belongs to iothub-emulator: RAII connection, pragmas, identity
/// check and the schema-version ladder.
///
/// Opening a file checks that it is ours before changing anything in it: a file that is not a
/// SQLite database, a SQLite database of another application (a foreign `application_id`, or
/// tables without our id) and a schema newer than this build are refused with a
/// `storage_error` that names the file. Then the missing schema steps are applied in ONE
/// transaction (all of them or none).
///
/// Thread safety: none. A `database` is owned and used by one thread (the hub executor); the
/// connection is opened without SQLite's own mutex (it may be handed over to another thread, as
/// long as only one thread uses it at a time).
#include <chrono>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;

namespace emu::storage {

/// Every failure of the storage layer. `what()` names the database file and carries SQLite's
/// message; it never contains bound values (keys and payloads stay out of logs).
class storage_error : public std::runtime_error {
 public:
  explicit storage_error(const std::string& message, int sqlite_code = 0)
      : std::runtime_error(message), sqlite_code_(sqlite_code) {}
  /// The extended SQLite result code, or 0 when the error is ours (e.g. a newer schema).
  int sqlite_code() const noexcept { return sqlite_code_; }

 private:
  int sqlite_code_;
};

/// `PRAGMA application_id` of every iothub-emulator database: "IOTH" in ASCII.
inline constexpr std::int32_t application_id = 0x494F5448;

/// The path that opens a private in-memory database (nothing is written to disk).
inline constexpr std::string_view in_memory_path = ":memory:";

/// `PRAGMA synchronous` for file databases (WAL mode).
enum class sync_mode {
  /// Every commit fsyncs the WAL before it returns: a committed transaction survives both a
  /// process crash and a power loss / kernel crash. The default, because the hub acknowledges
  /// on the wire only what has been committed.
  full,
  /// The WAL is fsynced only at checkpoints. A committed transaction still survives a crash of
  /// the emulator process (the data is in the OS page cache), and the database never becomes
  /// corrupt, but a power loss or kernel crash can roll back the last commits, i.e. lose
  /// messages that were already acknowledged. Much faster on slow disks; fine for dev loops.
  normal,
};

struct database_options {
  sync_mode synchronous = sync_mode::full;
  /// How long a statement waits for a lock held by another connection before failing.
  std::chrono::milliseconds busy_timeout{5000};
  /// `PRAGMA locking_mode=EXCLUSIVE` for files: the first connection keeps the file locked
  /// until it closes, so a second emulator on the same data directory is refused at start
  /// instead of silently sharing (and diverging from) the state. It also lets WAL work without
  /// the shared-memory `-shm` file. The cost: other processes (e.g. the sqlite3 shell) cannot
  /// read the file while the emulator runs.
  bool exclusive_lock = true;
  /// Runs `PRAGMA quick_check` on open (O(size of the file)) and refuses a damaged file.
  bool quick_check = false;
  /// The SQLite VFS to open the file with; empty: the default (fault_vfs.hpp for tests).
  std::string vfs;
};

/// One step of the schema ladder: the SQL that turns schema `version - 1` into `version`.
/// Version 1 creates the initial schema from an empty database.
struct migration {
  int version;
  const char* sql;
};

class database {
 public:
  /// Opens (creating if needed) `path`, or a private in-memory database for `in_memory_path`,
  /// checks that it is an iothub-emulator database and climbs `ladder` (which must be numbered
  /// 1, 2, 3, … without gaps) in one transaction. Throws `storage_error` naming the file.
  database(std::string path, std::span<const migration> ladder,
           const database_options& options = {});
  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  /// The raw connection, owned by this object (for `statement`s; valid until destruction).
  sqlite3* handle() const noexcept { return db_; }
  const std::string& path() const noexcept { return path_; }
  bool in_memory() const noexcept { return path_ == in_memory_path; }
  /// The schema version after opening: the last step of the ladder.
  int schema_version() const noexcept { return schema_version_; }

  /// Runs one or more SQL statements without results (no bound values). Throws on error.
  void exec(const std::string& sql);
  /// Runs `PRAGMA name` (or any statement) and returns the first column of the first row.
  std::int64_t query_integer(const std::string& sql);
  std::string query_text(const std::string& sql);

  /// `PRAGMA wal_checkpoint(TRUNCATE)`: moves the WAL into the main file and truncates the
  /// WAL to zero bytes (graceful shutdown, backups). No-op for in-memory databases.
  void checkpoint();

  /// Throws a `storage_error` "<file>: <what>: <sqlite message>" for result code `rc`.
  [[noreturn]] void fail(std::string_view what, int rc) const;

 private:
  void check_identity();
  void check_file_header() const;
  void apply_pragmas(const database_options& options);
  void migrate(std::span<const migration> ladder);

  std::string path_;
  sqlite3* db_ = nullptr;
  int schema_version_ = 0;
};

/// The name a message uses for `db`'s file: its path, or ":memory:".
std::string describe_file(sqlite3* db);

}  // namespace emu::storage
