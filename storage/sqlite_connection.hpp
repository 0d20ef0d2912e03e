// Internal: a thin, value-returning layer over the SQLite C API.
#pragma once
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "flow/storage/result.hpp"

namespace flow::storage::sql {

// One use of a cached prepared statement. Binding never fails loudly: the first bind error is
// kept and returned by next()/run(). The statement is reset when the Query goes away, so a
// finished read never pins a WAL snapshot.
class Query {
 public:
  Query(sqlite3* db, sqlite3_stmt* stmt, int prepare_rc);
  ~Query();
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;
  Query(Query&& other) noexcept;
  Query& operator=(Query&&) = delete;

  Query& bind(int index, std::int64_t value);
  Query& bind(int index, std::string_view value);
  Query& bind_null(int index);

  // true: a row is available; false: done.
  Result<bool> next();
  // Steps to completion, ignoring rows.
  Result<void> run();

  bool is_null(int column) const;
  std::int64_t int64(int column) const;
  std::string text(int column) const;

 private:
  LedgerError error(int rc) const;

  sqlite3* db_;
  sqlite3_stmt* stmt_;
  int rc_;  // first prepare/bind error, SQLITE_OK otherwise
};

class Connection {
 public:
  // Throws LedgerOpenError.
  Connection(const std::string& path, int flags);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Prepared once per distinct SQL text, then reused for the life of the connection.
  Query query(std::string_view sql);
  // For statements without parameters or rows: BEGIN, COMMIT, PRAGMA assignments.
  Result<void> exec(const char* sql);
  // exec() for start-up: throws LedgerOpenError with `what` in the message.
  void exec_or_throw(const char* sql, std::string_view what);

  // How long a statement waits for another connection's lock before SQLITE_BUSY.
  void set_busy_timeout(std::chrono::milliseconds timeout);

  sqlite3* raw() const { return db_; }
  bool in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }
  std::int64_t changes() const { return sqlite3_changes64(db_); }
  std::int64_t last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

 private:
  static int on_busy(void* self, int attempts);

  // Looked up by string_view: no allocation per query.
  struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };

  sqlite3* db_ = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*, SqlHash, std::equal_to<>> cache_;
  std::chrono::milliseconds busy_timeout_{0};
  std::chrono::steady_clock::time_point busy_since_;
};

// "SQLITE_BUSY (database is locked): <what>"
LedgerError sqlite_error(sqlite3* db, int rc, std::string_view what);

// One transaction, or a savepoint when a transaction is already open (group commit).
// Rolls back unless commit() succeeded.
class Scope {
 public:
  enum class Kind { read, write };
  static Result<Scope> begin(Connection& db, Kind kind);
  Scope(Scope&& other) noexcept;
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;
  Scope& operator=(Scope&&) = delete;
  ~Scope();

  Result<void> commit();

 private:
  Scope(Connection& db, bool nested) : db_(&db), nested_(nested) {}
  Connection* db_;
  bool nested_;
  bool open_ = true;
};

}  // namespace flow::storage::sql
