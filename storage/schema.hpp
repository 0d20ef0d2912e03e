// Internal: the ledger schema as an ordered list of forward migrations.
#pragma once
#include <span>
#include <string_view>

#include "sqlite_connection.hpp"

namespace flow::storage {

struct Migration {
  int version;            // PRAGMA user_version after it ran
  std::string_view name;  // for error messages
  const char* sql;        // one or more statements
};

// "402f": marks the file as a 402flow ledger (PRAGMA application_id).
inline constexpr int kLedgerApplicationId = 0x34303266;

std::span<const Migration> ledger_migrations();
int latest_schema_version();

// Brings the database to the last migration's version. Each migration runs in its own
// BEGIN IMMEDIATE transaction that re-reads user_version, so concurrent openers apply it
// once. Throws LedgerOpenError for a database newer than `migrations`, a file that is not a
// ledger, or a failed migration (which leaves the database at the version before it).
void apply_migrations(sql::Connection& db, std::span<const Migration> migrations);

}  // namespace flow::storage
