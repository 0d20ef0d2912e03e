#include "sqlite_connection.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <limits>
#include <random>
#include <thread>

#include "flow/storage/ledger.hpp"

namespace flow::storage::sql {

LedgerError sqlite_error(sqlite3* db, int rc, std::string_view what) {
  std::string detail = sqlite3_errstr(rc);
  if (db != nullptr && sqlite3_errcode(db) == rc) {
    const char* msg = sqlite3_errmsg(db);
    if (msg != nullptr && detail != msg) detail += std::string(" (") + msg + ")";
  }
  detail += ": ";
  detail += what;
  return ledger_error(LedgerErrorCode::storage_failed, std::move(detail));
}

Query::Query(sqlite3* db, sqlite3_stmt* stmt, int prepare_rc)
    : db_(db), stmt_(stmt), rc_(prepare_rc) {}

Query::Query(Query&& other) noexcept : db_(other.db_), stmt_(other.stmt_), rc_(other.rc_) {
  other.stmt_ = nullptr;
}

Query::~Query() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

Query& Query::bind(int index, std::int64_t value) {
  if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Query& Query::bind(int index, std::string_view value) {
  // SQLITE_TRANSIENT: SQLite copies, so a temporary argument is safe. A null pointer would bind
  // NULL: an empty view (even a default-constructed one) is the empty text.
  if (rc_ == SQLITE_OK) {
    const char* text = value.data() != nullptr ? value.data() : "";
    rc_ = sqlite3_bind_text64(stmt_, index, text, value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  }
  return *this;
}

Query& Query::bind_null(int index) {
  if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_null(stmt_, index);
  return *this;
}

LedgerError Query::error(int rc) const {
  const char* sql = stmt_ != nullptr ? sqlite3_sql(stmt_) : nullptr;
  return sqlite_error(db_, rc, sql != nullptr ? sql : "prepare");
}

Result<bool> Query::next() {
  if (rc_ != SQLITE_OK) return error(rc_);
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  rc_ = rc;
  return error(rc);
}

Result<void> Query::run() {
  for (;;) {
    auto row = next();
    if (!row.ok()) return row.error();
    if (!row.value()) return {};
  }
}

bool Query::is_null(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Query::int64(int column) const {
  return sqlite3_column_int64(stmt_, column);
}

std::string Query::text(int column) const {
  const auto* p = sqlite3_column_text(stmt_, column);
  if (p == nullptr) return {};
  const int n = sqlite3_column_bytes(stmt_, column);
  return std::string(reinterpret_cast<const char*>(p), static_cast<std::size_t>(n));
}

namespace {

// The ledger holds payment history: a new file is created owner-only (0600) before SQLite opens
// it, and SQLite gives its -wal and -shm files the same mode as the database.
void create_owner_only(const std::string& path, int flags) {
  if ((flags & SQLITE_OPEN_CREATE) == 0 || path.empty() || path == ":memory:" ||
      path.rfind("file:", 0) == 0) {
    return;
  }
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) ::close(fd);  // EEXIST: an existing ledger keeps its mode
}

}  // namespace

Connection::Connection(const std::string& path, int flags) {
  create_owner_only(path, flags);
  const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = "cannot open ledger " + path + ": " +
                          (db_ != nullptr ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
    sqlite3_close_v2(db_);
    db_ = nullptr;
    throw LedgerOpenError(message);
  }
  sqlite3_extended_result_codes(db_, 1);
}

Connection::~Connection() {
  for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
  sqlite3_close_v2(db_);
}

void Connection::set_busy_timeout(std::chrono::milliseconds timeout) {
  busy_timeout_ = timeout;
  sqlite3_busy_handler(db_, &Connection::on_busy, this);
}

// SQLite's default handler backs off to 100 ms sleeps, which starves a crowd of writers (200
// contending connections took ~10 s to get through); short randomized sleeps keep the lock
// moving and spread the retries.
int Connection::on_busy(void* self, int attempts) {
  auto* c = static_cast<Connection*>(self);
  const auto now = std::chrono::steady_clock::now();
  if (attempts == 0) c->busy_since_ = now;
  if (now - c->busy_since_ >= c->busy_timeout_) return 0;
  thread_local std::minstd_rand jitter(std::random_device{}());
  std::this_thread::sleep_for(std::chrono::microseconds(50 + jitter() % 950));
  return 1;
}

Query Connection::query(std::string_view sql) {
  auto it = cache_.find(sql);
  if (it != cache_.end()) return Query(db_, it->second, SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  if (sql.size() > static_cast<std::size_t>(std::numeric_limits<int>::max())) {
    return Query(db_, nullptr, SQLITE_TOOBIG);
  }
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_finalize(stmt);
    return Query(db_, nullptr, rc);
  }
  cache_.emplace(std::string(sql), stmt);
  return Query(db_, stmt, SQLITE_OK);
}

Result<void> Connection::exec(const char* sql) {
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return sqlite_error(db_, rc, sql);
  return {};
}

void Connection::exec_or_throw(const char* sql, std::string_view what) {
  auto done = exec(sql);
  if (!done.ok()) throw LedgerOpenError(std::string(what) + ": " + done.error().detail);
}

Result<Scope> Scope::begin(Connection& db, Kind kind) {
  const bool nested = db.in_transaction();
  const char* sql = nested                ? "SAVEPOINT ledger_op"
                    : kind == Kind::write ? "BEGIN IMMEDIATE"
                                          : "BEGIN";
  auto begun = db.query(sql).run();
  if (!begun.ok()) return begun.error();
  return Scope(db, nested);
}

Scope::Scope(Scope&& other) noexcept : db_(other.db_), nested_(other.nested_), open_(other.open_) {
  other.open_ = false;
}

Scope::~Scope() {
  if (!open_) return;
  // SQLite may already have rolled the whole transaction back (I/O error, full disk); then
  // there is nothing left to undo and these statements fail harmlessly.
  if (nested_) {
    if (db_->in_transaction()) {
      (void)db_->query("ROLLBACK TO ledger_op").run();
      (void)db_->query("RELEASE ledger_op").run();
    }
  } else if (db_->in_transaction()) {
    (void)db_->query("ROLLBACK").run();
  }
}

Result<void> Scope::commit() {
  auto done = db_->query(nested_ ? "RELEASE ledger_op" : "COMMIT").run();
  if (done.ok()) open_ = false;
  return done;
}

}  // namespace flow::storage::sql
