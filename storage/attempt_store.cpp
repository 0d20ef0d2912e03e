#include "attempt_store.hpp"

#include <string>

#include "intent_columns.hpp"

namespace flow::storage::attempt_store {
namespace {

// Column order shared by every SELECT below and read_attempt().
const std::string kColumns =
    std::string("id, state, ") + intent_columns::kNames +
    ", payer, credential_ref, credential_sha256, settlement_ref, evidence, http_status, "
    "failure_reason, reserved_at_ms, signed_at_ms, submitted_at_ms, finished_at_ms, "
    "updated_at_ms, valid_before, held_until, failure_code";

Result<Attempt> read_attempt(const sql::Query& q) {
  Attempt a;
  a.id = q.int64(0);
  const auto state = attempt_state_from_name(q.text(1));
  if (!state) {
    return ledger_error(LedgerErrorCode::storage_failed,
                        "attempt " + std::to_string(a.id) + " has an unknown state");
  }
  a.state = *state;
  if (!intent_columns::read(q, 2, a.intent)) {
    return ledger_error(LedgerErrorCode::storage_failed,
                        "attempt " + std::to_string(a.id) + " has an unreadable amount");
  }
  a.payer = q.text(21);
  a.credential_ref = q.text(22);
  a.credential_sha256 = q.text(23);
  a.settlement_ref = q.text(24);
  a.evidence = q.text(25);
  a.http_status = static_cast<int>(q.int64(26));
  a.failure_reason = q.text(27);
  a.times.reserved_at_ms = q.int64(28);
  a.times.signed_at_ms = q.int64(29);
  a.times.submitted_at_ms = q.int64(30);
  a.times.finished_at_ms = q.int64(31);
  a.times.updated_at_ms = q.int64(32);
  a.valid_before = q.int64(33);
  a.held_until = q.int64(34);
  auto code = intent_columns::failure_code_from_column(q.text(35));
  if (!code) {
    return ledger_error(LedgerErrorCode::storage_failed,
                        "attempt " + std::to_string(a.id) + " has an unknown failure code");
  }
  a.failure_code = *code;
  return a;
}

Result<std::optional<Attempt>> read_one(sql::Query& q) {
  auto row = q.next();
  if (!row.ok()) return row.error();
  if (!row.value()) return std::optional<Attempt>{};
  auto attempt = read_attempt(q);
  if (!attempt.ok()) return attempt.error();
  return std::optional<Attempt>(std::move(attempt).value());
}

}  // namespace

Result<std::optional<Attempt>> load(LedgerContext& ctx, std::int64_t attempt_id) {
  static const std::string sql = std::string("SELECT ") + kColumns + " FROM attempts WHERE id = ?1";
  auto q = ctx.db.query(sql);
  q.bind(1, attempt_id);
  return read_one(q);
}

Result<std::optional<Attempt>> find(LedgerContext& ctx, std::string_view agent,
                                    std::string_view idempotency_key) {
  static const std::string sql = std::string("SELECT ") + kColumns +
                                 " FROM attempts WHERE agent = ?1 AND idempotency_key = ?2";
  auto q = ctx.db.query(sql);
  q.bind(1, agent).bind(2, idempotency_key);
  return read_one(q);
}

Result<std::vector<Attempt>> in_state(LedgerContext& ctx, AttemptState state) {
  static const std::string sql =
      std::string("SELECT ") + kColumns + " FROM attempts WHERE state = ?1 ORDER BY id";
  auto q = ctx.db.query(sql);
  q.bind(1, attempt_state_name(state));
  std::vector<Attempt> out;
  for (;;) {
    auto row = q.next();
    if (!row.ok()) return row.error();
    if (!row.value()) return out;
    auto attempt = read_attempt(q);
    if (!attempt.ok()) return attempt.error();
    out.push_back(std::move(attempt).value());
  }
}

Result<bool> has_settled_payee(LedgerContext& ctx, std::string_view network,
                               std::string_view pay_to) {
  auto q = ctx.db.query(
      "SELECT EXISTS (SELECT 1 FROM attempts WHERE network = ?1 AND pay_to = ?2 "
      "AND state = 'settled')");
  q.bind(1, network).bind(2, pay_to);
  auto row = q.next();
  if (!row.ok()) return row.error();
  return row.value() && q.int64(0) != 0;
}

Result<Attempt> insert_reserved(LedgerContext& ctx, const PaymentIntent& intent) {
  static const std::string sql = std::string("INSERT INTO attempts (") + intent_columns::kNames +
                                 ", state, reserved_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, "
                                 "?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
                                 "?17, ?18, ?19, 'reserved', ?20, ?20)";
  auto q = ctx.db.query(sql);
  intent_columns::bind(q, 1, intent);
  q.bind(intent_columns::kCount + 1, ctx.now_ms);
  auto done = q.run();
  if (!done.ok()) return done.error();
  Attempt a;
  a.id = ctx.db.last_insert_rowid();
  a.state = AttemptState::reserved;
  a.intent = intent;
  a.times.reserved_at_ms = ctx.now_ms;
  a.times.updated_at_ms = ctx.now_ms;
  return a;
}

Result<void> update(LedgerContext& ctx, const Attempt& a) {
  auto q = ctx.db.query(
      "UPDATE attempts SET state = ?2, payer = ?3, credential_ref = ?4, credential_sha256 = ?5, "
      "settlement_ref = ?6, evidence = ?7, http_status = ?8, failure_reason = ?9, "
      "signed_at_ms = ?10, submitted_at_ms = ?11, finished_at_ms = ?12, updated_at_ms = ?13, "
      "valid_before = ?14, held_until = ?15, failure_code = ?16 WHERE id = ?1");
  q.bind(1, a.id)
      .bind(2, attempt_state_name(a.state))
      .bind(3, a.payer)
      .bind(4, a.credential_ref)
      .bind(5, a.credential_sha256)
      .bind(6, a.settlement_ref)
      .bind(7, a.evidence)
      .bind(8, std::int64_t{a.http_status})
      .bind(9, a.failure_reason)
      .bind(10, a.times.signed_at_ms)
      .bind(11, a.times.submitted_at_ms)
      .bind(12, a.times.finished_at_ms)
      .bind(13, a.times.updated_at_ms)
      .bind(14, a.valid_before)
      .bind(15, a.held_until)
      .bind(16, intent_columns::failure_code_column(a.failure_code));
  auto done = q.run();
  if (!done.ok()) return done.error();
  if (ctx.db.changes() != 1) {
    return ledger_error(LedgerErrorCode::not_found, "attempt " + std::to_string(a.id));
  }
  return {};
}

}  // namespace flow::storage::attempt_store
