#include "schema.hpp"

#include <array>
#include <string>

#include "flow/storage/ledger.hpp"

namespace flow::storage {
namespace {

// Version 1. Conventions: STRICT tables; amounts are decimal TEXT of atomic units (exact
// 128-bit values; SQLite has no such integer and REAL would round); times are unix
// milliseconds (`*_ms`) except reservations.created_at, which is unix seconds like
// CapCheck::window_start. Text that is absent is '' and numbers that are absent are 0, so the
// receipt hash has one spelling for "nothing". CHECKs spell enumerations as OR chains: an IN
// list of more than two constants makes SQLite build an ephemeral table on every row written.
constexpr const char* kSchemaV1 = R"sql(
CREATE TABLE attempts (
  id                INTEGER PRIMARY KEY,
  agent             TEXT    NOT NULL,
  idempotency_key   TEXT    NOT NULL,
  state             TEXT    NOT NULL CHECK (state = 'reserved' OR state = 'signed' OR
                      state = 'submitted' OR state = 'settled' OR state = 'failed' OR
                      state = 'unknown' OR state = 'released'),
  merchant_origin   TEXT    NOT NULL,
  method            TEXT    NOT NULL,
  url               TEXT    NOT NULL,
  protocol          TEXT    NOT NULL,
  protocol_version  INTEGER NOT NULL,
  scheme            TEXT    NOT NULL,
  network           TEXT    NOT NULL,
  asset             TEXT    NOT NULL,
  amount            TEXT    NOT NULL CHECK (amount <> '' AND amount NOT GLOB '*[^0-9]*'),
  decimals          INTEGER NOT NULL CHECK (decimals BETWEEN 0 AND 38),
  pay_to            TEXT    NOT NULL,
  resource          TEXT    NOT NULL,
  offer_expires_at  INTEGER NOT NULL,
  offer_index       INTEGER NOT NULL,
  decision_id       TEXT    NOT NULL,
  rule              TEXT    NOT NULL,
  approval_id       TEXT    NOT NULL,
  payer             TEXT    NOT NULL DEFAULT '',
  credential_ref    TEXT    NOT NULL DEFAULT '',
  credential_sha256 TEXT    NOT NULL DEFAULT '',
  settlement_ref    TEXT    NOT NULL DEFAULT '',
  evidence          TEXT    NOT NULL DEFAULT '',
  http_status       INTEGER NOT NULL DEFAULT 0,
  failure_reason    TEXT    NOT NULL DEFAULT '',
  reserved_at_ms    INTEGER NOT NULL,
  signed_at_ms      INTEGER NOT NULL DEFAULT 0,
  submitted_at_ms   INTEGER NOT NULL DEFAULT 0,
  finished_at_ms    INTEGER NOT NULL DEFAULT 0,
  updated_at_ms     INTEGER NOT NULL,
  UNIQUE (agent, idempotency_key)
) STRICT;
-- Start-up recovery and the unknown list look attempts up by state.
CREATE INDEX attempts_by_state ON attempts(state, id);
CREATE INDEX attempts_settled_payee ON attempts(network, pay_to) WHERE state = 'settled';

-- One row per (attempt, counter): the amount held against that counter. Whether it still
-- holds money is the attempt's state; the row itself never changes.
CREATE TABLE reservations (
  attempt_id  INTEGER NOT NULL REFERENCES attempts(id),
  counter_key TEXT    NOT NULL,
  created_at  INTEGER NOT NULL,
  amount      TEXT    NOT NULL,
  PRIMARY KEY (attempt_id, counter_key)
) STRICT, WITHOUT ROWID;
CREATE INDEX reservations_by_counter ON reservations(counter_key, created_at);

-- Each counter's limits as last checked (so `402flow spend` needs no policy file) and the
-- money held in [window_start, now): a cache of the sum over `reservations`, maintained in the
-- same transactions, so a reservation reads one row instead of the whole window.
CREATE TABLE counters (
  counter_key   TEXT    PRIMARY KEY,
  rule          TEXT    NOT NULL,
  reason        TEXT    NOT NULL,
  max_amount    TEXT,
  max_count     INTEGER,
  network       TEXT    NOT NULL,
  asset         TEXT    NOT NULL,
  decimals      INTEGER NOT NULL,
  window_start  INTEGER NOT NULL,
  held_amount   TEXT    NOT NULL,
  held_count    INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE decisions (
  id                TEXT    PRIMARY KEY,
  at_ms             INTEGER NOT NULL,
  agent             TEXT    NOT NULL,
  merchant_origin   TEXT    NOT NULL,
  method            TEXT    NOT NULL,
  url               TEXT    NOT NULL,
  outcome           TEXT    NOT NULL CHECK (outcome = 'allow' OR outcome = 'deny' OR
                                            outcome = 'review'),
  reason            TEXT    NOT NULL,
  rule              TEXT    NOT NULL,
  offers_seen       INTEGER NOT NULL,
  protocols_offered TEXT    NOT NULL,
  protocol          TEXT    NOT NULL,
  scheme            TEXT    NOT NULL,
  network           TEXT    NOT NULL,
  asset             TEXT    NOT NULL,
  amount            TEXT    NOT NULL,
  decimals          INTEGER NOT NULL,
  pay_to            TEXT    NOT NULL,
  approval_id       TEXT    NOT NULL
) STRICT;
CREATE INDEX decisions_by_time ON decisions(at_ms);

CREATE TABLE merchants (
  origin        TEXT    PRIMARY KEY,
  first_seen_ms INTEGER NOT NULL,
  last_seen_ms  INTEGER NOT NULL,
  challenges    INTEGER NOT NULL DEFAULT 0,
  allowed       INTEGER NOT NULL DEFAULT 0,
  denied        INTEGER NOT NULL DEFAULT 0,
  reviewed      INTEGER NOT NULL DEFAULT 0,
  paid          INTEGER NOT NULL DEFAULT 0,
  protocols     TEXT    NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;

CREATE TABLE approvals (
  id              TEXT    PRIMARY KEY,
  decision_id     TEXT    NOT NULL,
  agent           TEXT    NOT NULL,
  merchant_origin TEXT    NOT NULL,
  method          TEXT    NOT NULL,
  url             TEXT    NOT NULL,
  rule            TEXT    NOT NULL,
  protocol        TEXT    NOT NULL,
  scheme          TEXT    NOT NULL,
  network         TEXT    NOT NULL,
  asset           TEXT    NOT NULL,
  amount          TEXT    NOT NULL,
  decimals        INTEGER NOT NULL,
  pay_to          TEXT    NOT NULL,
  resource        TEXT    NOT NULL,
  state           TEXT    NOT NULL CHECK (state = 'pending' OR state = 'approved' OR
                                          state = 'denied' OR state = 'expired'),
  created_at_ms   INTEGER NOT NULL,
  expires_at_ms   INTEGER NOT NULL,
  resolved_at_ms  INTEGER NOT NULL DEFAULT 0,
  resolved_by     TEXT    NOT NULL DEFAULT '',
  note            TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX approvals_pending ON approvals(expires_at_ms) WHERE state = 'pending';

-- Append-only snapshots of attempts, chained by hash (receipt_chain.cpp has the encoding).
CREATE TABLE receipts (
  seq               INTEGER PRIMARY KEY,
  receipt_id        TEXT    NOT NULL,
  recorded_at_ms    INTEGER NOT NULL,
  attempt_id        INTEGER NOT NULL,
  state             TEXT    NOT NULL,
  agent             TEXT    NOT NULL,
  idempotency_key   TEXT    NOT NULL,
  merchant_origin   TEXT    NOT NULL,
  method            TEXT    NOT NULL,
  url               TEXT    NOT NULL,
  protocol          TEXT    NOT NULL,
  protocol_version  INTEGER NOT NULL,
  scheme            TEXT    NOT NULL,
  network           TEXT    NOT NULL,
  asset             TEXT    NOT NULL,
  amount            TEXT    NOT NULL,
  decimals          INTEGER NOT NULL,
  pay_to            TEXT    NOT NULL,
  resource          TEXT    NOT NULL,
  offer_expires_at  INTEGER NOT NULL,
  offer_index       INTEGER NOT NULL,
  decision_id       TEXT    NOT NULL,
  rule              TEXT    NOT NULL,
  approval_id       TEXT    NOT NULL,
  payer             TEXT    NOT NULL,
  credential_ref    TEXT    NOT NULL,
  credential_sha256 TEXT    NOT NULL,
  settlement_ref    TEXT    NOT NULL,
  evidence          TEXT    NOT NULL,
  http_status       INTEGER NOT NULL,
  failure_reason    TEXT    NOT NULL,
  reserved_at_ms    INTEGER NOT NULL,
  signed_at_ms      INTEGER NOT NULL,
  submitted_at_ms   INTEGER NOT NULL,
  finished_at_ms    INTEGER NOT NULL,
  prev_hash         TEXT    NOT NULL,
  hash              TEXT    NOT NULL
) STRICT;
CREATE INDEX receipts_by_time ON receipts(recorded_at_ms);
CREATE INDEX receipts_by_attempt ON receipts(attempt_id);

-- The last receipt's seq and hash, updated with every append: deleting rows from the end of
-- the chain is detected against it.
CREATE TABLE chain_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT    NOT NULL
) STRICT;
INSERT INTO chain_head (id, seq, hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- Guards against accidents, not against someone who can drop them: the hash chain is what
-- detects deliberate edits.
CREATE TRIGGER receipts_no_update BEFORE UPDATE ON receipts
  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
CREATE TRIGGER receipts_no_delete BEFORE DELETE ON receipts
  BEGIN SELECT RAISE(ABORT, 'receipts are append-only'); END;
)sql";

// Version 2: a credential's expiry, and the hold of a refused credential that had left the
// process (it can still be submitted until it expires). Ledgers at version 1 keep their rows;
// their attempts have no known expiry (0).
constexpr const char* kSchemaV2 = R"sql(
ALTER TABLE attempts ADD COLUMN valid_before INTEGER NOT NULL DEFAULT 0;
ALTER TABLE attempts ADD COLUMN held_until INTEGER NOT NULL DEFAULT 0;
CREATE INDEX attempts_held_until ON attempts(held_until) WHERE held_until <> 0;
)sql";

// Version 3: why an attempt failed, as a stable code (a payment::Reason name), on attempts and
// receipts, and the encoding each receipt is hashed in. Rows written before keep '' (no code)
// and receipts keep encoding 1, so their hashes still verify.
constexpr const char* kSchemaV3 = R"sql(
ALTER TABLE attempts ADD COLUMN failure_code TEXT NOT NULL DEFAULT '';
ALTER TABLE receipts ADD COLUMN failure_code TEXT NOT NULL DEFAULT '';
ALTER TABLE receipts ADD COLUMN encoding INTEGER NOT NULL DEFAULT 1;
)sql";

// Version 4: an approval is used by one payment attempt (state 'used', attempt_id, used_at_ms),
// and is found again by its request (a retry reuses the pending one) and listed newest first.
// SQLite cannot change a CHECK in place: the table is rebuilt, rows (and their rowid order, the
// listing's order) kept.
constexpr const char* kSchemaV4 = R"sql(
CREATE TABLE approvals_v4 (
  id              TEXT    PRIMARY KEY,
  decision_id     TEXT    NOT NULL,
  agent           TEXT    NOT NULL,
  merchant_origin TEXT    NOT NULL,
  method          TEXT    NOT NULL,
  url             TEXT    NOT NULL,
  rule            TEXT    NOT NULL,
  protocol        TEXT    NOT NULL,
  scheme          TEXT    NOT NULL,
  network         TEXT    NOT NULL,
  asset           TEXT    NOT NULL,
  amount          TEXT    NOT NULL,
  decimals        INTEGER NOT NULL,
  pay_to          TEXT    NOT NULL,
  resource        TEXT    NOT NULL,
  state           TEXT    NOT NULL CHECK (state = 'pending' OR state = 'approved' OR
                                          state = 'denied' OR state = 'expired' OR
                                          state = 'used'),
  created_at_ms   INTEGER NOT NULL,
  expires_at_ms   INTEGER NOT NULL,
  resolved_at_ms  INTEGER NOT NULL DEFAULT 0,
  resolved_by     TEXT    NOT NULL DEFAULT '',
  note            TEXT    NOT NULL DEFAULT '',
  attempt_id      INTEGER NOT NULL DEFAULT 0,
  used_at_ms      INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO approvals_v4 (rowid, id, decision_id, agent, merchant_origin, method, url, rule,
    protocol, scheme, network, asset, amount, decimals, pay_to, resource, state, created_at_ms,
    expires_at_ms, resolved_at_ms, resolved_by, note)
  SELECT rowid, id, decision_id, agent, merchant_origin, method, url, rule, protocol, scheme,
    network, asset, amount, decimals, pay_to, resource, state, created_at_ms, expires_at_ms,
    resolved_at_ms, resolved_by, note
  FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_v4 RENAME TO approvals;
CREATE INDEX approvals_pending ON approvals(expires_at_ms) WHERE state = 'pending';
CREATE INDEX approvals_pending_request ON approvals(agent, url) WHERE state = 'pending';
CREATE INDEX approvals_by_state ON approvals(state);
)sql";

// Version 5: the operator audit chain (audit_store.cpp has the encoding): who did what through
// the admin API, append-only and hash-chained like the receipts, with its own head.
constexpr const char* kSchemaV5 = R"sql(
CREATE TABLE audit (
  seq        INTEGER PRIMARY KEY,
  id         TEXT    NOT NULL,
  at_ms      INTEGER NOT NULL,
  actor      TEXT    NOT NULL,
  action     TEXT    NOT NULL,
  subject    TEXT    NOT NULL,
  detail     TEXT    NOT NULL,
  prev_hash  TEXT    NOT NULL,
  hash       TEXT    NOT NULL,
  encoding   INTEGER NOT NULL
) STRICT;
CREATE TABLE audit_head (
  id   INTEGER PRIMARY KEY CHECK (id = 1),
  seq  INTEGER NOT NULL,
  hash TEXT    NOT NULL
) STRICT;
INSERT INTO audit_head (id, seq, hash)
  VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
  BEGIN SELECT RAISE(ABORT, 'the audit chain is append-only'); END;
)sql";

// Version 6: an observed merchant remembers the last offer policy decided on (what it asks).
constexpr const char* kSchemaV6 = R"sql(
ALTER TABLE merchants ADD COLUMN last_network  TEXT    NOT NULL DEFAULT '';
ALTER TABLE merchants ADD COLUMN last_asset    TEXT    NOT NULL DEFAULT '';
ALTER TABLE merchants ADD COLUMN last_amount   TEXT    NOT NULL DEFAULT '';
ALTER TABLE merchants ADD COLUMN last_decimals INTEGER NOT NULL DEFAULT 0;
)sql";

