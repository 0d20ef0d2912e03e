#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "flow/policy/cap_check.hpp"
#include "flow/storage/approval.hpp"
#include "flow/storage/audit.hpp"
#include "flow/storage/decision.hpp"
#include "flow/storage/ledger_tallies.hpp"
#include "flow/storage/payment_attempt.hpp"
#include "flow/storage/receipt.hpp"
#include "flow/storage/recovery_report.hpp"
#include "flow/storage/reserve_outcome.hpp"
#include "flow/storage/result.hpp"
#include "flow/storage/spend_report.hpp"
#include "flow/storage/url_redaction.hpp"

namespace flow::storage {

namespace sql {
class Connection;
}
class OwnerLock;
struct LedgerContext;

// Opening, migrating or locking the ledger failed. Start-up only: every other failure is a
// LedgerError value.
class LedgerOpenError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class OpenMode {
  // The proxy: takes the ledger's owner lock (<db>-lock) and runs start-up recovery. One owner
  // at a time, so no process recovers another's payments in flight.
  owner,
  // The CLI, tests, additional connections: no lock, no recovery. Writes stay safe (every
  // write is a BEGIN IMMEDIATE transaction), they just do not adopt in-flight attempts.
  shared,
};

struct LedgerOptions {
  std::string path = "402flow.db";
  OpenMode mode = OpenMode::owner;
  bool create_if_missing = true;
  UrlQueryMode url_query = UrlQueryMode::hash;
  // How long a write waits for another connection's write lock before storage_failed.
  std::chrono::milliseconds busy_timeout{10'000};
  // SQLite page cache for this connection, in KiB.
  unsigned cache_kib = 32 * 1024;
  // Unix time in milliseconds; the system clock when empty. Caps compare whole seconds
  // (floor(ms / 1000)) against CapCheck::window_start.
  std::function<std::int64_t()> clock_ms;
};

// The SQLite ledger over one connection: the synchronous API. Not thread-safe: use it from one
// thread at a time (LedgerWriter owns one on its own thread). Each call is one transaction,
// or, between begin_batch() and commit_batch(), one savepoint inside the batch's transaction.
class Ledger {
 public:
  // Opens (creating if allowed), applies forward migrations, and in owner mode locks and
  // recovers. Throws LedgerOpenError, e.g. for a database written by a newer 402flow.
  explicit Ledger(LedgerOptions options);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  const LedgerOptions& options() const { return options_; }
  const RecoveryReport& recovery() const { return recovery_; }
  int schema_version() const;

  // --- payment attempts: outside a batch, each is committed (WAL fsynced) when it returns ---

  // Idempotency first: an existing (agent, key) returns that attempt unchanged (no cap check).
  // Otherwise checks every cap and, if none would be exceeded, records the attempt `reserved`
  // and holds its amount against every counter, all in one transaction. An intent that names an
  // approval (intent.approval_id) uses it in the same transaction (approved -> used by this
  // attempt): an approval that is not `approved` (used already) fails the whole reservation.
  Result<ReserveOutcome> reserve(const PaymentIntent& intent,
                                 const std::vector<policy::CapCheck>& caps);
  // Must be committed before the credential is handed to the network (see RecoveryReport).
  Result<Attempt> mark_signed(std::int64_t attempt_id, const SignedDetails& details);
  Result<Attempt> mark_submitted(std::int64_t attempt_id);
  // settled, failed or unknown; writes the receipt. failed releases the reservation at once
  // when the credential never left the process (from signed); a credential that left
  // (submitted, unknown) with a known valid_before stays reserved until valid_before plus
  // kExpiryMarginSeconds, since whoever holds it can still submit it.
  Result<Receipt> finalize(std::int64_t attempt_id, const Outcome& outcome);
  // reserved -> released: the payment is abandoned before any credential existed.
  Result<Attempt> release(std::int64_t attempt_id, payment::Reason code, std::string_view reason);

  Result<std::optional<Attempt>> get_attempt(std::int64_t attempt_id);
  Result<std::optional<Attempt>> find_attempt(std::string_view agent,
                                              std::string_view idempotency_key);
  Result<std::vector<Attempt>> unknown_attempts();
  // Whether this payee has been paid (settled) on this network before: policy's "new payee"
  // review rule. `pay_to` as the payment module normalizes it (lower-case hex for EVM).
  Result<bool> has_paid(std::string_view network, std::string_view pay_to);
  // Held money for one counter computed from the reservations themselves: the cap contract's
  // definition, which the cached totals in the counters table must always equal.
  Result<HeldTotals> held_in_window(std::string_view counter_key, std::int64_t window_start);
  // The same answer from the counters' cached totals: what policy evaluation reads on the paid
  // path (a scan of every reservation in the window would grow with the day's payments).
  // Releases expired holds of refused credentials first (a write).
  Result<HeldTotals> cached_held(std::string_view counter_key, std::int64_t window_start);

