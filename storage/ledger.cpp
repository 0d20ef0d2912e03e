#include "flow/storage/ledger.hpp"

#include <chrono>
#include <filesystem>
#include <limits>
#include <thread>

#include "approval_store.hpp"
#include "attempt_lifecycle.hpp"
#include "attempt_store.hpp"
#include "audit_store.hpp"
#include "decision_log.hpp"
#include "decision_reads.hpp"
#include "flow/payment/unix_clock.hpp"
#include "ledger_tallies.hpp"
#include "operator_actions.hpp"
#include "owner_lock.hpp"
#include "receipt_store.hpp"
#include "recovery.hpp"
#include "reservation.hpp"
#include "schema.hpp"
#include "spend_query.hpp"
#include "sqlite_connection.hpp"

namespace flow::storage {
namespace {

PaymentIntent redacted(const PaymentIntent& intent, UrlQueryMode mode) {
  PaymentIntent stored = intent;
  stored.url = redact_url_query(intent.url, mode);
  stored.offer.resource = redact_url_query(intent.offer.resource, mode);
  return stored;
}

// Switching to WAL needs a moment without other writers; opening connections race for it.
void enable_wal(sql::Connection& db, std::chrono::milliseconds patience) {
  const auto deadline = std::chrono::steady_clock::now() + patience;
  for (;;) {
    auto q = db.query("PRAGMA journal_mode = WAL");
    auto row = q.next();
    if (row.ok() && row.value() && q.text(0) == "wal") return;
    if (row.ok()) {
      throw LedgerOpenError("the ledger cannot use WAL mode (journal_mode is " +
                            (row.value() ? q.text(0) : std::string("unset")) + ")");
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      throw LedgerOpenError("enabling WAL mode: " + row.error().detail);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace

Ledger::Ledger(LedgerOptions options) : options_(std::move(options)) {
  if (options_.path.empty()) throw LedgerOpenError("no ledger path given");
  std::error_code ec;
  if (!options_.create_if_missing && !std::filesystem::exists(options_.path, ec)) {
    throw LedgerOpenError("no ledger at " + options_.path);
  }
  if (options_.mode == OpenMode::owner) owner_lock_ = std::make_unique<OwnerLock>(options_.path);
  open_database();
  if (options_.mode == OpenMode::owner) recover();
}

Ledger::~Ledger() {
  if (in_batch_) rollback_batch();
  db_.reset();  // before the owner lock goes
}

void Ledger::open_database() {
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  if (options_.create_if_missing) flags |= SQLITE_OPEN_CREATE;
  db_ = std::make_unique<sql::Connection>(options_.path, flags);
  sqlite3* raw = db_->raw();
  db_->set_busy_timeout(options_.busy_timeout);
  // No schema tricks from a hostile file: no writable_schema, no functions from triggers.
  sqlite3_db_config(raw, SQLITE_DBCONFIG_DEFENSIVE, 1, nullptr);
  sqlite3_db_config(raw, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, nullptr);
  enable_wal(*db_, options_.busy_timeout);
  // synchronous FULL: every commit fsyncs the WAL, so a committed reservation survives power
  // loss, not only a crash; group commit (LedgerWriter) shares that fsync between operations.
  // temp_store MEMORY: the per-operation savepoints of a group commit keep their sub-journals
  // in memory; on disk they cost ~90 KiB of writes per payment (bench/LEDGER_RESULTS.md).
  const std::string pragmas =
      "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; "
      "PRAGMA cache_size = -" +
      std::to_string(options_.cache_kib);
  db_->exec_or_throw(pragmas.c_str(), "configuring the ledger connection");
  apply_migrations(*db_, ledger_migrations());
}

void Ledger::recover() {
  auto report = write([](LedgerContext& ctx) { return recover_in_flight(ctx); });
  if (!report.ok()) {
    throw LedgerOpenError("recovering attempts in flight: " + report.error().describe());
  }
  recovery_ = std::move(report).value();
}

std::int64_t Ledger::now_ms() const {
  if (options_.clock_ms) return options_.clock_ms();
  return payment::unix_now_ms();
}

int Ledger::schema_version() const {
  auto q = db_->query("PRAGMA user_version");
  auto row = q.next();
  return row.ok() && row.value() ? static_cast<int>(q.int64(0)) : -1;
}

// One transaction (or savepoint inside a batch) around `body`, committed only if it succeeds.
template <class F>
auto Ledger::write(F&& body) -> decltype(body(std::declval<LedgerContext&>())) {
  if (!in_batch_ && !synchronous_full_) {
    auto full = db_->exec("PRAGMA synchronous = FULL");
    if (!full.ok()) return full.error();
    synchronous_full_ = true;
  }
  auto scope = sql::Scope::begin(*db_, sql::Scope::Kind::write);
  if (!scope.ok()) return scope.error();
  LedgerContext ctx{*db_, now_ms(), options_.url_query};
  auto result = body(ctx);
  if (!result.ok()) return result;
  auto committed = scope.value().commit();
  if (!committed.ok()) return committed.error();
  return result;
}

// Reads in one snapshot.
template <class F>
auto Ledger::read(F&& body) -> decltype(body(std::declval<LedgerContext&>())) {
  auto scope = sql::Scope::begin(*db_, sql::Scope::Kind::read);
  if (!scope.ok()) return scope.error();
  LedgerContext ctx{*db_, now_ms(), options_.url_query};
  auto result = body(ctx);
  if (!result.ok()) return result;
  auto ended = scope.value().commit();
  if (!ended.ok()) return ended.error();
  return result;
}

Result<ReserveOutcome> Ledger::reserve(const PaymentIntent& intent,
                                       const std::vector<policy::CapCheck>& caps) {
  const PaymentIntent stored = redacted(intent, options_.url_query);
  return write([&](LedgerContext& ctx) -> Result<ReserveOutcome> {
    auto swept = reservation::release_expired_holds(ctx);
    if (!swept.ok()) return swept.error();
    auto reserved = reservation::reserve(ctx, stored, caps);
    if (!reserved.ok() || stored.approval_id.empty()) return reserved;
    if (reserved.value().status != ReserveStatus::reserved) return reserved;
    auto used = approval_store::use(ctx, stored.approval_id, reserved.value().attempt->id);
    if (!used.ok()) return used.error();
    return reserved;
  });
}

Result<Attempt> Ledger::mark_signed(std::int64_t attempt_id, const SignedDetails& details) {
  return write(
      [&](LedgerContext& ctx) { return attempt_lifecycle::mark_signed(ctx, attempt_id, details); });
}

Result<Attempt> Ledger::mark_submitted(std::int64_t attempt_id) {
  return write(
      [&](LedgerContext& ctx) { return attempt_lifecycle::mark_submitted(ctx, attempt_id); });
}

Result<Receipt> Ledger::finalize(std::int64_t attempt_id, const Outcome& outcome) {
  return write(
      [&](LedgerContext& ctx) { return attempt_lifecycle::finalize(ctx, attempt_id, outcome); });
}

Result<Attempt> Ledger::release(std::int64_t attempt_id, payment::Reason code,
                                std::string_view reason) {
  return write([&](LedgerContext& ctx) {
    return attempt_lifecycle::release(ctx, attempt_id, code, reason);
  });
}

Result<std::optional<Attempt>> Ledger::get_attempt(std::int64_t attempt_id) {
  return read([&](LedgerContext& ctx) { return attempt_store::load(ctx, attempt_id); });
}

Result<std::optional<Attempt>> Ledger::find_attempt(std::string_view agent,
                                                    std::string_view idempotency_key) {
  return read([&](LedgerContext& ctx) { return attempt_store::find(ctx, agent, idempotency_key); });
}

Result<std::vector<Attempt>> Ledger::unknown_attempts() {
  return read(
      [&](LedgerContext& ctx) { return attempt_store::in_state(ctx, AttemptState::unknown); });
}

Result<bool> Ledger::has_paid(std::string_view network, std::string_view pay_to) {
  return read(
      [&](LedgerContext& ctx) { return attempt_store::has_settled_payee(ctx, network, pay_to); });
}

Result<HeldTotals> Ledger::held_in_window(std::string_view counter_key, std::int64_t window_start) {
  return read([&](LedgerContext& ctx) {
    return reservation::scan_held(ctx, counter_key, window_start,
                                  std::numeric_limits<std::int64_t>::max());
  });
}

Result<HeldTotals> Ledger::cached_held(std::string_view counter_key, std::int64_t window_start) {
  // A write: refused credentials that expired are released before the totals are read.
  return write([&](LedgerContext& ctx) -> Result<HeldTotals> {
    auto swept = reservation::release_expired_holds(ctx);
    if (!swept.ok()) return swept.error();
    return reservation::held_for_window(ctx, counter_key, window_start);
  });
}

Result<void> Ledger::record_decision(const DecisionRecord& decision) {
  return write([&](LedgerContext& ctx) { return decision_log::record(ctx, decision); });
}

Result<std::vector<ObservedMerchant>> Ledger::observed_merchants() {
  return read([&](LedgerContext& ctx) { return decision_log::merchants(ctx); });
}

Result<Approval> Ledger::open_approval(const ApprovalRequest& request) {
  return write([&](LedgerContext& ctx) { return approval_store::open(ctx, request); });
}

Result<Approval> Ledger::resolve_approval(std::string_view approval_id, ApprovalState to,
                                          std::string_view resolved_by, std::string_view note) {
  return write([&](LedgerContext& ctx) {
    return approval_store::resolve(ctx, approval_id, to, resolved_by, note);
  });
}

Result<std::vector<Approval>> Ledger::expire_approvals() {
  return write([&](LedgerContext& ctx) { return approval_store::expire(ctx); });
}

Result<std::optional<Approval>> Ledger::get_approval(std::string_view approval_id) {
  return read([&](LedgerContext& ctx) { return approval_store::get(ctx, approval_id); });
}

Result<std::vector<Approval>> Ledger::pending_approvals() {
  return read([&](LedgerContext& ctx) { return approval_store::pending(ctx); });
}

Result<std::optional<Approval>> Ledger::find_pending_approval(const ApprovalBinding& binding) {
  return read([&](LedgerContext& ctx) { return approval_store::find_pending(ctx, binding); });
}

Result<Approval> Ledger::use_approval(std::string_view approval_id, std::int64_t attempt_id) {
  return write(
      [&](LedgerContext& ctx) { return approval_store::use(ctx, approval_id, attempt_id); });
}

Result<std::vector<Approval>> Ledger::approvals(const ApprovalFilter& filter) {
  return read([&](LedgerContext& ctx) { return approval_store::list(ctx, filter); });
}

Result<AuditRecord> Ledger::append_audit(const AuditEntry& entry) {
  return write([&](LedgerContext& ctx) { return audit_store::append(ctx, entry); });
}

Result<Approval> Ledger::resolve_approval_audited(std::string_view approval_id, ApprovalState to,
                                                  std::string_view note, const AuditEntry& audit) {
  return write([&](LedgerContext& ctx) {
    return operator_actions::resolve_approval(ctx, approval_id, to, note, audit);
  });
}

Result<Receipt> Ledger::reconcile_attempt(std::int64_t attempt_id, const Outcome& outcome,
                                          const AuditEntry& audit) {
  return write([&](LedgerContext& ctx) {
    return operator_actions::reconcile(ctx, attempt_id, outcome, audit);
  });
}

Result<std::vector<AuditRecord>> Ledger::audit(const AuditFilter& filter) {
  return read([&](LedgerContext& ctx) { return audit_store::list(ctx, filter); });
}

Result<ChainReport> Ledger::verify_audit_chain() {
  return read([&](LedgerContext& ctx) { return audit_store::verify(ctx); });
}

Result<std::vector<Attempt>> Ledger::attempts_in_state(AttemptState state) {
  return read([&](LedgerContext& ctx) { return attempt_store::in_state(ctx, state); });
}

Result<std::vector<DecisionRecord>> Ledger::decisions(const DecisionFilter& filter) {
  return read([&](LedgerContext& ctx) { return decision_reads::list(ctx, filter); });
}

Result<LedgerTallies> Ledger::tallies(std::size_t merchant_limit) {
  return read([&](LedgerContext& ctx) { return ledger_tallies::count(ctx, merchant_limit); });
}

Result<std::vector<Receipt>> Ledger::receipts(const ReceiptFilter& filter) {
  return read([&](LedgerContext& ctx) { return receipt_store::list(ctx, filter); });
}

Result<std::map<std::int64_t, std::string>> Ledger::latest_receipt_ids(
    const std::vector<std::int64_t>& attempt_ids) {
  return read([&](LedgerContext& ctx) { return receipt_store::latest_ids(ctx, attempt_ids); });
}

Result<std::optional<Receipt>> Ledger::get_receipt(std::string_view receipt_id) {
  return read([&](LedgerContext& ctx) { return receipt_store::get(ctx, receipt_id); });
}

Result<SpendReport> Ledger::spend(bool with_totals) {
  return write([&](LedgerContext& ctx) -> Result<SpendReport> {
    auto swept = reservation::release_expired_holds(ctx);
    if (!swept.ok()) return swept.error();
    return spend_query::build(ctx, with_totals);
  });
}

Result<ChainReport> Ledger::verify_chain() {
  return read([&](LedgerContext& ctx) { return receipt_store::verify(ctx); });
}

Result<void> Ledger::begin_batch(bool durable) {
  if (in_batch_) {
    return ledger_error(LedgerErrorCode::invalid_argument, "a batch is already open");
  }
  if (durable != synchronous_full_) {
    auto set = db_->exec(durable ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    if (!set.ok()) return set.error();
    synchronous_full_ = durable;
  }
  auto begun = db_->query("BEGIN IMMEDIATE").run();
  if (!begun.ok()) return begun.error();
  in_batch_ = true;
  return {};
}

Result<void> Ledger::commit_batch() {
  if (!in_batch_) return ledger_error(LedgerErrorCode::invalid_argument, "no batch is open");
  in_batch_ = false;
  if (!db_->in_transaction()) {
    return ledger_error(LedgerErrorCode::storage_failed,
                        "SQLite rolled the batch back after an earlier error");
  }
  auto committed = db_->query("COMMIT").run();
  if (!committed.ok()) {
    if (db_->in_transaction()) (void)db_->query("ROLLBACK").run();
    return committed.error();
  }
  return {};
}

void Ledger::rollback_batch() {
  in_batch_ = false;
  if (db_->in_transaction()) (void)db_->query("ROLLBACK").run();
}

bool Ledger::batch_alive() const {
  return in_batch_ && db_->in_transaction();
}

}  // namespace flow::storage