// Version 7: running tallies for the admin API's metrics, kept in the same transactions as the
// rows they count (a scrape reads a few rows, never the decisions or attempts), seeded from
// the rows already there. Settled money is counted per price: amounts are exact 128-bit decimal
// text, which SQLite would sum as doubles.
constexpr const char* kSchemaV7 = R"sql(
CREATE TABLE decision_tallies (
  outcome TEXT    NOT NULL,
  reason  TEXT    NOT NULL,
  count   INTEGER NOT NULL,
  PRIMARY KEY (outcome, reason)
) STRICT, WITHOUT ROWID;
INSERT INTO decision_tallies (outcome, reason, count)
  SELECT outcome, reason, count(*) FROM decisions GROUP BY outcome, reason;
CREATE TABLE settled_tallies (
  network  TEXT    NOT NULL,
  asset    TEXT    NOT NULL,
  decimals INTEGER NOT NULL,
  amount   TEXT    NOT NULL,
  count    INTEGER NOT NULL,
  PRIMARY KEY (network, asset, decimals, amount)
) STRICT, WITHOUT ROWID;
INSERT INTO settled_tallies (network, asset, decimals, amount, count)
  SELECT network, asset, decimals, amount, count(*) FROM attempts WHERE state = 'settled'
  GROUP BY network, asset, decimals, amount;
)sql";

