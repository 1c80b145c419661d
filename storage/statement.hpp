#pragma once
/// A prepared SQLite statement: prepared once, reused many times.
///
/// Index conventions follow SQLite: bind parameters are numbered from 1 (`?1` is index 1),
/// result columns from 0. Every use resets the statement and clears its bindings when it ends
/// (also when it throws), so a statement is always ready for the next use.
///
/// Errors throw `storage_error` with `sqlite3_errmsg`, the file and the start of the SQL text;
/// bound values never appear in messages.
///
/// Thread safety: none; used by the thread that owns the connection. The statement does not
/// own the connection, which must outlive it.
#include <concepts>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "storage/database.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace emu::storage {

/// Marks bytes to be bound as a BLOB (a plain string binds as TEXT).
struct blob {
  std::string_view bytes;
};

class statement {
 public:
  /// Prepares `sql` (one statement) on `db` as a long-lived statement. Throws on a syntax error.
  statement(sqlite3* db, std::string_view sql);
  ~statement();
  statement(statement&& other) noexcept;
  statement& operator=(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  /// Resets the statement (and clears its bindings) when it goes out of scope.
  class scope {
   public:
    explicit scope(statement& s) : s_(&s) {}
    ~scope() { s_->reset(); }
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    statement* s_;
  };

  // ---- binding (leftmost parameter is index 1) ------------------------------------------
  /// Integers of any width. Unsigned 64-bit values are stored as the int64 with the same bits,
  /// so they round-trip exactly through `column_uint64`.
  template <std::integral T>
  void bind(int index, T value) {
    bind_int64(index, static_cast<std::int64_t>(value));
  }
  /// TEXT. An empty string binds as '' (not NULL).
  void bind(int index, std::string_view text);
  void bind(int index, const std::string& text) { bind(index, std::string_view{text}); }
  void bind(int index, const char* text) { bind(index, std::string_view{text}); }
  /// BLOB. Empty bytes bind as X'' (not NULL).
  void bind(int index, blob bytes);
  void bind(int index, std::nullopt_t) { bind_null(index); }
  template <class T>
  void bind(int index, const std::optional<T>& value) {
    if (value) {
      bind(index, *value);
    } else {
      bind_null(index);
    }
  }
  void bind_null(int index);

  /// Binds the arguments to ?1, ?2, … in order.
  template <class... Args>
  void bind_all(const Args&... args) {
    int index = 0;
    (bind(++index, args), ...);
  }

  // ---- running ---------------------------------------------------------------------------
  /// Binds `args` and runs the statement to completion, then resets it. Returns the number of
  /// rows it inserted, updated or deleted.
  template <class... Args>
  int run(const Args&... args) {
    scope s(*this);
    bind_all(args...);
    while (step()) {
    }
    return changes();
  }
  /// Binds `args` for a query; step() through the rows while the returned scope lives.
  template <class... Args>
  [[nodiscard]] scope query(const Args&... args) {
    reset();
    bind_all(args...);
    return scope(*this);
  }
  /// Advances: true when a row is available, false when the statement is done. Throws on error.
  bool step();
  /// `sqlite3_reset` + `sqlite3_clear_bindings`. Never throws (an error of the last step has
  /// already been reported by step()).
  void reset() noexcept;

  // ---- columns of the current row (leftmost column is index 0) --------------------------
  bool is_null(int column) const;
  std::int64_t column_int64(int column) const;
  std::uint64_t column_uint64(int column) const {
    return static_cast<std::uint64_t>(column_int64(column));
  }
  /// Throws when the stored value does not fit an int (a damaged file).
  int column_int(int column) const;
  std::string column_text(int column) const;
  /// The bytes of a BLOB (or TEXT) column; the core keeps byte strings in std::string.
  std::string column_blob(int column) const;

  /// Rows changed by the last completed INSERT/UPDATE/DELETE on this connection.
  int changes() const;
  /// The SQL text as prepared.
  std::string_view sql() const;

 private:
  void bind_int64(int index, std::int64_t value);
  [[noreturn]] void fail(std::string_view what, int rc) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace emu::storage
