#include "storage/database.hpp"

#include <fstream>
#include <string_view>

#include <sqlite3.h>

#include <cstdio>
#include <utility>

#include "storage/statement.hpp"

namespace emu::storage {

namespace {

std::string hex32(std::int64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", static_cast<unsigned>(static_cast<std::uint32_t>(v)));
  return buf;
}

bool is_primary(int rc, int primary) {
  return (rc & 0xff) == primary;
}

void check_ladder(std::span<const migration> ladder) {
  if (ladder.empty()) throw storage_error("schema ladder is empty");
  for (std::size_t i = 0; i < ladder.size(); ++i) {
    if (ladder[i].version != static_cast<int>(i) + 1 || ladder[i].sql == nullptr) {
      throw storage_error("schema ladder step " + std::to_string(i) + " must have version " +
                          std::to_string(i + 1) + " and SQL");
    }
  }
}

}  // namespace

std::string describe_file(sqlite3* db) {
  const char* name = db == nullptr ? nullptr : sqlite3_db_filename(db, "main");
  return name == nullptr || *name == '\0' ? std::string(in_memory_path) : std::string(name);
}

void database::check_file_header() const {
  // SQLite treats a file shorter than its 100-byte header as an empty database and would
  // write a new one over it: a 1-byte or truncated file must be refused, not replaced. An
  // empty (0-byte) file is a new database.
  std::ifstream in(path_, std::ios::binary);
  if (!in) return;  // does not exist yet (or unreadable: sqlite3_open_v2 reports that)
  static constexpr std::string_view magic{"SQLite format 3\0", 16};
  char header[16] = {};
  in.read(header, sizeof header);
  const auto got = static_cast<std::size_t>(in.gcount());
  if (got == 0) return;
  if (got < magic.size() || std::string_view(header, magic.size()) != magic)
    throw storage_error(path_ +
                        " is not an SQLite database (no SQLite header); refusing to use "
                        "it as the iothub-emulator database");
}

database::database(std::string path, std::span<const migration> ladder,
                   const database_options& options)
    : path_(std::move(path)) {
  check_ladder(ladder);
  if (!in_memory()) check_file_header();
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
#ifdef SQLITE_OPEN_EXRESCODE
  flags |= SQLITE_OPEN_EXRESCODE;
#endif
  if (in_memory()) flags |= SQLITE_OPEN_MEMORY;
  const int rc = sqlite3_open_v2(path_.c_str(), &db_, flags,
                                 options.vfs.empty() ? nullptr : options.vfs.c_str());
  if (rc != SQLITE_OK) {
    std::string message = db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw storage_error(path_ + ": cannot open database: " + message, rc);
  }
  try {
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, static_cast<int>(options.busy_timeout.count()));
    // Before the first access, so that WAL runs without the shared-memory file and the lock
    // taken below is kept until close.
    if (!in_memory() && options.exclusive_lock) exec("PRAGMA locking_mode=EXCLUSIVE");
    check_identity();  // reads only: a foreign file is left exactly as it was
    apply_pragmas(options);
    migrate(ladder);
  } catch (...) {
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw;
  }
}

database::~database() {
  // close_v2: never fails for busy statements; the connection goes when the last one does.
  sqlite3_close_v2(db_);
}

void database::check_identity() {
  std::int64_t app_id = 0;
  try {
    app_id = query_integer("PRAGMA application_id");
  } catch (const storage_error& e) {
    if (is_primary(e.sqlite_code(), SQLITE_NOTADB)) {
      throw storage_error(path_ +
                              " is not an SQLite database (SQLite says: " + sqlite3_errmsg(db_) +
                              "); refusing to use it as the iothub-emulator database",
                          e.sqlite_code());
    }
    if (is_primary(e.sqlite_code(), SQLITE_BUSY)) {
      throw storage_error(path_ +
                              " is locked by another process; is another iothub-emulator "
                              "using the same data directory?",
                          e.sqlite_code());
    }
    throw;
  }
  if (app_id != 0 && app_id != application_id) {
    throw storage_error(path_ + " belongs to another application (its application_id is " +
                        hex32(app_id) + ", iothub-emulator's is " + hex32(application_id) +
                        "); refusing to use it");
  }
  const std::int64_t version = query_integer("PRAGMA user_version");
  if (app_id == 0) {
    const std::int64_t objects = query_integer("SELECT count(*) FROM sqlite_master");
    if (objects != 0 || version != 0) {
      throw storage_error(path_ +
                          " is an SQLite database of another application (it has content but "
                          "no iothub-emulator application_id); refusing to use it");
    }
  }
}