constexpr std::array<Migration, 7> kMigrations{{
    {1, "initial ledger schema", kSchemaV1},
    {2, "credential expiry and refused holds", kSchemaV2},
    {3, "failure codes and receipt encodings", kSchemaV3},
    {4, "approvals used by an attempt", kSchemaV4},
    {5, "operator audit chain", kSchemaV5},
    {6, "the last offer of each observed merchant", kSchemaV6},
    {7, "running tallies for metrics", kSchemaV7},
}};

int pragma_int(sql::Connection& db, const char* sql) {
  auto q = db.query(sql);
  auto row = q.next();
  if (!row.ok()) throw LedgerOpenError(std::string("reading ") + sql + ": " + row.error().detail);
  return row.value() ? static_cast<int>(q.int64(0)) : 0;
}

bool has_tables(sql::Connection& db) {
  auto q = db.query("SELECT count(*) FROM sqlite_schema WHERE type = 'table'");
  auto row = q.next();
  if (!row.ok()) throw LedgerOpenError("reading the schema: " + row.error().detail);
  return q.int64(0) > 0;
}

// Refuses files that are not 402flow ledgers, and ledgers newer than this binary.
void check_identity(sql::Connection& db, int version, int latest) {
  const int app_id = pragma_int(db, "PRAGMA application_id");
  if (app_id != 0 && app_id != kLedgerApplicationId) {
    throw LedgerOpenError("this SQLite file is not a 402flow ledger (application_id " +
                          std::to_string(app_id) + ")");
  }
  if (app_id == 0 && version == 0 && has_tables(db)) {
    throw LedgerOpenError("this SQLite file already has tables and is not a 402flow ledger");
  }
  if (version > latest) {
    throw LedgerOpenError("the ledger's schema version " + std::to_string(version) +
                          " is newer than this 402flow supports (" + std::to_string(latest) +
                          "): it was written by a newer release; run that release or newer");
  }
}

}  // namespace

