#include <doctest/doctest.h>

#include <array>
#include <string>

#include "ledger_fixture.hpp"
#include "storage/schema.hpp"
#include "storage/sqlite_connection.hpp"

using namespace flow::storage;
using namespace flow::storage::testing;

TEST_CASE("a new ledger is created at the latest schema version, in WAL mode, marked as a ledger") {
  TempDir dir;
  const auto path = dir.file("ledger.db");
  {
    Ledger ledger(options_for(path));
    CHECK(ledger.schema_version() == latest_schema_version());
  }
  RawDb raw(path);
  CHECK(raw.text("PRAGMA journal_mode") == "wal");
  CHECK(raw.integer("PRAGMA user_version") == latest_schema_version());
  CHECK(raw.integer("PRAGMA application_id") == kLedgerApplicationId);
  for (const char* table : {"attempts", "reservations", "counters", "decisions", "merchants",
                            "approvals", "receipts", "chain_head"}) {
    CAPTURE(table);
    CHECK(raw.integer(std::string("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND "
                                  "name = '") +
                      table + "'") == 1);
  }
}

TEST_CASE("reopening a ledger keeps its rows and leaves the schema version alone") {
  TempDir dir;
  const auto path = dir.file("ledger.db");
  std::int64_t id = 0;
  {
    Ledger ledger(options_for(path));
    id = reserve_new(ledger, make_intent("k1", 5)).id;
  }
  Ledger again(options_for(path));
  CHECK(again.schema_version() == latest_schema_version());
  auto attempt = ok(again.get_attempt(id));
  REQUIRE(attempt.has_value());
  CHECK(attempt->intent.idempotency_key == "k1");
}

TEST_CASE("a ledger written by a newer 402flow is refused with an error that says so") {
  TempDir dir;
  const auto path = dir.file("ledger.db");
  { Ledger ledger(options_for(path)); }
  {
    RawDb raw(path);
    raw.must("PRAGMA user_version = " + std::to_string(latest_schema_version() + 1));
  }
  try {
    Ledger ledger(options_for(path));
    FAIL("a newer ledger was opened");
  } catch (const LedgerOpenError& e) {
    const std::string message = e.what();
    CHECK(message.find("newer") != std::string::npos);
    CHECK(message.find(std::to_string(latest_schema_version() + 1)) != std::string::npos);
  }
}

TEST_CASE("a SQLite file that is not a 402flow ledger is refused, not migrated") {
  TempDir dir;
  const auto path = dir.file("other.db");
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(path.c_str(), &db) == SQLITE_OK);
    REQUIRE(sqlite3_exec(db, "CREATE TABLE photos(id)", nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  CHECK_THROWS_AS(Ledger{options_for(path)}, LedgerOpenError);
  RawDb raw(path);
  CHECK(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'attempts'") == 0);
}

TEST_CASE("a missing ledger is an error when creation is not allowed (the CLI's mode)") {
  TempDir dir;
  auto options = options_for(dir.file("absent.db"));
  options.create_if_missing = false;
  CHECK_THROWS_AS(Ledger{options}, LedgerOpenError);
  CHECK_FALSE(std::filesystem::exists(dir.file("absent.db")));
}

TEST_CASE("migrations run in order, each once") {
  TempDir dir;
  const std::array<Migration, 2> migrations{{
      {1, "create", "CREATE TABLE t(x INTEGER)"},
      {2, "seed", "INSERT INTO t VALUES (42)"},
  }};
  sql::Connection db(dir.file("m.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  apply_migrations(db, migrations);
  apply_migrations(db, migrations);
  RawDb raw(dir.file("m.db"));
  CHECK(raw.integer("SELECT count(*) FROM t") == 1);
  CHECK(raw.integer("PRAGMA user_version") == 2);
}

TEST_CASE("a failing migration is rolled back whole and the version stays at the one before") {
  TempDir dir;
  const std::array<Migration, 2> migrations{{
      {1, "create", "CREATE TABLE t(x INTEGER)"},
      {2, "broken", "CREATE TABLE u(y INTEGER); INSERT INTO t VALUES (1); CREATE TABLE v(;"},
  }};
  sql::Connection db(dir.file("m.db"), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  try {
    apply_migrations(db, migrations);
    FAIL("the broken migration was applied");
  } catch (const LedgerOpenError& e) {
    CHECK(std::string(e.what()).find("broken") != std::string::npos);
  }
  RawDb raw(dir.file("m.db"));
  CHECK(raw.integer("PRAGMA user_version") == 1);
  CHECK(raw.integer("SELECT count(*) FROM sqlite_schema WHERE name = 'u'") == 0);
  CHECK(raw.integer("SELECT count(*) FROM t") == 0);
}

TEST_CASE("amounts are stored as exact decimal text, never as floating point") {
  TempDir dir;
  const auto path = dir.file("ledger.db");
  // 2^100: far beyond a double's 53-bit mantissa.
  const flow::payment::Atomic big = flow::payment::Atomic{1} << 100;
  {
    Ledger ledger(options_for(path));
    reserve_new(ledger, make_intent("big", big));
  }
  RawDb raw(path);
  CHECK(raw.text("SELECT typeof(amount) FROM attempts") == "text");
  CHECK(raw.text("SELECT amount FROM attempts") == "1267650600228229401496703205376");
}

TEST_CASE("a version 1 ledger opens, keeps its attempts and gains credential expiry columns") {
  TempDir dir;
  const auto path = dir.file("v1.db");
  {
    sql::Connection db(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    db.exec_or_throw("PRAGMA journal_mode = WAL", "wal");
    apply_migrations(db, ledger_migrations().first(1));
    db.exec_or_throw(
        "INSERT INTO attempts (agent, idempotency_key, state, merchant_origin, method, url, "
        "protocol, protocol_version, scheme, network, asset, amount, decimals, pay_to, resource, "
        "offer_expires_at, offer_index, decision_id, rule, approval_id, reserved_at_ms, "
        "updated_at_ms) VALUES ('alice', 'k', 'unknown', 'https://m', 'GET', 'https://m/x', "
        "'x402', 2, 'exact', 'eip155:8453', '0xa', '10', 6, '0xb', 'https://m/x', 0, 0, 'd', "
        "'r', '', 1, 1)",
        "a v1 attempt");
  }
  RawDb before(path);
  CHECK(before.integer("PRAGMA user_version") == 1);
  Ledger ledger(options_for(path));
  CHECK(ledger.schema_version() == latest_schema_version());
  CHECK(latest_schema_version() >= 2);
  const auto attempt = ok(ledger.find_attempt("alice", "k"));
  REQUIRE(attempt.has_value());
  CHECK(attempt->state == AttemptState::unknown);
  CHECK(attempt->valid_before == 0);
  CHECK(attempt->held_until == 0);
  CHECK_FALSE(attempt->failure_code.has_value());  // version 3: rows from before have no code
}