void database::apply_pragmas(const database_options& options) {
  if (!in_memory()) {
    // WAL: readers never block the writer, commits append to one file (group commit friendly).
    const std::string mode = query_text("PRAGMA journal_mode=WAL");
    if (mode != "wal") {
      throw storage_error(path_ + ": cannot switch to WAL journal mode (got \"" + mode + "\")");
    }
    exec(options.synchronous == sync_mode::full ? "PRAGMA synchronous=FULL"
                                                : "PRAGMA synchronous=NORMAL");
  }
  exec("PRAGMA foreign_keys=ON");  // outside any transaction, or it is a no-op
  if (!in_memory() && options.exclusive_lock) {
    try {
      exec("BEGIN EXCLUSIVE; COMMIT");  // take the file lock now and keep it (locking_mode)
    } catch (const storage_error& e) {
      if (!is_primary(e.sqlite_code(), SQLITE_BUSY)) throw;
      throw storage_error(path_ +
                              " is locked by another process; is another iothub-emulator "
                              "using the same data directory?",
                          e.sqlite_code());
    }
  }
  if (options.quick_check) {
    const std::string verdict = query_text("PRAGMA quick_check");
    if (verdict != "ok") {
      throw storage_error(path_ + " is damaged (quick_check: " + verdict + ")", SQLITE_CORRUPT);
    }
  }
}

void database::migrate(std::span<const migration> ladder) {
  const int latest = ladder.back().version;
  // All steps in ONE transaction: the file is at the old version or the new one, never between.
  exec("BEGIN IMMEDIATE");
  try {
    const std::int64_t current = query_integer("PRAGMA user_version");
    if (current > latest) {
      throw storage_error(path_ + ": database schema version " + std::to_string(current) +
                          " is newer than this iothub-emulator supports (" +
                          std::to_string(latest) + "); upgrade the emulator");
    }
    if (current < 0) {
      throw storage_error(path_ + ": invalid database schema version " + std::to_string(current));
    }
    if (current < latest) {
      for (const migration& step : ladder) {
        if (step.version <= current) continue;
        try {
          exec(step.sql);
        } catch (const storage_error& e) {
          throw storage_error(path_ + ": schema migration to version " +
                                  std::to_string(step.version) + " failed: " + e.what(),
                              e.sqlite_code());
        }
      }
      exec("PRAGMA user_version=" + std::to_string(latest));
      exec("PRAGMA application_id=" + std::to_string(application_id));
    }
    exec("COMMIT");
  } catch (...) {
    if (sqlite3_get_autocommit(db_) == 0) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  schema_version_ = latest;
}

void database::exec(const std::string& sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    throw storage_error(path_ + ": `" + sql.substr(0, 60) + "` failed: " + text, rc);
  }
}

std::int64_t database::query_integer(const std::string& sql) {
  statement s(db_, sql);
  auto scope = s.query();
  if (!s.step()) throw storage_error(path_ + ": `" + sql + "` returned no row");
  return s.column_int64(0);
}

std::string database::query_text(const std::string& sql) {
  statement s(db_, sql);
  auto scope = s.query();
  if (!s.step()) throw storage_error(path_ + ": `" + sql + "` returned no row");
  return s.column_text(0);
}

void database::checkpoint() {
  if (in_memory()) return;
  statement s(db_, "PRAGMA wal_checkpoint(TRUNCATE)");
  auto scope = s.query();
  if (s.step() && s.column_int64(0) != 0) {
    throw storage_error(path_ + ": WAL checkpoint could not complete (database busy)", SQLITE_BUSY);
  }
}

void database::fail(std::string_view what, int rc) const {
  throw storage_error(path_ + ": " + std::string(what) + ": " + sqlite3_errmsg(db_), rc);
}

}  // namespace emu::storage