  // --- decisions, merchants, approvals ---
  Result<void> record_decision(const DecisionRecord& decision);
  Result<std::vector<ObservedMerchant>> observed_merchants();
  Result<Approval> open_approval(const ApprovalRequest& request);
  // pending -> approved | denied. Approving a pending approval past its expiry is refused.
  Result<Approval> resolve_approval(std::string_view approval_id, ApprovalState to,
                                    std::string_view resolved_by, std::string_view note);
  // pending approvals past expires_at_ms -> expired; returns them (as now stored).
  Result<std::vector<Approval>> expire_approvals();
  Result<std::optional<Approval>> get_approval(std::string_view approval_id);
  Result<std::vector<Approval>> pending_approvals();
  // The pending, unexpired approval (newest first) that covers `binding`, so that a request
  // asked again while its approval is pending reuses it rather than opening another.
  Result<std::optional<Approval>> find_pending_approval(const ApprovalBinding& binding);
  // approved -> used by `attempt_id`, once: any other state (a second use) is
  // illegal_transition, unknown ids not_found. reserve() does this itself for an intent that
  // names its approval.
  Result<Approval> use_approval(std::string_view approval_id, std::int64_t attempt_id);
  // Approvals newest first, filtered and paged (ApprovalFilter::before); an unknown cursor is
  // not_found.
  Result<std::vector<Approval>> approvals(const ApprovalFilter& filter);

  // --- the operator's actions (the admin API): each with its audit record, one transaction ---
  Result<AuditRecord> append_audit(const AuditEntry& entry);
  // resolve_approval by `audit.actor`, and the audit record, together or not at all.
  Result<Approval> resolve_approval_audited(std::string_view approval_id, ApprovalState to,
                                            std::string_view note, const AuditEntry& audit);
  // unknown -> settled | failed (finalize), and the audit record. An attempt in any other state
  // is illegal_transition; an unknown id not_found.
  Result<Receipt> reconcile_attempt(std::int64_t attempt_id, const Outcome& outcome,
                                    const AuditEntry& audit);
  // Newest first.
  Result<std::vector<AuditRecord>> audit(const AuditFilter& filter);
  Result<ChainReport> verify_audit_chain();

  // --- reading ---
  Result<std::vector<Attempt>> attempts_in_state(AttemptState state);
  Result<std::vector<DecisionRecord>> decisions(const DecisionFilter& filter);
  // Whole-life counts for metrics; `merchant_limit` bounds the merchants named one by one.
  Result<LedgerTallies> tallies(std::size_t merchant_limit);
  Result<std::vector<Receipt>> receipts(const ReceiptFilter& filter);
  // For each attempt id, the id of its latest receipt (an unknown outcome later settled has two).
  Result<std::map<std::int64_t, std::string>> latest_receipt_ids(
      const std::vector<std::int64_t>& attempt_ids);
  // By the id the agent saw in X-402flow-Receipt; nothing for a malformed or unknown id.
  Result<std::optional<Receipt>> get_receipt(std::string_view receipt_id);
  // Releases expired holds of refused credentials first (a write).
  // `with_totals`: also the lifetime totals by agent and by merchant, which read every attempt
  // that holds or held money (a report's cost); without them, only the caps' counters (a few
  // rows, what a dashboard polls).
  Result<SpendReport> spend(bool with_totals = true);
  Result<ChainReport> verify_chain();

  // --- group commit (LedgerWriter) ---
  // One transaction around many calls; `durable` selects synchronous=FULL (fsync the WAL at
  // commit) rather than NORMAL for a batch that holds only decisions.
  Result<void> begin_batch(bool durable);
  Result<void> commit_batch();
  void rollback_batch();
  // False once SQLite has rolled the batch's transaction back by itself (I/O error, full disk):
  // then nothing in the batch will be committed.
  bool batch_alive() const;

 private:
  std::int64_t now_ms() const;
  template <class F>
  auto write(F&& body) -> decltype(body(std::declval<LedgerContext&>()));
  template <class F>
  auto read(F&& body) -> decltype(body(std::declval<LedgerContext&>()));
  void open_database();
  void recover();

  LedgerOptions options_;
  std::unique_ptr<OwnerLock> owner_lock_;
  std::unique_ptr<sql::Connection> db_;
  RecoveryReport recovery_;
  bool in_batch_ = false;
  bool synchronous_full_ = true;
};

}  // namespace flow::storage
