#include "attempt_lifecycle.hpp"

#include <string>

#include "attempt_store.hpp"
#include "decision_log.hpp"
#include "ledger_tallies.hpp"
#include "receipt_store.hpp"
#include "reservation.hpp"
#include "sha256.hpp"

namespace flow::storage::attempt_lifecycle {
namespace {

// A credential that left the process (submitted, or unknown) can be submitted by whoever holds
// it until it expires, whatever the merchant said: a refusal keeps its reservation until then.
// One that never left (signed -> failed) is released at once.
void hold_refused_credential(Attempt& a, AttemptState from, std::int64_t now_s) {
  const bool left = from == AttemptState::submitted || from == AttemptState::unknown;
  if (a.state != AttemptState::failed || !left || a.valid_before == 0) return;
  const std::int64_t until = a.valid_before + kExpiryMarginSeconds;
  if (until > now_s) a.held_until = until;
}

// Loads the attempt, refuses an edge the state machine does not have, lets `fill` set the
// fields the new state brings, writes it, and gives the money back if it stopped holding any.
template <class Fill>
Result<Attempt> move_to(LedgerContext& ctx, std::int64_t attempt_id, AttemptState to, Fill&& fill) {
  auto loaded = attempt_store::load(ctx, attempt_id);
  if (!loaded.ok()) return loaded.error();
  if (!loaded.value()) {
    return ledger_error(LedgerErrorCode::not_found, "attempt " + std::to_string(attempt_id));
  }
  Attempt a = std::move(*loaded.value());
  const AttemptState from = a.state;
  const bool held = attempt_holds_money(a);
  if (!is_transition_allowed(from, to)) {
    return ledger_error(LedgerErrorCode::illegal_transition,
                        "attempt " + std::to_string(attempt_id) + ": " +
                            std::string(attempt_state_name(from)) + " -> " +
                            std::string(attempt_state_name(to)));
  }
  a.state = to;
  a.times.updated_at_ms = ctx.now_ms;
  fill(a);
  hold_refused_credential(a, from, ctx.now_s());
  auto updated = attempt_store::update(ctx, a);
  if (!updated.ok()) return updated.error();
  if (held && !attempt_holds_money(a)) {
    auto released = reservation::release_counters(ctx, attempt_id);
    if (!released.ok()) return released.error();
  }
  return a;
}

}  // namespace

Result<Attempt> mark_signed(LedgerContext& ctx, std::int64_t attempt_id,
                            const SignedDetails& details) {
  if (!details.credential_sha256.empty() && !is_sha256_hex(details.credential_sha256)) {
    // Guards against the credential itself landing in the ledger.
    return ledger_error(LedgerErrorCode::invalid_argument,
                        "credential_sha256 must be a lower-case SHA-256 hex digest");
  }
  return move_to(ctx, attempt_id, AttemptState::signed_, [&](Attempt& a) {
    a.payer = details.payer;
    a.credential_ref = details.credential_ref;
    a.credential_sha256 = details.credential_sha256;
    a.valid_before = details.valid_before;
    a.times.signed_at_ms = ctx.now_ms;
  });
}

Result<Attempt> mark_submitted(LedgerContext& ctx, std::int64_t attempt_id) {
  return move_to(ctx, attempt_id, AttemptState::submitted,
                 [&](Attempt& a) { a.times.submitted_at_ms = ctx.now_ms; });
}

Result<Receipt> finalize(LedgerContext& ctx, std::int64_t attempt_id, const Outcome& outcome) {
  if (outcome.state != AttemptState::settled && outcome.state != AttemptState::failed &&
      outcome.state != AttemptState::unknown) {
    return ledger_error(LedgerErrorCode::invalid_argument,
                        "an outcome is settled, failed or unknown, not " +
                            std::string(attempt_state_name(outcome.state)));
  }
  if (outcome.failure_code.has_value() == (outcome.state == AttemptState::settled)) {
    return ledger_error(LedgerErrorCode::invalid_argument,
                        outcome.state == AttemptState::settled
                            ? "a settled outcome has no failure code"
                            : "a failed or unknown outcome needs a failure code");
  }
  auto moved = move_to(ctx, attempt_id, outcome.state, [&](Attempt& a) {
    // Reconciling an unknown attempt keeps what was known unless the outcome says more.
    if (!outcome.settlement_ref.empty()) a.settlement_ref = outcome.settlement_ref;
    if (!outcome.evidence.empty()) a.evidence = outcome.evidence;
    if (outcome.http_status != 0) a.http_status = outcome.http_status;
    a.failure_code = outcome.failure_code;
    a.failure_reason = outcome.failure_reason;
    a.times.finished_at_ms = ctx.now_ms;
  });
  if (!moved.ok()) return moved.error();
  if (outcome.state == AttemptState::settled) {
    auto counted = decision_log::count_paid(ctx, moved.value().intent.merchant_origin);
    if (!counted.ok()) return counted.error();
    auto tallied = ledger_tallies::add_settled(ctx, moved.value().intent);
    if (!tallied.ok()) return tallied.error();
  }
  return receipt_store::append(ctx, moved.value());
}

Result<Attempt> release(LedgerContext& ctx, std::int64_t attempt_id, payment::Reason code,
                        std::string_view reason) {
  return move_to(ctx, attempt_id, AttemptState::released, [&](Attempt& a) {
    a.failure_code = code;
    a.failure_reason = std::string(reason);
    a.times.finished_at_ms = ctx.now_ms;
  });
}

}  // namespace flow::storage::attempt_lifecycle