std::span<const Migration> ledger_migrations() {
  return kMigrations;
}

int latest_schema_version() {
  return kMigrations.back().version;
}

void apply_migrations(sql::Connection& db, std::span<const Migration> migrations) {
  const int latest = migrations.empty() ? 0 : migrations.back().version;
  check_identity(db, pragma_int(db, "PRAGMA user_version"), latest);
  for (const Migration& m : migrations) {
    if (pragma_int(db, "PRAGMA user_version") >= m.version) continue;
    db.exec_or_throw("BEGIN IMMEDIATE", "starting a schema migration");
    // Another process may have migrated between our read and the lock.
    const int version = pragma_int(db, "PRAGMA user_version");
    check_identity(db, version, latest);
    if (version >= m.version) {
      db.exec_or_throw("COMMIT", "ending a schema migration");
      continue;
    }
    auto applied = db.exec(m.sql);
    if (applied.ok()) {
      const std::string stamp = "PRAGMA application_id = " + std::to_string(kLedgerApplicationId) +
                                "; PRAGMA user_version = " + std::to_string(m.version);
      applied = db.exec(stamp.c_str());
    }
    if (applied.ok()) applied = db.exec("COMMIT");
    if (!applied.ok()) {
      (void)db.exec("ROLLBACK");
      throw LedgerOpenError("schema migration " + std::to_string(m.version) + " (" +
                            std::string(m.name) +
                            ") failed and was rolled back: " + applied.error().detail);
    }
  }
}

}  // namespace flow::storage
