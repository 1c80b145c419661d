#include "storage/statement.hpp"

#include <sqlite3.h>

#include <limits>

namespace emu::storage {

namespace {

// A non-null pointer for empty values: SQLite binds a null pointer as NULL, not as '' / X''.
constexpr char empty_value[] = "";

int checked_size(std::string_view s) {
  if (s.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    throw storage_error("value of " + std::to_string(s.size()) + " bytes is too large for SQLite",
                        SQLITE_TOOBIG);
  }
  return static_cast<int>(s.size());
}

}  // namespace

statement::statement(sqlite3* db, std::string_view sql) : db_(db) {
  const char* tail = nullptr;
  const int rc = sqlite3_prepare_v3(db, sql.data(), checked_size(sql), SQLITE_PREPARE_PERSISTENT,
                                    &stmt_, &tail);
  if (rc != SQLITE_OK) {
    throw storage_error(describe_file(db) + ": cannot prepare `" + std::string(sql.substr(0, 60)) +
                            "`: " + sqlite3_errmsg(db),
                        rc);
  }
  if (stmt_ == nullptr) {
    throw storage_error(describe_file(db) + ": empty SQL statement");
  }
}

statement::~statement() {
  sqlite3_finalize(stmt_);
}

statement::statement(statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

statement& statement::operator=(statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

void statement::bind(int index, std::string_view text) {
  const char* data = text.empty() ? empty_value : text.data();
  if (const int rc = sqlite3_bind_text(stmt_, index, data, checked_size(text), SQLITE_TRANSIENT);
      rc != SQLITE_OK) {
    fail("cannot bind parameter " + std::to_string(index), rc);
  }
}

void statement::bind(int index, blob bytes) {
  const char* data = bytes.bytes.empty() ? empty_value : bytes.bytes.data();
  if (const int rc =
          sqlite3_bind_blob(stmt_, index, data, checked_size(bytes.bytes), SQLITE_TRANSIENT);
      rc != SQLITE_OK) {
    fail("cannot bind parameter " + std::to_string(index), rc);
  }
}

void statement::bind_null(int index) {
  if (const int rc = sqlite3_bind_null(stmt_, index); rc != SQLITE_OK) {
    fail("cannot bind parameter " + std::to_string(index), rc);
  }
}

void statement::bind_int64(int index, std::int64_t value) {
  if (const int rc = sqlite3_bind_int64(stmt_, index, value); rc != SQLITE_OK) {
    fail("cannot bind parameter " + std::to_string(index), rc);
  }
}

bool statement::step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  fail("cannot run", rc);
}

void statement::reset() noexcept {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool statement::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t statement::column_int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

int statement::column_int(int column) const {
  const std::int64_t v = sqlite3_column_int64(stmt_, column);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    throw storage_error(describe_file(db_) + ": value " + std::to_string(v) + " in column " +
                            std::to_string(column) + " of `" + std::string(sql().substr(0, 60)) +
                            "` is out of range; the database is damaged",
                        SQLITE_CORRUPT);
  }
  return static_cast<int>(v);
}

std::string statement::column_text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);  // before column_bytes (SQLite's rule)
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n <= 0) return {};
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

std::string statement::column_blob(int column) const {
  const void* p = sqlite3_column_blob(stmt_, column);  // NULL for a zero-length blob
  const int n = sqlite3_column_bytes(stmt_, column);
  if (p == nullptr || n <= 0) return {};
  return std::string(static_cast<const char*>(p), static_cast<std::size_t>(n));
}

int statement::changes() const {
  return sqlite3_changes(db_);
}

std::string_view statement::sql() const {
  const char* s = sqlite3_sql(stmt_);
  return s == nullptr ? std::string_view{} : std::string_view{s};
}

void statement::fail(std::string_view what, int rc) const {
  // sqlite3_errmsg describes the most recent failing call on this connection: this one.
  std::string sql_start(sql().substr(0, 60));
  throw storage_error(describe_file(db_) + ": " + std::string(what) + " `" + sql_start +
                          "`: " + sqlite3_errmsg(db_),
                      rc);
}

}  // namespace emu::storage
